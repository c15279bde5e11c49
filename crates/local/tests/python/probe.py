"""A Python Lambda handler (run by awslambdaric) that probes Runtime APIs
from inside its sandbox, for ../it/endpoint_guard.rs.

Events:
  {"op": "address"}  -> {"address": its own AWS_LAMBDA_RUNTIME_API, "pid": …}
  {"op": "call", "target": "host:port", "path": "/…", "headers": {…}}
      -> {"status": HTTP status, "body": the answer (JSON when it is JSON)}
         or {"error": "…"} when the request got no answer in time
"""

import json
import os
import urllib.error
import urllib.request


def handler(event, context):
    if event.get("op") == "address":
        return {"address": os.environ["AWS_LAMBDA_RUNTIME_API"], "pid": os.getpid()}
    target = event.get("target") or os.environ["AWS_LAMBDA_RUNTIME_API"]
    request = urllib.request.Request(
        "http://%s%s" % (target, event["path"]),
        headers=event.get("headers", {}),
        method=event.get("method", "GET"),
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    except Exception as e:  # noqa: BLE001 - reported to the test
        return {"error": repr(e)}
    try:
        body = json.loads(raw)
    except ValueError:
        body = raw.decode("utf-8", "replace")
    return {"status": status, "body": body}
