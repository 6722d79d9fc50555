"""Plays the Lambda runtime for one built artifact, in a fresh interpreter.

    python3.13 -I -S lambda_driver.py <artifact dir> <module>.<function>

Run isolated (no site-packages, no PYTHON* variables) with only the artifact
directory on ``sys.path``, as ``/var/task`` in Lambda, it imports the handler once
(the cold start) and then answers requests: one JSON line in on stdin
(``{"event": ...}``), one JSON line out (``{"response": ..., "calls": [...]}`` or
``{"error": ...}``, with the top-level modules loaded so far). ``calls`` are the AWS API calls the handler made for that event,
summarized (tables, indexes, key and item attribute types, queues, functions), so the
tests can check them against template.yaml's IAM policies and key schemas.

Whatever the handler prints or logs goes to stderr; stdout carries only the protocol.
Standard library only: nothing from the project's virtual environment is importable here.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from typing import Any


def _types(attributes: dict[str, Any]) -> dict[str, str]:
    return {name: next(iter(value)) for name, value in attributes.items() if isinstance(value, dict) and value}


def summarize(operation: str, params: dict[str, Any]) -> dict[str, Any]:
    """What IAM and the key schemas care about in one call's parameters."""
    out: dict[str, Any] = {}
    for name in ("TableName", "IndexName", "QueueUrl", "FunctionName", "KeyConditionExpression", "Bucket"):
        if name in params:
            out[name] = params[name]
    if "Key" in params:
        out["Key"] = _types(params["Key"])
    if "Item" in params:
        out["Item"] = _types(params["Item"])
    if "TransactItems" in params:
        items = []
        for entry in params["TransactItems"]:
            ((op, body),) = entry.items()
            item = {"op": op, "TableName": body["TableName"]}
            if "Item" in body:
                item["Item"] = _types(body["Item"])
            if "Key" in body:
                item["Key"] = _types(body["Key"])
            items.append(item)
        out["TransactItems"] = items
    if "RequestItems" in params:  # BatchGetItem: {"Keys": [...]}; BatchWriteItem: [{"PutRequest": ...}]
        out["RequestItems"] = {
            table: [_types(key) for key in request.get("Keys", [])]
            if isinstance(request, dict)
            else [
                _types(next(iter(write.values())).get("Item") or next(iter(write.values())).get("Key") or {})
                for write in request
            ]
            for table, request in params["RequestItems"].items()
        }
    if "Entries" in params:
        out["Entries"] = len(params["Entries"])
    return out


class Context:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name = "sedo-artifact-test"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:sedo-artifact-test"
    log_group_name = "/aws/lambda/sedo-artifact-test"
    log_stream_name = "test"

    def __init__(self, request_id: str) -> None:
        self.aws_request_id = request_id
        self._deadline = time.monotonic() + 30

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def main() -> int:
    artifact, target = sys.argv[1], sys.argv[2]
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # prints and logs of the handler go to stderr
    sys.stdout = sys.stderr
    sys.path.insert(0, artifact)

    calls: list[dict[str, Any]] = []
    started = time.perf_counter()
    import botocore.client

    original = botocore.client.BaseClient._make_api_call

    def recording(self: Any, operation: str, params: dict[str, Any]) -> Any:
        calls.append(
            {
                "service": self.meta.service_model.service_name,
                "operation": operation,
                "params": summarize(operation, params),
            }
        )
        return original(self, operation, params)

    botocore.client.BaseClient._make_api_call = recording  # type: ignore[method-assign]

    module_name, _, function_name = target.rpartition(".")
    module = __import__(module_name, fromlist=[function_name])
    handler = getattr(module, function_name)
    import_ms = (time.perf_counter() - started) * 1000
    loaded = sorted(name for name in sys.modules if "." not in name)
    protocol.write(json.dumps({"ready": True, "import_ms": import_ms, "modules": loaded}) + "\n")

    for number, line in enumerate(sys.stdin):
        request = json.loads(line)
        calls.clear()
        try:
            response = handler(request["event"], Context(f"request-{number}"))
            answer = {"response": response, "calls": list(calls)}
        except Exception:
            answer = {"error": traceback.format_exc(), "calls": list(calls)}
        answer["modules"] = sorted(name for name in sys.modules if "." not in name)
        protocol.write(json.dumps(answer, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
