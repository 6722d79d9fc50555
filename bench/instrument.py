"""Count every AWS request the adapters make, with botocore event hooks on their own clients.

``Recorder.instrument(client, component)`` registers handlers on one boto3 client
(the ones sedo.adapters.aws.client builds for the processor, the API and the event
source mapping). Nothing in sedo changes; the hooks see each call as it happens:

``provide-client-params``      keep the call's parameters for the accounting below
``before-parameter-build``     add ``ReturnConsumedCapacity=TOTAL`` to DynamoDB calls
``before-call``/``after-call`` time the call; count it by phase, component, service and
                               operation; account capacity units and SQS billed requests

DynamoDB capacity units are computed from item sizes by DynamoDB's published rules,
because moto reports a constant (1.0 for any write, 0.5 for any read, whatever the
size) and nothing for transactions; the emulator's figure is kept next to ours as
``reported``. The rules (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/
read-write-operations.html, .../CapacityUnitCalculations.html, .../GSI.html):

- item size: the UTF-8 length of every attribute name plus its value (strings: UTF-8
  bytes; numbers: ~1 byte per two significant digits + 1; binary: bytes; booleans and
  nulls: 1; lists and maps: 3 + their elements + 1 per element).
- writes (PutItem, UpdateItem, DeleteItem, BatchWriteItem): 1 write unit per started
  KB of the larger of the item before and after; a failed conditional write is billed
  the same. The item before is known because the recorder keeps the size of every item
  it saw written or read (all clients that touch the tables are instrumented).
- global secondary indexes: an index is written when an item gains, loses or changes
  its index keys, or (projection ALL/INCLUDE) changes at all: 1 write unit per started
  KB of the index entry (its key and projected attributes), 2 when keys change
  (delete + put). sedo's byDefinition index is KEYS_ONLY, so only creates write it.
- reads: GetItem 1 read unit per started 4 KB, strongly consistent; eventually
  consistent reads half. Query/Scan: the total size of the items read, rounded up to
  4 KB once per call (items dropped by a FilterExpression still count: estimated at the
  returned items' average size). BatchGetItem: each item rounded up on its own.
- transactions (TransactWriteItems/TransactGetItems): twice the units of each item.

Every unit is also attributed to the key it lands on (for bench/model.py, the cloud model):
the partition key value and the item (partition and sort key values) of the table, or of the
global secondary index an index write or an index query touches (items: of the table only).
Writes and GetItem by
their ``Key``/``Item``; Query by the partition key's value in its ``KeyConditionExpression``
(a query's units spread over the items it returned, by size); BatchWriteItem,
BatchGetItem and transactions per item. The totals by key add up to the totals.

SQS bills every API action as one request per started 64 KB of payload: SendMessage(Batch)
by the bodies sent, ReceiveMessage by the bodies received; a ReceiveMessage that returns
nothing is an *idle poll* (counted apart: on AWS that is the event source's fixed cost
while a queue is empty, not a cost of any execution). EventBridge bills every PutEvents entry
per started 64 KB of it (the status-change events sedo puts).
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from sedo.entrypoints.local.capacity import item_size

KB = 1024
READ_UNIT_BYTES = 4 * KB
SQS_CHUNK_BYTES = 64 * KB
WRITE_OPS = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}


# -- item sizes ---------------------------------------------------------------------------


def units(size: int, unit: int) -> int:
    return max(1, math.ceil(size / unit))


def scalar(value: dict[str, Any] | None) -> str:
    """A key attribute's value as text (``{"S": "t1"}`` -> ``t1``); "" when absent."""
    if not value:
        return ""
    (_, inner), *_ = value.items()
    return str(inner)


#: ``name = :placeholder`` (or ``#name = :placeholder``) in a key condition expression.
_EQUALITY = re.compile(r"(#?[A-Za-z_][\w.-]*)\s*=\s*(:[\w]+)")


# -- table metadata -----------------------------------------------------------------------


@dataclass(frozen=True)
class Index:
    name: str
    keys: tuple[str, ...]
    projection: str  # KEYS_ONLY | INCLUDE | ALL
    include: tuple[str, ...] = ()


@dataclass(frozen=True)
class Table:
    name: str
    keys: tuple[str, ...]
    indexes: tuple[Index, ...] = ()

    @classmethod
    def describe(cls, client: Any, name: str) -> Table:
        table = client.describe_table(TableName=name)["Table"]
        keys = tuple(k["AttributeName"] for k in table["KeySchema"])
        indexes = tuple(
            Index(
                name=i["IndexName"],
                keys=tuple(k["AttributeName"] for k in i["KeySchema"]),
                projection=i["Projection"]["ProjectionType"],
                include=tuple(i["Projection"].get("NonKeyAttributes", [])),
            )
            for i in table.get("GlobalSecondaryIndexes", [])
        )
        return cls(name, keys, indexes)


