"""A plain Python Lambda handler, run by the official awslambdaric runtime
client inside the local backend (see ../python_clients.rs)."""

import json
import os

# Module state survives between invocations of a warm environment.
INVOCATIONS = 0


class FixtureFailure(Exception):
    """Raised when the event asks the handler to fail."""


def handler(event, context):
    global INVOCATIONS
    INVOCATIONS += 1
    if "fail" in event:
        raise FixtureFailure("the event asked the python handler to fail")
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(
            {
                "runtime": "awslambdaric",
                "path": event.get("rawPath"),
                "function": context.function_name,
                "version": context.function_version,
                "arn": context.invoked_function_arn,
                "memory": str(context.memory_limit_in_mb),
                "requestId": context.aws_request_id,
                "remaining_ms": context.get_remaining_time_in_millis() > 0,
                "greeting": os.environ.get("GREETING"),
                "pid": os.getpid(),
                "invocations": INVOCATIONS,
            }
        ),
    }
