import os
import time

print("python init", os.getpid(), flush=True)
if os.environ.get("FAIL_INIT"):
    raise RuntimeError("failing init on purpose")

counter = 0


def handler(event, context):
    global counter
    counter += 1
    op = event.get("op", "echo") if isinstance(event, dict) else "echo"
    print("handling", op, "count", counter)
    r = {
        "op": op,
        "pid": os.getpid(),
        "env_id": context.log_stream_name,
        "counter": counter,
        "request_id": context.aws_request_id,
        "function_arn": context.invoked_function_arn,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "memory": context.memory_limit_in_mb,
    }
    if context.client_context is not None:
        r["client_context"] = context.client_context.custom
    if op == "sleep":
        time.sleep(event["ms"] / 1000)
    elif op == "error":
        raise ValueError("boom: " + event.get("text", ""))
    elif op == "exit":
        os._exit(event.get("n", 1))
    elif op == "env":
        r["env"] = dict(os.environ)
    elif op == "big":
        r["data"] = "a" * event["bytes"]
    elif op == "echo":
        r["event"] = event
    elif op == "log":
        import logging

        logging.getLogger().info("info via logging")
        logging.getLogger().warning("warning via logging")
    elif op == "hang":
        while True:
            time.sleep(1)
    elif op == "alloc":
        blocks = []
        for _ in range(event["mb"]):
            blocks.append(bytearray(1 << 20))
        r["allocated"] = len(blocks)
    return r