@dataclass
class Shadow:
    """What the recorder knows of a stored item: its size and its attributes."""

    size: int
    item: dict[str, Any]


# -- tallies --------------------------------------------------------------------------------


@dataclass
class Load:
    """Capacity units one key received."""

    wcu: float = 0.0
    rcu: float = 0.0

    def add(self, other: Load) -> None:
        self.wcu += other.wcu
        self.rcu += other.rcu


#: (table, index or "" for the table itself, partition key value)
PartitionRef = tuple[str, str, str]
#: (table, index or "", partition key value, sort key value or "")
ItemRef = tuple[str, str, str, str]
#: The partition key "value" of a Scan: it reads the whole table.
WHOLE_TABLE = "*"


@dataclass
class Tally:
    calls: Counter[tuple[str, str]] = field(default_factory=Counter)  # (service, operation)
    errors: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (service, operation, code)
    retries: int = 0
    seconds: float = 0.0
    wcu: float = 0.0
    rcu: float = 0.0
    gsi_wcu: float = 0.0
    reported_wcu: float = 0.0
    reported_rcu: float = 0.0
    sqs_billed: int = 0
    sqs_idle_polls: int = 0
    sqs_sent: int = 0
    sqs_received: int = 0
    sqs_payload_bytes: int = 0
    #: EventBridge bills each PutEvents entry per started 64 KB.
    events_billed: int = 0
    put_sizes: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    message_sizes: list[int] = field(default_factory=list)
    partitions: dict[PartitionRef, Load] = field(default_factory=lambda: defaultdict(Load))
    items: dict[ItemRef, Load] = field(default_factory=lambda: defaultdict(Load))

    def add(self, other: Tally) -> None:
        self.calls.update(other.calls)
        self.errors.update(other.errors)
        for name in (
            "retries",
            "seconds",
            "wcu",
            "rcu",
            "gsi_wcu",
            "reported_wcu",
            "reported_rcu",
            "sqs_billed",
            "sqs_idle_polls",
            "sqs_sent",
            "sqs_received",
            "sqs_payload_bytes",
            "events_billed",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for table, sizes in other.put_sizes.items():
            self.put_sizes[table].extend(sizes)
        self.message_sizes.extend(other.message_sizes)
        for ref, load in other.partitions.items():
            self.partitions[ref].add(load)
        for item_ref, load in other.items.items():
            self.items[item_ref].add(load)

    def requests(self, service: str | None = None) -> int:
        return sum(n for (s, _), n in self.calls.items() if service is None or s == service)

    def ops_per(self, count: float) -> dict[str, dict[str, float]]:
        """Calls per ``count`` (wake-up, hop, execution, sweep) by service and operation; idle polls apart."""
        out: dict[str, dict[str, float]] = {}
        for (service, op), n in sorted(self.calls.items()):
            if service == "sqs" and op == "ReceiveMessage":
                n -= self.sqs_idle_polls
            if n:
                out.setdefault(service, {})[op] = round(n / max(1, count), 4)
        return out


class _Local(threading.local):
    aws_seconds: float = 0.0
    aws_calls: int = 0
    hook_cpu: float = 0.0  # this thread's CPU time in the recorder's own accounting


class Recorder:
    def __init__(self, tables: dict[str, Table]) -> None:
        self.tables = tables
        self.phase = "setup"
        self.tallies: dict[tuple[str, str], Tally] = defaultdict(Tally)  # (phase, component)
        self.shadow: dict[tuple[str, tuple[str, ...]], Shadow] = {}
        self.lock = threading.Lock()
        self.local = _Local()

    # -- wiring -------------------------------------------------------------------------

    def instrument(self, client: Any, component: str, per_wakeup: bool = False) -> Any:
        """Counts ``client``'s calls as ``component``'s; ``per_wakeup``: its calls' time also
        adds up per thread for :meth:`take_wakeup_io` (a client only wake-ups use)."""
        service = client.meta.service_model.service_id.hyphenize()
        events = client.meta.events
        events.register(f"provide-client-params.{service}", self._keep_params)
        if service == "dynamodb":
            events.register("before-parameter-build.dynamodb", self._ask_capacity)
        events.register(f"before-call.{service}", self._start)
        events.register(f"after-call.{service}", lambda **kw: self._finish(component, service, per_wakeup, **kw))
        return client

    @staticmethod
    def _keep_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["bench_params"] = params

    @staticmethod
    def _ask_capacity(params: dict[str, Any], model: Any, **_: Any) -> None:
        if "ReturnConsumedCapacity" in model.input_shape.members:
            params.setdefault("ReturnConsumedCapacity", "TOTAL")

    @staticmethod
    def _start(context: dict[str, Any], **_: Any) -> None:
        context["bench_started"] = time.perf_counter()

    # -- per wake-up I/O time (thread-local) ----------------------------------------------

    def take_wakeup_io(self) -> tuple[float, int]:
        """Seconds in, and number of, this thread's calls on ``per_wakeup`` clients since the
        last take: one wake-up's AWS I/O when taken as it ends (its clients serve nothing else)."""
        taken = self.local.aws_seconds, self.local.aws_calls
        self.local.aws_seconds, self.local.aws_calls = 0.0, 0
        return taken

    def take_hook_cpu(self) -> float:
        """CPU seconds this thread spent accounting for ``per_wakeup`` clients' calls since the
        last take: the bench's own work, to leave out of a wake-up's CPU time."""
        taken, self.local.hook_cpu = self.local.hook_cpu, 0.0
        return taken

    # -- accounting ---------------------------------------------------------------------

    def tally(self, phase: str, component: str | None = None) -> Tally:
        """The sum over components (or one component) of a phase."""
        total = Tally()
        for (p, c), tally in list(self.tallies.items()):
            if p == phase and (component is None or c == component):
                total.add(tally)
        return total

    def _finish(
        self,
        component: str,
        service: str,
        per_wakeup: bool,
        http_response: Any,
        parsed: dict[str, Any],
        model: Any,
        context: dict[str, Any],
        **_: Any,
    ) -> None:
        elapsed = time.perf_counter() - context.get("bench_started", time.perf_counter())
        cpu_started = time.thread_time()
        try:
            self._account(component, service, per_wakeup, elapsed, (http_response, parsed, model, context))
        finally:
            if per_wakeup:  # a client only wake-ups use: this is the wake-up's
                self.local.hook_cpu += time.thread_time() - cpu_started

    def _account(
        self,
        component: str,
        service: str,
        per_wakeup: bool,
        elapsed: float,
        call: tuple[Any, dict[str, Any], Any, dict[str, Any]],
    ) -> None:
        http_response, parsed, model, context = call
        if per_wakeup:
            self.local.aws_seconds += elapsed
            self.local.aws_calls += 1
        op = model.name
        params = context.get("bench_params") or {}
        error = parsed.get("Error", {}).get("Code") if http_response.status_code >= 300 else None
        with self.lock:
            tally = self.tallies[(self.phase, component)]
            tally.calls[(service, op)] += 1
            tally.seconds += elapsed
            tally.retries += int(parsed.get("ResponseMetadata", {}).get("RetryAttempts", 0) or 0)
            if error:
                tally.errors[(service, op, error)] += 1
            if service == "dynamodb":
                self._dynamodb(tally, op, params, parsed, error)
            elif service == "sqs":
                self._sqs(tally, op, params, parsed)
            elif service == "eventbridge" and op == "PutEvents":
                tally.events_billed += sum(
                    units(len(json.dumps(e, separators=(",", ":")).encode()), SQS_CHUNK_BYTES)
                    for e in params.get("Entries") or []
                )

    def _key(self, table: str, item: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
        info = self.tables.get(table)
        names = info.keys if info else tuple(sorted(item))[:2]
        return table, tuple(repr(item.get(n)) for n in names)

    # -- attribution to keys ------------------------------------------------------------

    def _key_names(self, table: str, index: str) -> tuple[str, ...]:
        info = self.tables.get(table)
        if info is None:
            return ("pk", "sk")
        if not index:
            return info.keys
        return next((i.keys for i in info.indexes if i.name == index), ("?",))

    def _values(self, table: str, index: str, item: dict[str, Any]) -> tuple[str, str]:
        """The partition and sort key values of ``item`` in ``table`` (or its ``index``)."""
        names = self._key_names(table, index)
        return scalar(item.get(names[0])), scalar(item.get(names[1])) if len(names) > 1 else ""

    @staticmethod
    def _charge(tally: Tally, ref: ItemRef, wcu: float = 0.0, rcu: float = 0.0, gsi: bool = False) -> None:
        """Add units to the totals and to the partition and the item they land on (items of
        the table only: an index entry is no item of its own, its base item is)."""
        tally.wcu += wcu
        tally.rcu += rcu
        if gsi:
            tally.gsi_wcu += wcu
        table, index, partition, _ = ref
        loads = [tally.partitions[(table, index, partition)]]
        if not index:
            loads.append(tally.items[ref])
        for load in loads:
            load.wcu += wcu
            load.rcu += rcu

    def _ref(self, table: str, index: str, item: dict[str, Any]) -> ItemRef:
        return (table, index, *self._values(table, index, item))

    def _query_partition(self, table: str, params: dict[str, Any]) -> str:
        """The partition key value a Query reads: its ``KeyConditionExpression``'s equality on
        the table's (or index's) partition key (or the legacy ``KeyConditions``)."""
        index = params.get("IndexName", "")
        name = self._key_names(table, index)[0]
        legacy = params.get("KeyConditions", {}).get(name, {}).get("AttributeValueList")
        if legacy:
            return scalar(legacy[0])
        names = params.get("ExpressionAttributeNames", {})
        values = params.get("ExpressionAttributeValues", {})
        for attribute, placeholder in _EQUALITY.findall(params.get("KeyConditionExpression", "")):
            if names.get(attribute, attribute) == name and placeholder in values:
                return scalar(values[placeholder])
        return "?"

    def _index_writes(
        self, table: str, old: dict[str, Any] | None, new: dict[str, Any] | None
    ) -> list[tuple[str, dict[str, Any], int]]:
        """The index writes an item write makes: (index, the index entry written or deleted,
        its units), per DynamoDB's rules (module docstring)."""
        info = self.tables.get(table)
        if info is None:
            return []
        writes: list[tuple[str, dict[str, Any], int]] = []
        for index in info.indexes:

            def entry(item: dict[str, Any] | None, index: Index = index) -> dict[str, Any] | None:
                if item is None or any(k not in item for k in index.keys):
                    return None
                if index.projection == "ALL":
                    return dict(item)
                names = set(index.keys) | set(info.keys) | set(index.include)
                return {k: v for k, v in item.items() if k in names}

            before, after = entry(old), entry(new)
            if before is None and after is None:
                continue
            if before is None or after is None:
                gone_or_new = before or after
                assert gone_or_new is not None
                writes.append((index.name, gone_or_new, units(item_size(gone_or_new), KB)))
            elif any(before.get(k) != after.get(k) for k in index.keys):  # delete + put
                writes.append((index.name, before, units(item_size(before), KB)))
                writes.append((index.name, after, units(item_size(after), KB)))
            elif before != after:
                writes.append((index.name, after, units(max(item_size(before), item_size(after)), KB)))
        return writes

    def _write(
        self,
        tally: Tally,
        table: str,
        key_item: dict[str, Any],
        new: dict[str, Any] | None,
        ok: bool,
        factor: int = 1,
    ) -> None:
        key = self._key(table, key_item)
        old = self.shadow.get(key)
        old_size = old.size if old else 0
        new_size = item_size(new) if new is not None else 0
        self._charge(tally, self._ref(table, "", key_item), wcu=factor * units(max(old_size, new_size), KB))
        if not ok:
            return
        for index, entry, n in self._index_writes(table, old.item if old else None, new):
            self._charge(tally, self._ref(table, index, entry), wcu=factor * n, gsi=True)
        if new is None:
            self.shadow.pop(key, None)
        else:
            self.shadow[key] = Shadow(new_size, new)
            tally.put_sizes[table].append(new_size)

    def _write_as_it_was(self, tally: Tally, table: str, key_item: dict[str, Any], factor: int = 1) -> None:
        """A write whose result is unknown (an update returning nothing, a condition check):
        the units of the item as it was."""
        old = self.shadow.get(self._key(table, key_item))
        self._charge(tally, self._ref(table, "", key_item), wcu=factor * units(old.size if old else 0, KB))

    def _seen(self, table: str, item: dict[str, Any]) -> int:
        size = item_size(item)
        self.shadow[self._key(table, item)] = Shadow(size, item)
        return size

    def _dynamodb(
        self, tally: Tally, op: str, params: dict[str, Any], parsed: dict[str, Any], error: str | None
    ) -> None:
        reported = parsed.get("ConsumedCapacity")
        reported_units = sum(
            float(c.get("CapacityUnits", 0))
            for c in (reported if isinstance(reported, list) else [reported] if reported else [])
        )
        if op in WRITE_OPS:
            tally.reported_wcu += reported_units
        else:
            tally.reported_rcu += reported_units
        condition_failed = error in ("ConditionalCheckFailedException", "TransactionCanceledException")
        if error and not condition_failed:
            return  # throttled or rejected requests are not billed
        ok = error is None
        table = params.get("TableName", "")
        consistent = 1.0 if params.get("ConsistentRead") else 0.5
        if op == "GetItem":
            item = parsed.get("Item")
            size = self._seen(table, item) if item else 0
            self._charge(tally, self._ref(table, "", params["Key"]), rcu=units(size, READ_UNIT_BYTES) * consistent)
        elif op == "PutItem":
            self._write(tally, table, params["Item"], params["Item"], ok)
        elif op == "UpdateItem":
            after = parsed.get("Attributes") if ok and params.get("ReturnValues") == "ALL_NEW" else None
            if after:  # the item as it is now: billed on the larger of before and after
                self._write(tally, table, params["Key"], after, ok)
            else:  # the new size is not known; the old one is
                self._write_as_it_was(tally, table, params["Key"])
        elif op == "DeleteItem":
            self._write(tally, table, params["Key"], None, ok)
        elif op in ("Query", "Scan"):
            self._read_many(tally, op, table, params, parsed, consistent)
        elif op == "BatchGetItem":
            for name, items in parsed.get("Responses", {}).items():
                strong = 1.0 if params.get("RequestItems", {}).get(name, {}).get("ConsistentRead") else 0.5
                for item in items:
                    rcu = units(self._seen(name, item), READ_UNIT_BYTES) * strong
                    self._charge(tally, self._ref(name, "", item), rcu=rcu)
        elif op == "BatchWriteItem":
            for name, requests in params.get("RequestItems", {}).items():
                for request in requests:
                    if "PutRequest" in request:
                        self._write(tally, name, request["PutRequest"]["Item"], request["PutRequest"]["Item"], ok)
                    else:
                        self._write(tally, name, request["DeleteRequest"]["Key"], None, ok)
        elif op == "TransactWriteItems":  # transactions bill twice
            for entry in params.get("TransactItems", []):
                (kind, body), *_ = entry.items()
                name = body["TableName"]
                if kind == "Put":
                    self._write(tally, name, body["Item"], body["Item"], ok, factor=2)
                elif kind == "Delete":
                    self._write(tally, name, body["Key"], None, ok, factor=2)
                else:  # Update, ConditionCheck: the item as it was
                    self._write_as_it_was(tally, name, body["Key"], factor=2)
        elif op == "TransactGetItems":
            for entry, response in zip(params.get("TransactItems", []), parsed.get("Responses", []), strict=False):
                body = entry.get("Get", {})
                rcu = 2 * units(item_size(response.get("Item")), READ_UNIT_BYTES)
                self._charge(tally, self._ref(body.get("TableName", ""), "", body.get("Key", {})), rcu=rcu)

    def _read_many(
        self, tally: Tally, op: str, table: str, params: dict[str, Any], parsed: dict[str, Any], consistent: float
    ) -> None:
        """A Query or Scan: its units on the partition it read, spread over the items it
        returned by their sizes (all of them on the partition when it returned none)."""
        index = params.get("IndexName", "")
        items = parsed.get("Items", [])
        sizes = [self._seen(table, i) if not index else item_size(i) for i in items]
        scanned = int(parsed.get("ScannedCount", len(items)) or 0)
        average = sum(sizes) / len(sizes) if sizes else 0
        total = sum(sizes) + max(0, scanned - len(items)) * average
        rcu = units(int(total), READ_UNIT_BYTES) * consistent
        partition = self._query_partition(table, params) if op == "Query" else WHOLE_TABLE
        if not items or not sum(sizes):
            self._charge(tally, (table, index, partition, ""), rcu=rcu)
            return
        for item, size in zip(items, sizes, strict=True):
            _, sort = self._values(table, index, item)
            self._charge(tally, (table, index, partition, sort), rcu=rcu * size / sum(sizes))

    @staticmethod
    def _sqs(tally: Tally, op: str, params: dict[str, Any], parsed: dict[str, Any]) -> None:
        if op in ("SendMessageBatch", "SendMessage"):
            entries = params.get("Entries") or [params]
            sizes = [len(str(e.get("MessageBody", "")).encode()) for e in entries]
            payload = sum(sizes)
            tally.sqs_billed += units(payload, SQS_CHUNK_BYTES)
            tally.sqs_payload_bytes += payload
            tally.sqs_sent += len(parsed.get("Successful", [])) if op == "SendMessageBatch" else 1
            tally.message_sizes.extend(sizes)
        elif op == "ReceiveMessage":
            messages = parsed.get("Messages", [])
            if not messages:
                tally.sqs_idle_polls += 1
                return
            payload = sum(len(str(m.get("Body", "")).encode()) for m in messages)
            tally.sqs_billed += units(payload, SQS_CHUNK_BYTES)
            tally.sqs_payload_bytes += payload
            tally.sqs_received += len(messages)
        else:
            tally.sqs_billed += 1
