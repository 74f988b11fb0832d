# Fixture handlers for clients_test.go (Python runtime client).
import logging
import os
import sys

COUNT = 0

print("app.py imported")  # import-time output goes to stdout as usual


def echo(event, context):
    return event


def context_fields(event, context):
    return {
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "memory_is_str": isinstance(context.memory_limit_in_mb, str),
        "aws_request_id": context.aws_request_id,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "cognito_identity_id": context.identity.cognito_identity_id,
        "cognito_identity_pool_id": context.identity.cognito_identity_pool_id,
        "client_context_custom": context.client_context.custom if context.client_context else None,
        "client_context_app_title": context.client_context.client.app_title if context.client_context else None,
        "trace_id": os.environ.get("_X_AMZN_TRACE_ID"),
        "sys_path_0": sys.path[0],
        "cwd": os.getcwd(),
    }


def fail(event, context):
    raise ValueError("boom: " + str(event))


def counter(event, context):
    global COUNT
    COUNT += 1
    return {"count": COUNT, "pid": os.getpid()}


def big(event, context):
    data = event["data"]
    return {"len": len(data), "data": data[::-1]}


def logs(event, context):
    print("plain print line")
    logging.getLogger().warning("hello %s", "logging")
    sys.stderr.write("to stderr\n")
    print("partial line without newline", end="")
    return "logged"


def unmarshalable(event, context):
    return {"a": {1, 2, 3}}


def raw_bytes(event, context):
    return b"\x00raw\xff"


def decimal_result(event, context):
    import decimal

    return {
        "int": decimal.Decimal("42"),
        "frac": decimal.Decimal("1.5"),
        "zeros": decimal.Decimal("1.50"),
        "long": decimal.Decimal("0.1000000000000000055511151231257827"),
        "exp": decimal.Decimal("1E+2"),
        "nan": decimal.Decimal("NaN"),
        "list": [decimal.Decimal("-0.000001"), "\x00not a decimal"],
    }


def float_event(event, context):
    return {"event": event, "type": type(event["x"]).__name__}


def none_event(event, context):
    return {"event_is_none": event is None}


def sized(event, context):
    return {"data": "x" * event["bytes"], "pid": os.getpid()}


def log_levels(event, context):
    # No setLevel here: what is printed depends on AWS_LAMBDA_LOG_LEVEL alone.
    root = logging.getLogger()
    root.debug("debug record")
    root.info("info record")
    root.warning("warning record")
    root.error("error record")
    return "logged"


def json_logs(event, context):
    print("plain print line")
    log = logging.getLogger()
    log.info("hello %s", "json")
    log.debug("debug record")
    logging.getLogger("child").warning("with extra", extra={"k": "v"})
    try:
        raise KeyError("missing")
    except KeyError:
        log.exception("caught")
    return "logged"


def partial_then_exit(event, context):
    # Output without a newline, then an exit that flushes nothing.
    sys.stdout.write("out-without-newline")
    sys.stderr.write("err-without-newline")
    print("print-without-newline", end="")
    os._exit(7)
