"""Fan-out records of map and parallel steps: counters, inputs, results, buckets (keys: layout.py)."""

from __future__ import annotations

import copy
import json
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from sedo.adapters.dynamodb import layout
from sedo.adapters.dynamodb.common import (
    TableStore,
    _n,
    _s,
    all_items,
    batch_get,
    batch_write,
    conditional,
    execution_key,
)
from sedo.adapters.dynamodb.executions import child_index_item, head_item
from sedo.adapters.dynamodb.headdoc import head_of
from sedo.adapters.dynamodb.listing import Listing
from sedo.domain.execution import Execution
from sedo.domain.iterations import child_key
from sedo.service_layer.ports import IterationCounter, PageLease

#: How many bytes of input chunks a store keeps at hand (oldest out first): a map's chain of
#: inline iterations steps ``maxConcurrency`` items at a time, often a chunk a step.
CHUNK_BYTES_KEPT = 8 * 1024 * 1024


class DynamoIterationStore(TableStore):
    """Fan-out records in the executions table. The parent's partition holds what is
    written a constant number of times per step attempt: the counter (``sk=map#instance``)
    and one lease per page of the start (``page#instance#after``). What is written or read
    per iteration is spread: each child's result next to its head, and the inputs in
    chunks, the completion buckets, the children's index and the closed marker over the
    fan-out's ``FAN_SHARDS`` partitions. Each iteration costs a constant number of
    requests and capacity units, whatever the item count, no transaction, and no read of
    a shared item but its shard's closed marker (when it starts the next iteration)."""

    CHUNK = layout.CHUNK
    BUCKET = layout.BUCKET

    def __init__(self, client: Any, table: str) -> None:
        super().__init__(client, table)
        self._chunks: OrderedDict[tuple[str, str, int, int], tuple[list[Any], int]] = OrderedDict()
        self._chunk_bytes = 0

    def _update(self, key: dict[str, Any], **request: Any) -> dict[str, Any] | None:
        """A conditional UpdateItem of ``key`` in this table; None when its condition refused it."""
        return conditional(self.client.update_item, TableName=self.table, Key=key, **request)

    def _put(self, item: dict[str, Any], **request: Any) -> dict[str, Any] | None:
        """A conditional PutItem of ``item`` in this table; None when its condition refused it."""
        return conditional(self.client.put_item, TableName=self.table, Item=item, **request)

    def create(
        self, tenant_id: str, parent_key: str, instance: int, counter: IterationCounter, inputs: list[Any]
    ) -> None:
        requests = [
            {
                "PutRequest": {
                    "Item": {
                        **layout.chunk_key(tenant_id, parent_key, instance, start // self.CHUNK),
                        "items": _s(json.dumps(inputs[start : start + self.CHUNK], separators=(",", ":"))),
                    }
                }
            }
            for start in range(0, len(inputs), self.CHUNK)
        ]
        batch_write(self.client, self.table, requests)
        self._put(  # already there on a redelivered fan-out
            {
                **layout.counter_key(tenant_id, parent_key, instance),
                "total": _n(counter.total),
                "concurrency": _n(counter.concurrency),
                "tolerated": _n(counter.tolerated),
                "done": _n(0),
                "succeeded": _n(0),
                "failures": {"M": {}},
                "bytes": _n(0),
                "closed": {"BOOL": False},
                "branches": {"BOOL": counter.branches},
                "meta": _s(json.dumps(counter.meta or {}, separators=(",", ":"))),
            },
            ConditionExpression="attribute_not_exists(pk)",
        )

    def counter(self, tenant_id: str, parent_key: str, instance: int) -> IterationCounter | None:
        item = self.client.get_item(
            TableName=self.table, Key=layout.counter_key(tenant_id, parent_key, instance), ConsistentRead=True
        ).get("Item")
        return self._counter(item) if item else None

    @staticmethod
    def _counter(item: dict[str, Any]) -> IterationCounter:
        return IterationCounter(
            total=int(item["total"]["N"]),
            concurrency=int(item["concurrency"]["N"]),
            tolerated=int(item["tolerated"]["N"]),
            done=int(item["done"]["N"]),
            succeeded=int(item["succeeded"]["N"]),
            failed=sum(int(n["N"]) for n in item["failures"]["M"].values()),
            bytes=int(item["bytes"]["N"]),
            closed=item["closed"]["BOOL"],
            branches=item["branches"]["BOOL"],
            meta=json.loads(item["meta"]["S"]),
        )

    def item(self, tenant_id: str, parent_key: str, instance: int, index: int) -> Any:
        """An iteration's input, from its chunk (chunks never change once written, so the last
        few read are kept: a chain of inline iterations reads each chunk about once)."""
        key = (tenant_id, parent_key, instance, index // self.CHUNK)
        kept = self._chunks.get(key)
        if kept is None:
            found = self.client.get_item(TableName=self.table, Key=layout.chunk_key(*key))["Item"]
            text = found["items"]["S"]
            kept = self._chunks[key] = (json.loads(text), len(text))
            self._chunk_bytes += len(text)
            while self._chunk_bytes > CHUNK_BYTES_KEPT and len(self._chunks) > 1:
                _, (_, size) = self._chunks.popitem(last=False)
                self._chunk_bytes -= size
        return copy.deepcopy(kept[0][index % self.CHUNK])

    def record(
        self, tenant_id: str, parent_key: str, instance: int, result: dict[str, Any], total: int
    ) -> IterationCounter | None:
        """Four idempotent writes, no transaction (constant size, whatever the item count):

        1. the result item, next to the child's head, refused if it exists;
        2. the iteration's bucket (layout.bucket_of: ``BUCKET`` indices of one lane, in the
           lane's partition): ``ADD members :i`` plus its counts (a failure's index also to
           ``failedMembers``), refused if ``members`` contains ``i``, so each counts once;
        3. on a failure, the bucket's failure count into the counter's ``failures`` map, only
           ever raised (``< :n``), so the counter's failure total is never ahead of the truth;
        4. when the bucket is full, its totals into the counter, refused if the counter's
           ``buckets`` set has it already; the final failure count of the bucket goes too.

        Redelivery repeats them all: what a crash left undone is done, the rest is refused.
        The counter's ``done`` reaches ``total`` only through step 4 of the last bucket, after
        every result and failure is written. A success whose bucket is not full reads nothing."""
        index, succeeded = int(result["index"]), bool(result["succeeded"])
        document = json.dumps(result, separators=(",", ":"))
        self._put_result(tenant_id, parent_key, instance, result, document)
        number = layout.bucket_of(index)
        bucket_key = layout.bucket_key(tenant_id, parent_key, instance, number)
        member = {"NS": [str(index)]}
        values = {":member": member, ":i": _n(index), ":s": _n(1 if succeeded else 0), ":f": _n(0 if succeeded else 1)}
        counted = self._update(
            bucket_key,
            UpdateExpression="ADD members :member, succeeded :s, failed :f, #bytes :b"
            + ("" if succeeded else ", failedMembers :member"),
            ConditionExpression="NOT contains(members, :i)",
            ExpressionAttributeNames={"#bytes": "bytes"},
            ExpressionAttributeValues={**values, ":b": _n(len(document))},
            ReturnValues="ALL_NEW",
        )
        if counted is not None:
            bucket = counted["Attributes"]
        else:  # counted before: finish what that call may have left undone
            bucket = self.client.get_item(TableName=self.table, Key=bucket_key, ConsistentRead=True)["Item"]
        return self._after_bucket(tenant_id, parent_key, instance, number, bucket, total)

    def record_many(
        self, tenant_id: str, parent_key: str, instance: int, results: list[dict[str, Any]], total: int
    ) -> IterationCounter | None:
        """:meth:`record`'s writes for several results, with one bucket update per bucket:

        1. each result item, refused if it exists (a result that was there already, found
           again by a redelivered page, is counted through :meth:`record` instead);
        2. per bucket, its new members at once, refused if *any* of them is a member (a crash
           after a partial count: that bucket's results go through :meth:`record`, each);
        3. then what :meth:`record` does after its bucket update (failures, a full bucket's fold)."""
        latest: IterationCounter | None = None
        fresh: dict[int, list[tuple[dict[str, Any], int]]] = {}
        for result in results:
            document = json.dumps(result, separators=(",", ":"))
            if self._put_result(tenant_id, parent_key, instance, result, document):
                fresh.setdefault(layout.bucket_of(int(result["index"])), []).append((result, len(document)))
            else:
                latest = self.record(tenant_id, parent_key, instance, result, total) or latest
        for number, group in fresh.items():
            indices = [int(result["index"]) for result, _ in group]
            failed = [str(i) for (result, _), i in zip(group, indices, strict=True) if not result["succeeded"]]
            values: dict[str, Any] = {f":i{k}": _n(i) for k, i in enumerate(indices)}
            values |= {
                ":member": {"NS": [str(i) for i in indices]},
                ":s": _n(len(indices) - len(failed)),
                ":f": _n(len(failed)),
                ":b": _n(sum(size for _, size in group)),
            }
            if failed:
                values[":failed"] = {"NS": failed}
            counted = self._update(
                layout.bucket_key(tenant_id, parent_key, instance, number),
                UpdateExpression="ADD members :member, succeeded :s, failed :f, #bytes :b"
                + (", failedMembers :failed" if failed else ""),
                ConditionExpression=" AND ".join(f"NOT contains(members, :i{k})" for k in range(len(indices))),
                ExpressionAttributeNames={"#bytes": "bytes"},
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
            if counted is None:  # some were counted before: one at a time finishes the rest
                for result, _ in group:
                    latest = self.record(tenant_id, parent_key, instance, result, total) or latest
                continue
            bucket = counted["Attributes"]
            latest = self._after_bucket(tenant_id, parent_key, instance, number, bucket, total) or latest
        return latest

    def _put_result(
        self, tenant_id: str, parent_key: str, instance: int, result: dict[str, Any], document: str
    ) -> bool:
        """Step 1 of :meth:`record`: the result item, next to the child's head; False when it
        was there already."""
        key = layout.result_key(tenant_id, child_key(parent_key, instance, int(result["index"])))
        item = {**key, "ok": {"BOOL": bool(result["succeeded"])}, "doc": _s(document)}
        return self._put(item, ConditionExpression="attribute_not_exists(pk)") is not None

    def _after_bucket(
        self, tenant_id: str, parent_key: str, instance: int, number: int, bucket: dict[str, Any], total: int
    ) -> IterationCounter | None:
        """Steps 3 and 4 of :meth:`record`, given the bucket as its update left it."""
        members = len(bucket["members"]["NS"])
        failed = int(bucket["failed"]["N"])
        counter_key = layout.counter_key(tenant_id, parent_key, instance)
        if members >= layout.bucket_size(number, total):
            return self._fold(counter_key, number, bucket)
        if not failed:
            return None
        raised = self._update(
            counter_key,
            UpdateExpression="SET failures.#bucket = :n",
            ConditionExpression="attribute_exists(pk) AND "
            "(attribute_not_exists(failures.#bucket) OR failures.#bucket < :n)",
            ExpressionAttributeNames={"#bucket": str(number)},
            ExpressionAttributeValues={":n": _n(failed)},
            ReturnValues="ALL_NEW",
        )
        return self._counter(raised["Attributes"]) if raised else self.counter(tenant_id, parent_key, instance)

    def _fold(self, counter_key: dict[str, Any], number: int, bucket: dict[str, Any]) -> IterationCounter | None:
        """Add a full bucket's totals to the counter, once."""
        folded = self._update(
            counter_key,
            UpdateExpression="ADD buckets :bucket, done :done, succeeded :s, #bytes :b SET failures.#bucket = :f",
            ConditionExpression="attribute_exists(pk) AND NOT contains(buckets, :number)",
            ExpressionAttributeNames={"#bytes": "bytes", "#bucket": str(number)},
            ExpressionAttributeValues={
                ":bucket": {"NS": [str(number)]},
                ":number": _n(number),
                ":done": _n(len(bucket["members"]["NS"])),
                ":s": bucket["succeeded"],
                ":b": bucket["bytes"],
                ":f": bucket["failed"],
            },
            ReturnValues="ALL_NEW",
        )
        if folded is not None:
            return self._counter(folded["Attributes"])
        found = self.client.get_item(TableName=self.table, Key=counter_key, ConsistentRead=True).get("Item")
        return self._counter(found) if found else None

    def _buckets(self, tenant_id: str, parent_key: str, instance: int, projection: str) -> list[dict[str, Any]]:
        """Every completion bucket of the step attempt (a query per shard)."""
        found: list[dict[str, Any]] = []
        for shard in range(layout.FAN_SHARDS):
            found.extend(
                all_items(
                    self.client.query,
                    TableName=self.table,
                    KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
                    ExpressionAttributeValues={
                        ":pk": layout.fan_pk(tenant_id, parent_key, instance, shard),
                        ":prefix": _s("b#"),
                    },
                    ProjectionExpression=projection,
                )
            )
        return found

    def progress(self, tenant_id: str, parent_key: str, instance: int) -> dict[str, int] | None:
        counter = self.counter(tenant_id, parent_key, instance)
        if counter is None:
            return None
        done = succeeded = failed = 0
        # A bucket may lack an attribute (an update that added only some of them): what it lacks
        # it has not counted.
        for item in self._buckets(tenant_id, parent_key, instance, "members, succeeded, failed"):
            done += len(item.get("members", {}).get("NS", []))
            succeeded += int(item.get("succeeded", {}).get("N", 0))
            failed += int(item.get("failed", {}).get("N", 0))
        return replace(counter, done=done, succeeded=succeeded, failed=failed).progress()

    def close(self, tenant_id: str, parent_key: str, instance: int) -> None:
        """Mark the step attempt closed: a closed marker in each shard (what a child starting
        the next iteration reads), then the counter."""
        markers = [
            {"PutRequest": {"Item": layout.closed_key(tenant_id, parent_key, instance, shard)}}
            for shard in range(layout.FAN_SHARDS)
        ]
        batch_write(self.client, self.table, markers)
        self.client.update_item(
            TableName=self.table,
            Key=layout.counter_key(tenant_id, parent_key, instance),
            UpdateExpression="SET closed = :t",
            ExpressionAttributeValues={":t": {"BOOL": True}},
        )

    def is_closed(self, tenant_id: str, parent_key: str, instance: int, index: int) -> bool:
        key = layout.closed_key(tenant_id, parent_key, instance, layout.index_shard(index))
        return "Item" in self.client.get_item(TableName=self.table, Key=key, ConsistentRead=True)

    def results(
        self, tenant_id: str, parent_key: str, instance: int, failed_only: bool = False, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Results in item order, read from the children's partitions (BatchGetItem); failures
        found through their buckets' ``failedMembers``."""
        if failed_only:
            indices: list[int] = sorted(
                int(n)
                for item in self._buckets(tenant_id, parent_key, instance, "failedMembers")
                for n in item.get("failedMembers", {}).get("NS", [])
            )
        else:
            counter = self.counter(tenant_id, parent_key, instance)
            indices = list(range(counter.total)) if counter is not None else []
        return self._results_of(tenant_id, parent_key, instance, indices, limit)

    def lookup(self, tenant_id: str, parent_key: str, instance: int, index: int) -> tuple[bool, dict[str, Any] | None]:
        """The head and the result of iteration ``index``, both in its partition: one BatchGetItem."""
        key = child_key(parent_key, instance, index)
        items = batch_get(self.client, self.table, [execution_key(tenant_id, key), layout.result_key(tenant_id, key)])
        result = next((json.loads(i["doc"]["S"]) for i in items if i["sk"]["S"] == layout.RESULT_SK), None)
        return any(i["sk"]["S"] == layout.HEAD_SK for i in items), result

    def results_page(self, tenant_id: str, parent_key: str, instance: int, start: int, limit: int) -> list[Any]:
        """One range of results (a results object of a map's resultWriter): BatchGetItem
        from the children's partitions; indices past the map's end are simply not found."""
        return self._results_of(tenant_id, parent_key, instance, range(start, start + limit), None)

    def _results_of(
        self, tenant_id: str, parent_key: str, instance: int, indices: Sequence[int], limit: int | None
    ) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for start in range(0, len(indices), 100):
            page = indices[start : start + 100]
            keys = [layout.result_key(tenant_id, child_key(parent_key, instance, i)) for i in page]
            documents = {item["pk"]["S"]: item["doc"]["S"] for item in batch_get(self.client, self.table, keys)}
            for key in keys:
                if key["pk"]["S"] in documents:
                    found.append(json.loads(documents[key["pk"]["S"]]))
                    if limit is not None and len(found) >= limit:
                        return found
        return found

    def children(
        self, tenant_id: str, parent_key: str, instance: int, after: int, limit: int
    ) -> tuple[list[Execution], int | None]:
        """The children from ``after`` on, ``limit`` at most, through the fan-out's child index
        (strongly consistent: a child created before the step attempt closed is listed)."""
        listing = Listing(self.client, self.table)
        indices = list(islice(listing.child_indices(tenant_id, parent_key, instance, after), limit + 1))
        page = indices[:limit]
        heads = listing.heads(tenant_id, [child_key(parent_key, instance, i) for i in page])
        ordered = [heads[k] for k in (child_key(parent_key, instance, i) for i in page) if k in heads]
        return ordered, (indices[limit] if len(indices) > limit else None)

    # -- the pages of a fan-out's start -------------------------------------------------

    def claim_page(
        self, tenant_id: str, parent_key: str, instance: int, after: int, owner: str, now: datetime, until: datetime
    ) -> PageLease:
        key = layout.page_key(tenant_id, parent_key, instance, after)
        claimed = self._update(
            key,
            UpdateExpression="SET #owner = :owner, #until = :until",
            ConditionExpression="attribute_not_exists(pk) OR (attribute_not_exists(#done) AND #until < :now)",
            ExpressionAttributeNames={"#owner": "owner", "#until": "until", "#done": "done"},
            ExpressionAttributeValues={":owner": _s(owner), ":until": _n(_ms(until)), ":now": _n(_ms(now))},
        )
        if claimed is not None:
            return PageLease(held=True)
        item = self.client.get_item(TableName=self.table, Key=key, ConsistentRead=True).get("Item")
        if item is None:  # pragma: no cover - a page lease is never deleted
            return self.claim_page(tenant_id, parent_key, instance, after, owner, now, until)
        if "done" in item:
            return PageLease(held=False, done=True)
        return PageLease(held=False, until=datetime.fromtimestamp(int(item["until"]["N"]) / 1000, UTC))

    def finish_page(self, tenant_id: str, parent_key: str, instance: int, after: int, owner: str) -> None:
        self._update(
            layout.page_key(tenant_id, parent_key, instance, after),
            UpdateExpression="SET #done = :t",
            ConditionExpression="#owner = :owner",
            ExpressionAttributeNames={"#owner": "owner", "#done": "done"},
            ExpressionAttributeValues={":owner": _s(owner), ":t": {"BOOL": True}},
        )

    def existing_children(self, tenant_id: str, keys: Sequence[str]) -> dict[str, Execution]:
        items = batch_get(self.client, self.table, [execution_key(tenant_id, key) for key in keys])
        heads = (head_of(item) for item in items)
        return {head.key: head for head in heads}

    def put_children(self, heads: Sequence[Execution]) -> None:
        """Their index entries first (25 a call, in order), then the heads."""
        index = [{"PutRequest": {"Item": child_index_item(h)}} for h in heads]
        batch_write(self.client, self.table, index + [{"PutRequest": {"Item": head_item(h)}} for h in heads])


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
