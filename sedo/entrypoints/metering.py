"""What each AWS request of a wake-up (or of an API start) costs, for the tenant's usage ledger.

A botocore hook on every client sedo makes (:func:`install`, through
``sedo.adapters.aws.add_client_hook``) adds each request to the usage of the wake-up the
thread is processing (``sedo.service_layer.observe.count_usage``; nothing outside one):

- ``requests.<service>.<Operation>``: one per call (botocore's retries are one call);
- ``dynamodbWriteUnits`` / ``dynamodbReadUnits``: DynamoDB's capacity units from the sizes of
  the items written and read, by DynamoDB's rules (sedo/adapters/dynamodb/units.py): a
  write 1 unit per started KB, a read 1 per started 4 KB (half when eventually consistent),
  transactions twice; an update is billed on the item it returns, else on its key and values;
  a put's keys-only index entries (:data:`INDEX_ATTRIBUTES`) add theirs;
- ``sqsRequests``: SQS's billed requests, one per started 64 KB of a call's payload;
- ``s3Puts`` / ``s3Gets``;
- ``eventbridgeEvents``: EventBridge's billed events, one per started 64 KB of each PutEvents
  entry (the status-change events).

Lambda's own share (invocations, duration) and the event source's receive and delete are
added per batch by the usage meter (sedo/service_layer/usage.py). The estimate is within a few
per cent of what ``make bench`` computes for the same workload (it knows the size of the
item a write replaces; this hook does not, and a head's size changes little per transition).
"""

from __future__ import annotations

import json
import math
import threading
from typing import Any

from sedo.adapters.dynamodb.units import item_size, read_units, write_units
from sedo.service_layer.observe import count_usage

SQS_CHUNK = 64 * 1024
#: The attributes that put an item in a keys-only global secondary index of sedo's tables
#: (template.yaml: byDefinition on dpk, byDue on dueShard/dueAt), and whether a rewrite moves
#: the entry: the due time changes with most commits (a delete and a put, 2 units), an item's
#: definition never does (its entry is written when the item is created).
INDEX_ATTRIBUTES = (("dpk", False), ("dueAt", True))
_PARAMS = "sedo_metering_params"
_installed: list[Any] = []
_lock = threading.Lock()


def install() -> None:
    """Meter every client made from now on in this process (idempotent)."""
    from sedo.adapters.aws import add_client_hook

    with _lock:
        if not _installed:
            _installed.append(add_client_hook(_attach))


#: The services metered, by the name botocore's events give them (its service id, hyphenized).
_METERED = {"dynamodb": "dynamodb", "sqs": "sqs", "s3": "s3", "events": "eventbridge"}


def _attach(service: str, client: Any) -> None:
    name = _METERED.get(service)
    if name is None:
        return
    events = client.meta.events
    events.register(f"provide-client-params.{name}", _keep_params)
    events.register(f"after-call.{name}", _after_call)


def _keep_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    context[_PARAMS] = params


def _after_call(model: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    service = model.service_model.service_name
    operation = model.name
    params = context.get(_PARAMS) or {}
    amounts: dict[str, float] = {f"requests.{service}.{operation}": 1.0}
    if service == "dynamodb":
        amounts.update(dynamodb_units(operation, params, parsed or {}))
    elif service == "sqs":
        amounts["sqsRequests"] = float(sqs_requests(operation, params, parsed or {}))
    elif service == "s3" and operation in ("PutObject", "GetObject"):
        amounts["s3Puts" if operation == "PutObject" else "s3Gets"] = 1.0
    elif service == "events" and operation == "PutEvents":
        amounts["eventbridgeEvents"] = float(events_billed(params))
    count_usage(amounts)


def dynamodb_units(operation: str, params: dict[str, Any], parsed: dict[str, Any]) -> dict[str, float]:
    consistent = bool(params.get("ConsistentRead"))
    if operation == "PutItem":
        item = params.get("Item") or {}
        return {"dynamodbWriteUnits": write_units(item_size(item)) + index_units(item, params)}
    if operation == "UpdateItem":
        written = parsed.get("Attributes") or {**params.get("Key", {}), **params.get("ExpressionAttributeValues", {})}
        return {"dynamodbWriteUnits": write_units(item_size(written))}
    if operation == "DeleteItem":
        return {"dynamodbWriteUnits": write_units(item_size(parsed.get("Attributes") or params.get("Key")))}
    if operation == "BatchWriteItem":
        total = 0.0
        for requests in (params.get("RequestItems") or {}).values():
            for request in requests:
                item = (request.get("PutRequest") or {}).get("Item") or (request.get("DeleteRequest") or {}).get("Key")
                total += write_units(item_size(item))
        return {"dynamodbWriteUnits": total}
    if operation == "TransactWriteItems":
        total = 0.0
        for entry in params.get("TransactItems", []):
            ((_, action),) = entry.items()
            total += write_units(item_size(action.get("Item") or action.get("Key")), transactional=True)
        return {"dynamodbWriteUnits": total}
    if operation == "GetItem":
        return {"dynamodbReadUnits": read_units(item_size(parsed.get("Item")), consistent)}
    if operation == "BatchGetItem":
        total = 0.0
        for table, items in (parsed.get("Responses") or {}).items():
            strong = bool((params.get("RequestItems") or {}).get(table, {}).get("ConsistentRead"))
            total += sum(read_units(item_size(item), strong) for item in items)
        return {"dynamodbReadUnits": total}
    if operation in ("Query", "Scan"):
        size = sum(item_size(item) for item in parsed.get("Items", []))
        return {"dynamodbReadUnits": read_units(size, consistent)}
    return {}


def index_units(item: dict[str, Any], params: dict[str, Any]) -> float:
    """Write units of the keys-only index entries a PutItem writes (one per started KB each,
    which a keys-only entry never passes)."""
    creates = "attribute_not_exists" in str(params.get("ConditionExpression", ""))
    units = 0.0
    for attribute, moves in INDEX_ATTRIBUTES:
        if attribute in item:
            units += 1.0 if creates else (2.0 if moves else 0.0)
    return units


def sqs_requests(operation: str, params: dict[str, Any], parsed: dict[str, Any]) -> int:
    if operation == "SendMessageBatch":
        size = sum(len(str(entry.get("MessageBody", "")).encode()) for entry in params.get("Entries", []))
    elif operation == "SendMessage":
        size = len(str(params.get("MessageBody", "")).encode())
    elif operation == "ReceiveMessage":
        size = sum(len(str(m.get("Body", "")).encode()) for m in parsed.get("Messages", []))
    else:
        size = 0
    return max(1, math.ceil(size / SQS_CHUNK))


def events_billed(params: dict[str, Any]) -> int:
    """EventBridge's billed events of a PutEvents call: each entry per started 64 KB."""
    return sum(
        max(1, math.ceil(len(json.dumps(entry, separators=(",", ":"), default=str).encode()) / SQS_CHUNK))
        for entry in params.get("Entries") or []
    )


__all__ = ["dynamodb_units", "events_billed", "install", "sqs_requests"]
