import json

import boto3


def handler(event, context):
    # The environment's credentials and AWS_ENDPOINT_URL_LAMBDA, found by
    # boto3 as on Lambda.
    r = boto3.client("lambda").invoke(FunctionName=event["target"], Payload=json.dumps(event.get("payload", {})))
    ident = boto3.client("sts").get_caller_identity()
    return {
        "status": r["StatusCode"],
        "payload": r["Payload"].read().decode(),
        "arn": ident["Arn"],
        "account": ident["Account"],
    }
