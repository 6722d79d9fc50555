"""DynamoDB's per-partition throughput on the local stack (moto enforces none).

:class:`PartitionLimiter` attaches botocore event handlers to a DynamoDB client. For every
data-plane request it works out which partition keys the request reads or writes and how
many capacity units (sedo/entrypoints/local/capacity.py), and keeps a token bucket per
(table or index, partition key value, read|write). A request the buckets cannot serve is
answered, without reaching the emulator, the way DynamoDB answers an on-demand table's
hot key: HTTP 400 ``ThrottlingException`` ("Throughput exceeds the current capacity of your
table or index...", ``throttlingReasons`` ``TableWriteKeyRangeThroughputExceeded`` etc.).
The answer is made in botocore's ``before-send`` step, so botocore parses it and its own
retry handler retries it, with back-off, exactly as it would on AWS; only when the retries
are spent does the caller see a ``ClientError``. As on DynamoDB:

- BatchWriteItem / BatchGetItem take what the partitions allow and return the rest in
  ``UnprocessedItems`` / ``UnprocessedKeys``; only a batch of which nothing fits fails.
- TransactWriteItems / TransactGetItems fail whole with ``TransactionCanceledException``
  whose ``CancellationReasons`` name ``ThrottlingError`` for the throttled items (botocore
  does not retry it).

Writes are charged before they are sent, by the size of the request's item (PutItem:
the new item; DeleteItem: its key, 1 WCU; UpdateItem: key and values, after which the
emulator is asked for the updated item (``ReturnValues=ALL_NEW``, hidden from a caller
that did not ask) and what it costs beyond the estimate is charged as a debt: an update
that grows an item pays for the item, as on DynamoDB). DynamoDB charges the larger of the
old and new item; the old one is not known here. Reads are checked
for their minimum before they are sent and charged by the size of what they returned.
Scans are charged to the partitions of the items they return but never refused. Writes to
a global secondary index are not modelled (sedo's index keys are written once per item).

The buckets live in this process: the API and the processor of `make run` share them; the
tests' processes (and any second process on the same emulator) each have their own.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import uuid
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse, HTTPHeaders

from sedo.entrypoints.local.capacity import Demand, PartitionBuckets, item_size, read_units, value_size, write_units

log = logging.getLogger("sedo.local.throughput")

#: DynamoDB's answer to a hot key on an on-demand table.
THROTTLED_MESSAGE = (
    "Throughput exceeds the current capacity of your table or index. DynamoDB is automatically scaling your "
    "table or index so please try again shortly. If exceptions persist, check if you have a hot key: "
    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html"
)
ACCOUNT = "123456789012"  # moto's account
_TARGET = re.compile(r"DynamoDB_\d+\.(\w+)")
_EQUALITY = re.compile(r"([#\w.]+)\s*=\s*(:\w+)")
_SINGLE_WRITES = {"PutItem": "Item", "UpdateItem": "Key", "DeleteItem": "Key"}
_TRUE_UP = {"UpdateItem": "ALL_NEW"}


@dataclass(frozen=True)
class TableKeys:
    hash_key: str
    #: Global secondary index name -> its hash key (local indexes share the table's partitions).
    indexes: dict[str, str] = field(default_factory=dict)


@dataclass
class _Plan:
    operation: str
    #: Units taken (all or none) before each attempt is sent.
    upfront: list[Demand] = field(default_factory=list)
    #: The tables, for the throttling reasons: bucket key -> (table, index).
    where: dict[Hashable, tuple[str, str | None]] = field(default_factory=dict)
    admitted: bool = False
    transaction: bool = False
    #: Per transaction item, its demands (to name the throttled items in CancellationReasons).
    items: list[list[Demand]] = field(default_factory=list)
    #: Batch requests the partitions refused, returned as unprocessed.
    unprocessed: dict[str, Any] = field(default_factory=dict)
    #: Read: how to charge the answer. UpdateItem: the estimate already charged, and
    #: whether the caller did not ask for the attributes asked for here (then hidden).
    read_consistent: bool = False
    read_key: Hashable | None = None
    estimated: float = 0.0
    hide_attributes: bool = False
    table: str = ""


class PartitionLimiter:
    def __init__(self, buckets: PartitionBuckets | None = None) -> None:
        self.buckets = buckets or PartitionBuckets()
        self._schemas: dict[tuple[str, str], TableKeys] = {}
        self._by_table: dict[str, TableKeys] = {}
        self._local = threading.local()
        #: Requests refused, per operation (diagnostics and tests).
        self.throttled: dict[str, int] = {}
        self._count_lock = threading.Lock()

    def attach(self, client: Any) -> Any:
        events = client.meta.events
        events.register("before-parameter-build.dynamodb", self._plan_handler(client))
        events.register("before-send.dynamodb", self._before_send)
        events.register("after-call.dynamodb", self._after_call)
        return client

    # -- key schemas -------------------------------------------------------------------

    def keys(self, client: Any, table: str) -> TableKeys:
        cache_key = (str(client.meta.endpoint_url), table)
        keys = self._schemas.get(cache_key)
        if keys is None:
            described = client.describe_table(TableName=table)["Table"]
            keys = TableKeys(
                hash_key=_hash_of(described["KeySchema"]),
                indexes={i["IndexName"]: _hash_of(i["KeySchema"]) for i in described.get("GlobalSecondaryIndexes", [])},
            )
            self._schemas[cache_key] = self._by_table[table] = keys
        return keys

    # -- planning (before the request is serialized) -------------------------------------

    def _plan_handler(self, client: Any) -> Any:
        region = str(client.meta.region_name)

        def handler(params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
            self._local.plan = None
            plan = self._make_plan(client, model.name, params)
            if plan is not None:
                context["sedo_region"] = region
                context["sedo_plan"] = plan
            self._local.plan = plan
            self._local.region = region

        return handler

    def _make_plan(self, client: Any, operation: str, params: dict[str, Any]) -> _Plan | None:
        plan = _Plan(operation)
        if operation in _SINGLE_WRITES:
            table = params["TableName"]
            keys = self.keys(client, table)
            source = params.get(_SINGLE_WRITES[operation]) or {}
            size = item_size(source) + sum(
                value_size(v) for v in (params.get("ExpressionAttributeValues") or {}).values()
            )
            key = self._where(plan, table, None, source.get(keys.hash_key))
            plan.estimated = write_units(size)
            plan.upfront.append((key, "write", plan.estimated))
            plan.table, plan.read_key = table, key
            if operation in _TRUE_UP and params.get("ReturnValues", "NONE") == "NONE":
                params["ReturnValues"] = _TRUE_UP[operation]
                plan.hide_attributes = True
            return plan
        if operation == "GetItem":
            table = params["TableName"]
            keys = self.keys(client, table)
            plan.read_consistent = bool(params.get("ConsistentRead"))
            plan.read_key = self._where(plan, table, None, (params.get("Key") or {}).get(keys.hash_key))
            plan.upfront.append((plan.read_key, "read", read_units(0, plan.read_consistent)))
            return plan
        if operation == "Query":
            table, index = params["TableName"], params.get("IndexName")
            keys = self.keys(client, table)
            hash_key = keys.indexes.get(index, keys.hash_key) if index else keys.hash_key
            value = _query_partition(params, hash_key)
            plan.read_consistent = bool(params.get("ConsistentRead"))
            plan.read_key = self._where(plan, table, index if index in keys.indexes else None, value)
            plan.upfront.append((plan.read_key, "read", read_units(0, plan.read_consistent)))
            return plan
        if operation == "Scan":
            plan.table = params["TableName"]
            self.keys(client, plan.table)
            plan.read_consistent = bool(params.get("ConsistentRead"))
            plan.admitted = True
            return plan
        if operation == "BatchWriteItem":
            return self._plan_batch_write(client, plan, params)
        if operation == "BatchGetItem":
            return self._plan_batch_get(client, plan, params)
        if operation in ("TransactWriteItems", "TransactGetItems"):
            return self._plan_transaction(client, plan, params)
        return None

    def _where(self, plan: _Plan, table: str, index: str | None, value: Any) -> Hashable:
        key = (table, index, _freeze(value))
        plan.where[key] = (table, index)
        return key

    def _plan_batch_write(self, client: Any, plan: _Plan, params: dict[str, Any]) -> _Plan:
        requests: dict[str, list[dict[str, Any]]] = params.get("RequestItems") or {}
        demands: list[tuple[str, dict[str, Any], Demand]] = []
        for table, entries in requests.items():
            keys = self.keys(client, table)
            for entry in entries:
                if "PutRequest" in entry:
                    item = entry["PutRequest"].get("Item") or {}
                else:
                    item = entry.get("DeleteRequest", {}).get("Key") or {}
                key = self._where(plan, table, None, item.get(keys.hash_key))
                demands.append((table, entry, (key, "write", write_units(item_size(item)))))
        self._admit_batch(plan, params, demands, lambda kept: {t: es for t, es in kept.items()})
        return plan

    def _plan_batch_get(self, client: Any, plan: _Plan, params: dict[str, Any]) -> _Plan:
        requests: dict[str, dict[str, Any]] = params.get("RequestItems") or {}
        demands: list[tuple[str, dict[str, Any], Demand]] = []
        for table, request in requests.items():
            keys = self.keys(client, table)
            consistent = bool(request.get("ConsistentRead"))
            for key_item in request.get("Keys", []):
                key = self._where(plan, table, None, key_item.get(keys.hash_key))
                demands.append((table, key_item, (key, "read", read_units(0, consistent))))

        def rebuild(kept: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
            return {t: {**requests[t], "Keys": ks} for t, ks in kept.items()}

        self._admit_batch(plan, params, demands, rebuild)
        plan.read_consistent = any(bool(r.get("ConsistentRead")) for r in requests.values())
        return plan

    def _admit_batch(
        self, plan: _Plan, params: dict[str, Any], demands: list[tuple[str, dict[str, Any], Demand]], rebuild: Any
    ) -> None:
        """Take each item's units on its own; send the items that fit, return the rest unprocessed."""
        kept: dict[str, list[dict[str, Any]]] = {}
        refused: dict[str, list[dict[str, Any]]] = {}
        refused_demands: list[Demand] = []
        for table, entry, demand in demands:
            if self.buckets.take([demand]):
                refused.setdefault(table, []).append(entry)
                refused_demands.append(demand)
            else:
                kept.setdefault(table, []).append(entry)
        if not kept and demands:  # nothing fits: the whole request is throttled (and retried)
            plan.upfront = [demand for _, _, demand in demands]
            return
        plan.admitted = True
        if refused:
            params["RequestItems"] = rebuild(kept)
            plan.unprocessed = rebuild(refused)
            self._count(plan.operation, refused_demands)

    def _plan_transaction(self, client: Any, plan: _Plan, params: dict[str, Any]) -> _Plan:
        plan.transaction = True
        for entry in params.get("TransactItems") or []:
            ((kind, action),) = entry.items()
            keys = self.keys(client, action["TableName"])
            source = action.get("Item") or action.get("Key") or {}
            key = self._where(plan, action["TableName"], None, source.get(keys.hash_key))
            if plan.operation == "TransactGetItems":
                demand: Demand = (key, "read", read_units(item_size(source), transactional=True))
            elif kind == "ConditionCheck":
                demand = (key, "read", read_units(item_size(source), transactional=True))
            else:
                size = item_size(source) + sum(
                    value_size(v) for v in (action.get("ExpressionAttributeValues") or {}).values()
                )
                demand = (key, "write", write_units(size, transactional=True))
            plan.items.append([demand])
            plan.upfront.append(demand)
        return plan

    # -- admission (each attempt) --------------------------------------------------------

    def _before_send(self, request: Any, **_: Any) -> AWSResponse | None:
        plan: _Plan | None = getattr(self._local, "plan", None)
        if plan is None or plan.admitted or _operation(request) != plan.operation:
            return None
        refused = self.buckets.take(plan.upfront)
        if not refused:
            plan.admitted = True
            return None
        self._count(plan.operation, refused)
        region = getattr(self._local, "region", "us-east-1")
        if plan.transaction:
            refused_keys = {key for key, _, _ in refused}
            reasons = [
                {"Code": "ThrottlingError", "Message": THROTTLED_MESSAGE}
                if any(key in refused_keys for key, _, _ in demands)
                else {"Code": "None"}
                for demands in plan.items
            ]
            codes = ", ".join(r["Code"] for r in reasons)
            return _error(
                request,
                "TransactionCanceledException",
                f"Transaction cancelled, please refer cancellation reasons for specific reasons [{codes}]",
                {"CancellationReasons": reasons},
            )
        throttling = []
        for key, kind, _units in refused:
            table, index = plan.where.get(key, ("", None))
            resource = f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/{table}" + (f"/index/{index}" if index else "")
            reason = f"{'Index' if index else 'Table'}{kind.title()}KeyRangeThroughputExceeded"
            throttling.append({"reason": reason, "resource": resource})
        return _error(request, "ThrottlingException", THROTTLED_MESSAGE, {"throttlingReasons": throttling})

    # -- settling (what the answer shows) ------------------------------------------------

    def _after_call(
        self, http_response: Any, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        plan: _Plan | None = context.get("sedo_plan")
        self._local.plan = None
        if plan is None or not plan.admitted or "Error" in parsed:
            return
        operation = plan.operation
        if operation in _SINGLE_WRITES and plan.read_key is not None:
            attributes = parsed.get("Attributes") if plan.hide_attributes else None
            if attributes is not None:
                actual = write_units(item_size(attributes))
                if actual > plan.estimated:
                    self.buckets.charge([(plan.read_key, "write", actual - plan.estimated)])
            if plan.hide_attributes:
                parsed.pop("Attributes", None)
        elif operation == "GetItem" and plan.read_key is not None:
            extra = read_units(item_size(parsed.get("Item")), plan.read_consistent) - read_units(
                0, plan.read_consistent
            )
            self.buckets.charge([(plan.read_key, "read", extra)])
        elif operation == "Query" and plan.read_key is not None:
            size = sum(item_size(i) for i in parsed.get("Items", []))
            extra = read_units(size, plan.read_consistent) - read_units(0, plan.read_consistent)
            self.buckets.charge([(plan.read_key, "read", extra)])
        elif operation == "Scan":
            self._charge_items(plan, plan.table, parsed.get("Items", []), plan.read_consistent, minimum=0)
        elif operation == "BatchGetItem":
            for table, items in (parsed.get("Responses") or {}).items():
                self._charge_items(plan, table, items, plan.read_consistent, minimum=1)
            self._merge(parsed, "UnprocessedKeys", plan.unprocessed, batch_get=True)
        elif operation == "BatchWriteItem":
            self._merge(parsed, "UnprocessedItems", plan.unprocessed, batch_get=False)

    def _charge_items(
        self, plan: _Plan, table: str, items: list[dict[str, Any]], consistent: bool, minimum: int
    ) -> None:
        """Charge returned items to their partitions (``minimum``: units already taken per item)."""
        hash_key = self._hash_for(table)
        sizes: dict[Hashable, int] = {}
        counts: dict[Hashable, int] = {}
        for item in items:
            key = (table, None, _freeze(item.get(hash_key) if hash_key else None))
            sizes[key] = sizes.get(key, 0) + item_size(item)
            counts[key] = counts.get(key, 0) + 1
        self.buckets.charge(
            [
                (key, "read", read_units(size, consistent) - minimum * counts[key] * read_units(0, consistent))
                for key, size in sizes.items()
            ]
        )

    def _hash_for(self, table: str) -> str | None:
        keys = self._by_table.get(table)
        return keys.hash_key if keys else None

    @staticmethod
    def _merge(parsed: dict[str, Any], field_name: str, unprocessed: dict[str, Any], batch_get: bool) -> None:
        if not unprocessed:
            return
        merged = dict(parsed.get(field_name) or {})
        for table, entries in unprocessed.items():
            if batch_get:
                existing = merged.get(table)
                merged[table] = {**entries, "Keys": [*(existing or {}).get("Keys", []), *entries["Keys"]]}
            else:
                merged[table] = [*merged.get(table, []), *entries]
        parsed[field_name] = merged

    def _count(self, operation: str, refused: list[Demand]) -> None:
        with self._count_lock:
            self.throttled[operation] = self.throttled.get(operation, 0) + 1
        for key, kind, units in refused:
            tokens = self.buckets.tokens(key, kind)
            log.info("throttled %s: %s units of %s on %s (%.1f available)", operation, units, kind, key, tokens)


def _hash_of(schema: list[dict[str, str]]) -> str:
    return next(k["AttributeName"] for k in schema if k["KeyType"] == "HASH")


def _freeze(value: Any) -> Hashable:
    if not isinstance(value, dict) or not value:
        return None
    ((kind, inner),) = value.items()
    return (kind, inner.hex() if isinstance(inner, bytes | bytearray) else str(inner))


def _query_partition(params: dict[str, Any], hash_key: str) -> Any:
    """The partition key value a Query names (``pk = :v`` in its key condition)."""
    names = params.get("ExpressionAttributeNames") or {}
    values = params.get("ExpressionAttributeValues") or {}
    for name, placeholder in _EQUALITY.findall(params.get("KeyConditionExpression") or ""):
        if names.get(name, name) == hash_key:
            return values.get(placeholder)
    legacy = (params.get("KeyConditions") or {}).get(hash_key) or {}
    listed = legacy.get("AttributeValueList") or [None]
    return listed[0]


def _operation(request: Any) -> str:
    target = request.headers.get("X-Amz-Target", b"")
    match = _TARGET.search(target.decode() if isinstance(target, bytes) else str(target))
    return match.group(1) if match else ""


class _Body:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Any:
        yield self.body


def _error(request: Any, code: str, message: str, extra: dict[str, Any]) -> AWSResponse:
    body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message, **extra}).encode()
    headers = HTTPHeaders()
    headers["Content-Type"] = "application/x-amz-json-1.0"
    headers["Content-Length"] = str(len(body))
    headers["x-amzn-RequestId"] = uuid.uuid4().hex.upper()
    return AWSResponse(request.url, 400, headers, _Body(body))
