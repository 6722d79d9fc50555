"""Fan-out records of map and parallel steps: counters, inputs, results, buckets."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sedo.adapters.dynamodb.common import (
    _child_sk,
    _n,
    _s,
    all_items,
    batch_get,
    batch_write,
    conditional,
    execution_key,
)
from sedo.adapters.dynamodb.executions import head_item
from sedo.domain.execution import Execution
from sedo.service_layer.ports import IterationCounter, PageLease


class DynamoIterationStore:
    """Fan-out records in the executions table, in the parent's partition ``tenant#parent``:
    the counter (``sk=instance#map``), the inputs in chunks (``instance#i#chunk``), one
    result per iteration (``instance#r#index``), one completion bucket per ``BUCKET``
    iterations (``instance#b#bucket``) and one lease per page of the start
    (``instance#f#after``). Each iteration costs a constant number of requests
    and capacity units, whatever the item count, and no transaction (half the write units)."""

    CHUNK = 50  # iteration inputs per item
    BUCKET = 100  # iterations per completion bucket

    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table

    @staticmethod
    def _pk(tenant_id: str, parent_key: str) -> dict[str, str]:
        return _s(f"{tenant_id}#{parent_key}")

    def create(
        self, tenant_id: str, parent_key: str, instance: int, counter: IterationCounter, inputs: list[Any]
    ) -> None:
        pk = self._pk(tenant_id, parent_key)
        requests = [
            {
                "PutRequest": {
                    "Item": {
                        "pk": pk,
                        "sk": _s(f"{instance}#i#{start // self.CHUNK:06d}"),
                        "items": _s(json.dumps(inputs[start : start + self.CHUNK], separators=(",", ":"))),
                    }
                }
            }
            for start in range(0, len(inputs), self.CHUNK)
        ]
        batch_write(self.client, self.table, requests)
        conditional(  # already there on a redelivered fan-out
            self.client.put_item,
            TableName=self.table,
            Item={
                "pk": pk,
                "sk": _s(f"{instance}#map"),
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
            TableName=self.table,
            Key={"pk": self._pk(tenant_id, parent_key), "sk": _s(f"{instance}#map")},
            ConsistentRead=True,
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
        chunk = self.client.get_item(
            TableName=self.table,
            Key={"pk": self._pk(tenant_id, parent_key), "sk": _s(f"{instance}#i#{index // self.CHUNK:06d}")},
        )["Item"]
        return json.loads(chunk["items"]["S"])[index % self.CHUNK]

    def record(
        self,
        tenant_id: str,
        parent_key: str,
        instance: int,
        index: int,
        succeeded: bool,
        result: dict[str, Any],
        total: int,
    ) -> IterationCounter | None:
        """Four idempotent writes, no transaction (constant size, whatever the item count):

        1. the result item, refused if it exists;
        2. the iteration's bucket (``BUCKET`` indices): ``ADD members :i`` plus its counts,
           refused if ``members`` contains ``i``, so each iteration counts once;
        3. on a failure, the bucket's failure count into the counter's ``failures`` map, only
           ever raised (``< :n``), so the counter's failure total is never ahead of the truth;
        4. when the bucket is full, its totals into the counter, refused if the counter's
           ``buckets`` set has it already; the final failure count of the bucket goes too.

        Redelivery repeats them all: what a crash left undone is done, the rest is refused.
        The counter's ``done`` reaches ``total`` only through step 4 of the last bucket, after
        every result and failure is written."""
        pk = self._pk(tenant_id, parent_key)
        document = json.dumps(result, separators=(",", ":"))
        conditional(
            self.client.put_item,
            TableName=self.table,
            Item={"pk": pk, "sk": _s(f"{instance}#r#{index:06d}"), "ok": {"BOOL": succeeded}, "doc": _s(document)},
            ConditionExpression="attribute_not_exists(pk)",
        )
        number = index // self.BUCKET
        bucket_key = {"pk": pk, "sk": _s(f"{instance}#b#{number:05d}")}
        counted = conditional(
            self.client.update_item,
            TableName=self.table,
            Key=bucket_key,
            UpdateExpression="ADD members :member, succeeded :s, failed :f, #bytes :b",
            ConditionExpression="NOT contains(members, :i)",
            ExpressionAttributeNames={"#bytes": "bytes"},
            ExpressionAttributeValues={
                ":member": {"NS": [str(index)]},
                ":i": _n(index),
                ":s": _n(1 if succeeded else 0),
                ":f": _n(0 if succeeded else 1),
                ":b": _n(len(document)),
            },
            ReturnValues="ALL_NEW",
        )
        if counted is not None:
            bucket = counted["Attributes"]
        else:  # counted before: finish what that call may have left undone
            bucket = self.client.get_item(TableName=self.table, Key=bucket_key, ConsistentRead=True)["Item"]
        members = len(bucket["members"]["NS"])
        failed = int(bucket["failed"]["N"])
        counter_key = {"pk": pk, "sk": _s(f"{instance}#map")}
        if members >= min(self.BUCKET, total - number * self.BUCKET):
            return self._fold(counter_key, number, bucket)
        if not failed:
            return None
        raised = conditional(
            self.client.update_item,
            TableName=self.table,
            Key=counter_key,
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
        folded = conditional(
            self.client.update_item,
            TableName=self.table,
            Key=counter_key,
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

    def progress(self, tenant_id: str, parent_key: str, instance: int) -> dict[str, int] | None:
        counter = self.counter(tenant_id, parent_key, instance)
        if counter is None:
            return None
        done = succeeded = failed = 0
        for item in all_items(
            self.client.query,
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": self._pk(tenant_id, parent_key), ":prefix": _s(f"{instance}#b#")},
            ProjectionExpression="members, succeeded, failed",
        ):
            done += len(item["members"]["NS"])
            succeeded += int(item["succeeded"]["N"])
            failed += int(item["failed"]["N"])
        return replace(counter, done=done, succeeded=succeeded, failed=failed).progress()

    def close(self, tenant_id: str, parent_key: str, instance: int) -> None:
        self.client.update_item(
            TableName=self.table,
            Key={"pk": self._pk(tenant_id, parent_key), "sk": _s(f"{instance}#map")},
            UpdateExpression="SET closed = :t",
            ExpressionAttributeValues={":t": {"BOOL": True}},
        )

    def results(
        self, tenant_id: str, parent_key: str, instance: int, failed_only: bool = False, limit: int | None = None
    ) -> list[dict[str, Any]]:
        args: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": self._pk(tenant_id, parent_key), ":prefix": _s(f"{instance}#r#")},
        }
        if failed_only:
            args["FilterExpression"] = "ok = :f"
            args["ExpressionAttributeValues"][":f"] = {"BOOL": False}
        found: list[dict[str, Any]] = []
        for item in all_items(self.client.query, **args):
            found.append(json.loads(item["doc"]["S"]))
            if limit is not None and len(found) >= limit:
                break
        return found

    def results_page(self, tenant_id: str, parent_key: str, instance: int, start: int, limit: int) -> list[Any]:
        """One range of results (a results object of a map's resultWriter): one Query."""
        low, high = _s(f"{instance}#r#{start:06d}"), _s(f"{instance}#r#{start + limit - 1:06d}")
        items = all_items(
            self.client.query,
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :low AND :high",
            ExpressionAttributeValues={":pk": self._pk(tenant_id, parent_key), ":low": low, ":high": high},
        )
        return [json.loads(item["doc"]["S"]) for item in items]

    def children(
        self, tenant_id: str, parent_key: str, instance: int, after: int, limit: int
    ) -> tuple[list[Execution], int | None]:
        response = self.client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :low AND :high",
            ExpressionAttributeValues={
                ":pk": self._pk(tenant_id, parent_key),
                ":low": _s(_child_sk(instance, after)),
                ":high": _s(_child_sk(instance, 999_999)),
            },
            Limit=limit,
            ConsistentRead=True,  # a child created before the counter closed is on this page
        )
        heads = [Execution.from_document(json.loads(item["doc"]["S"])) for item in response.get("Items", [])]
        heads = [h for h in heads if h.index is not None and h.index >= after]
        more = response.get("LastEvaluatedKey")
        return heads, (heads[-1].index + 1 if more and heads and heads[-1].index is not None else None)

    # -- the pages of a fan-out's start -------------------------------------------------

    def _page_key(self, tenant_id: str, parent_key: str, instance: int, after: int) -> dict[str, Any]:
        return {"pk": self._pk(tenant_id, parent_key), "sk": _s(f"{instance}#f#{after:06d}")}

    def claim_page(
        self, tenant_id: str, parent_key: str, instance: int, after: int, owner: str, now: datetime, until: datetime
    ) -> PageLease:
        key = self._page_key(tenant_id, parent_key, instance, after)
        claimed = conditional(
            self.client.update_item,
            TableName=self.table,
            Key=key,
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
        conditional(
            self.client.update_item,
            TableName=self.table,
            Key=self._page_key(tenant_id, parent_key, instance, after),
            UpdateExpression="SET #done = :t",
            ConditionExpression="#owner = :owner",
            ExpressionAttributeNames={"#owner": "owner", "#done": "done"},
            ExpressionAttributeValues={":owner": _s(owner), ":t": {"BOOL": True}},
        )

    def existing_children(self, tenant_id: str, keys: Sequence[str]) -> dict[str, Execution]:
        items = batch_get(self.client, self.table, [execution_key(tenant_id, key) for key in keys])
        heads = (Execution.from_document(json.loads(item["doc"]["S"])) for item in items)
        return {head.key: head for head in heads}

    def put_children(self, heads: Sequence[Execution]) -> None:
        batch_write(self.client, self.table, [{"PutRequest": {"Item": head_item(h)}} for h in heads])


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
