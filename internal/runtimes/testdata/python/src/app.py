def handler(event, context):
    return {"from": "src/app", "event": event}
