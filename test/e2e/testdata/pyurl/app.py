import json


def handler(event, context):
    path = event["rawPath"]
    if path == "/string":
        return "Hello, world!"
    if path == "/json":
        return {"message": "Hello, world!"}
    if path == "/number":
        return 42
    if path == "/malformed":
        return {"statusCode": "teapot"}
    if path == "/structured":
        return {
            "statusCode": 202,
            "headers": {"Content-Type": "text/html", "X-Count": 3},
            "cookies": ["c=3; HttpOnly"],
            "body": "<p>hi</p>",
        }
    if path == "/error":
        raise ValueError("boom")
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": json.dumps(event)}
