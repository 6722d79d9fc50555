"""DynamoDB stores, on the low-level client (no type-serializer overhead, no Decimals).

Tables (declared in template.yaml, the one source of truth):

- definitions: ``pk``/``sk``. Heads: ``pk=tenant``, ``sk=definitionId``. Versions:
  ``pk=tenant#definitionId``, ``sk=v0000000001``; documents as JSON strings.
- executions: ``pk=tenant``, ``sk=executionKey`` (time-sortable); GSI ``byDefinition``
  on ``dpk=tenant#definitionId`` + ``sk``, KEYS_ONLY so transitions never write the
  index. Idempotency names: ``pk=tenant#name``, ``sk=definitionId#name``.
- history: ``pk=tenant#executionKey``, ``sk`` = id of the segment's first event; one
  item per committed segment (one write per transition, not per event).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from botocore.exceptions import ClientError

from sedo.adapters import tokens
from sedo.domain.errors import BadRequest, Conflict
from sedo.domain.execution import SUBMITTED, Execution
from sedo.service_layer.ports import DefinitionHead, DefinitionVersion, IterationCounter, Page

BY_DEFINITION_INDEX = "byDefinition"


def execution_key(tenant_id: str, key: str) -> dict[str, dict[str, str]]:
    """Where a head lives. Top-level executions: ``pk=tenant``. Children of a fan-out step
    (key ``parent.instance.index``) live in their parent's partition, ``pk=tenant#parent``,
    ``sk=0000000instance.000index``, so tenant listings never see them, and a sweep or a
    listing pages them in (step attempt, index) order."""
    if "." not in key:
        return {"pk": _s(tenant_id), "sk": _s(key)}
    parent, instance, index = key.rsplit(".", 2)
    return {"pk": _s(f"{tenant_id}#{parent}"), "sk": _s(_child_sk(int(instance), int(index)))}


def _child_sk(instance: int, index: int) -> str:
    return f"{instance:010d}.{index:06d}"


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def _condition_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") in (
        "ConditionalCheckFailedException",
        "TransactionCanceledException",
    )


def conditional(call: Callable[..., dict[str, Any]], **kwargs: Any) -> dict[str, Any] | None:
    """A conditional write's response, or None when DynamoDB refused it for its condition."""
    try:
        return call(**kwargs)
    except ClientError as exc:
        if _condition_failed(exc):
            return None
        raise


def all_items(call: Callable[..., dict[str, Any]], **kwargs: Any) -> Iterator[dict[str, Any]]:
    """Every item of a Query or Scan, page after page."""
    while True:
        response = call(**kwargs)
        yield from response.get("Items", [])
        if "LastEvaluatedKey" not in response:
            return
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def _fill(
    query: Callable[[int, dict[str, Any] | None], dict[str, Any]],
    limit: int,
    start: dict[str, Any] | None,
    keep: Callable[[list[dict[str, Any]]], list[Any]],
) -> tuple[list[Any], dict[str, Any] | None]:
    """Run a (filtered) query page after page until ``limit`` items are kept or the data ends."""
    items: list[Any] = []
    position = start
    while True:
        response = query(limit - len(items), position)
        items.extend(keep(response.get("Items", [])))
        position = response.get("LastEvaluatedKey")
        if position is None or len(items) >= limit:
            return items, position


class DynamoDefinitionStore:
    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table

    @staticmethod
    def _head(item: dict[str, Any]) -> DefinitionHead:
        return DefinitionHead(
            tenant_id=item["pk"]["S"],
            id=item["sk"]["S"],
            latest_version=int(item["latestVersion"]["N"]),
            created_at=item["createdAt"]["S"],
            updated_at=item["updatedAt"]["S"],
            deleted=item.get("deleted", {}).get("BOOL", False),
            description=item.get("description", {}).get("S"),
        )

    def get_head(self, tenant_id: str, definition_id: str) -> DefinitionHead | None:
        item = self.client.get_item(
            TableName=self.table, Key={"pk": _s(tenant_id), "sk": _s(definition_id)}, ConsistentRead=True
        ).get("Item")
        return self._head(item) if item else None

    def get_version(self, tenant_id: str, definition_id: str, version: int) -> DefinitionVersion | None:
        item = self.client.get_item(
            TableName=self.table,
            Key={"pk": _s(f"{tenant_id}#{definition_id}"), "sk": _s(f"v{version:010d}")},
            ConsistentRead=True,
        ).get("Item")
        if not item:
            return None
        return DefinitionVersion(
            tenant_id=tenant_id,
            id=definition_id,
            version=version,
            document=json.loads(item["document"]["S"]),
            created_at=item["createdAt"]["S"],
        )

    def put_version(self, head: DefinitionHead, document: dict[str, Any], previous: DefinitionHead | None) -> None:
        head_item: dict[str, Any] = {
            "pk": _s(head.tenant_id),
            "sk": _s(head.id),
            "latestVersion": _n(head.latest_version),
            "createdAt": _s(head.created_at),
            "updatedAt": _s(head.updated_at),
            "deleted": {"BOOL": False},
        }
        if head.description:
            head_item["description"] = _s(head.description)
        head_put: dict[str, Any] = {"TableName": self.table, "Item": head_item}
        if previous is None:
            head_put["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            head_put["ConditionExpression"] = "latestVersion = :v AND deleted = :d"
            head_put["ExpressionAttributeValues"] = {
                ":v": _n(previous.latest_version),
                ":d": {"BOOL": previous.deleted},
            }
        version_put = {
            "TableName": self.table,
            "Item": {
                "pk": _s(f"{head.tenant_id}#{head.id}"),
                "sk": _s(f"v{head.latest_version:010d}"),
                "document": _s(json.dumps(document, separators=(",", ":"))),
                "createdAt": _s(head.updated_at),
            },
            "ConditionExpression": "attribute_not_exists(pk)",
        }
        try:
            self.client.transact_write_items(TransactItems=[{"Put": head_put}, {"Put": version_put}])
        except ClientError as exc:
            if _condition_failed(exc):
                raise Conflict(f"definition {head.id!r} was changed by another request; retry") from exc
            raise

    def mark_deleted(self, head: DefinitionHead, now: str) -> bool:
        try:
            self.client.update_item(
                TableName=self.table,
                Key={"pk": _s(head.tenant_id), "sk": _s(head.id)},
                UpdateExpression="SET deleted = :t, updatedAt = :now",
                ConditionExpression="deleted = :f",
                ExpressionAttributeValues={":t": {"BOOL": True}, ":f": {"BOOL": False}, ":now": _s(now)},
            )
        except ClientError as exc:
            if _condition_failed(exc):
                return False
            raise
        return True

    #: Items a listing query evaluates at least: deleted heads stay (version numbers
    #: continue after a delete) and are filtered out, so a small Limit would cost one
    #: request per deleted head.
    LIST_BATCH = 100

    def list_heads(self, tenant_id: str, limit: int, token: str | None) -> Page:
        start = tokens.decode(tenant_id, token)
        if start is not None and not self._is_head_key(start, tenant_id):
            # A token from another listing (or made up): DynamoDB would reject the key with a 500.
            raise BadRequest("nextToken is not valid here: pass back the value a listing returned")
        heads: list[DefinitionHead] = []
        position = start
        while True:
            args: dict[str, Any] = {
                "TableName": self.table,
                "KeyConditionExpression": "pk = :pk",
                "FilterExpression": "deleted = :f",
                "ExpressionAttributeValues": {":pk": _s(tenant_id), ":f": {"BOOL": False}},
                "Limit": max(limit, self.LIST_BATCH),
            }
            if position:
                args["ExclusiveStartKey"] = position
            response = self.client.query(**args)
            items = response.get("Items", [])
            position = response.get("LastEvaluatedKey")
            for index, item in enumerate(items):
                heads.append(self._head(item))
                if len(heads) == limit:
                    # The page ends at this head; the next one starts after it, if anything follows.
                    more = index < len(items) - 1 or position is not None
                    last = {"pk": item["pk"], "sk": item["sk"]}
                    return Page(heads, tokens.encode(tenant_id, last) if more else None)
            if position is None:
                return Page(heads, None)

    @staticmethod
    def _is_head_key(key: dict[str, Any], tenant_id: str) -> bool:
        """True for the key of one of ``tenant_id``'s definition heads."""
        sort = key.get("sk")
        return (
            set(key) == {"pk", "sk"}
            and key["pk"] == _s(tenant_id)
            and isinstance(sort, dict)
            and set(sort) == {"S"}
            and isinstance(sort["S"], str)
        )


class DynamoExecutionStore:
    def __init__(self, client: Any, table: str, history_table: str) -> None:
        self.client = client
        self.table = table
        self.history_table = history_table

    @staticmethod
    def _item(head: Execution) -> dict[str, Any]:
        item = {
            **execution_key(head.tenant_id, head.key),
            "seq": _n(head.seq),
            "state": _s(head.state),
            "doc": _s(json.dumps(head.to_document(), separators=(",", ":"))),
        }
        if head.parent_key is None:  # children stay out of the by-definition index (sparse)
            item["dpk"] = _s(f"{head.tenant_id}#{head.definition_id}")
        return item

    @staticmethod
    def _head(item: dict[str, Any]) -> Execution:
        return Execution.from_document(json.loads(item["doc"]["S"]))

    def create(self, head: Execution) -> bool:
        try:
            self.client.put_item(
                TableName=self.table, Item=self._item(head), ConditionExpression="attribute_not_exists(pk)"
            )
        except ClientError as exc:
            if _condition_failed(exc):
                return False
            raise
        return True

    def get(self, tenant_id: str, key: str) -> Execution | None:
        item = self.client.get_item(TableName=self.table, Key=execution_key(tenant_id, key), ConsistentRead=True).get(
            "Item"
        )
        return self._head(item) if item else None

    def commit(self, head: Execution, expected_seq: int) -> bool:
        try:
            self.client.put_item(
                TableName=self.table,
                Item=self._item(head),
                ConditionExpression="seq = :expected",
                ExpressionAttributeValues={":expected": _n(expected_seq)},
            )
        except ClientError as exc:
            if _condition_failed(exc):
                return False
            raise
        return True

    def delete_unstarted(self, head: Execution) -> None:
        try:
            self.client.delete_item(
                TableName=self.table,
                Key=execution_key(head.tenant_id, head.key),
                ConditionExpression="seq = :zero AND #state = :submitted",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={":zero": _n(0), ":submitted": _s(SUBMITTED)},
            )
        except ClientError as exc:
            if not _condition_failed(exc):
                raise

    def list_executions(
        self,
        tenant_id: str,
        limit: int,
        token: str | None,
        states: Sequence[str],
        definition_id: str | None,
        parent_key: str | None = None,
    ) -> Page:
        """Top-level executions: the tenant's partition, newest first. Iterations: their
        parent's partition (``tenant#parent``), in (step attempt, index) order; the fan-out
        records there (they have no ``state``) are filtered out."""
        wanted = set(states)
        if definition_id is None:

            def query(count: int, position: dict[str, Any] | None) -> dict[str, Any]:
                args: dict[str, Any] = {
                    "TableName": self.table,
                    "KeyConditionExpression": "pk = :pk",
                    "ExpressionAttributeValues": {
                        ":pk": _s(tenant_id if parent_key is None else f"{tenant_id}#{parent_key}")
                    },
                    "ScanIndexForward": parent_key is not None,
                    "Limit": count,
                }
                filters = ["attribute_exists(#state)"] if parent_key is not None else []
                if wanted:
                    names = [f":s{i}" for i in range(len(wanted))]
                    filters.append(f"#state IN ({', '.join(names)})")
                    args["ExpressionAttributeValues"].update(
                        {n: _s(s) for n, s in zip(names, sorted(wanted), strict=True)}
                    )
                if filters:
                    args["FilterExpression"] = " AND ".join(filters)
                    args["ExpressionAttributeNames"] = {"#state": "state"}
                if position:
                    args["ExclusiveStartKey"] = position
                return dict(self.client.query(**args))

            items, position = _fill(
                query, limit, tokens.decode(tenant_id, token), lambda raw: [self._head(i) for i in raw]
            )
        else:

            def query(count: int, position: dict[str, Any] | None) -> dict[str, Any]:
                args: dict[str, Any] = {
                    "TableName": self.table,
                    "IndexName": BY_DEFINITION_INDEX,
                    "KeyConditionExpression": "dpk = :dpk",
                    "ExpressionAttributeValues": {":dpk": _s(f"{tenant_id}#{definition_id}")},
                    "ScanIndexForward": False,
                    "Limit": count,
                }
                if position:
                    args["ExclusiveStartKey"] = position
                return dict(self.client.query(**args))

            def keep(raw: list[dict[str, Any]]) -> list[Execution]:
                heads = self._batch_get([item["sk"]["S"] for item in raw], tenant_id)
                return [h for h in heads if not wanted or h.state in wanted]

            items, position = _fill(query, limit, tokens.decode(tenant_id, token), keep)
        return Page(items, tokens.encode(tenant_id, position))

    def _batch_get(self, keys: list[str], tenant_id: str) -> list[Execution]:
        found: dict[str, Execution] = {}
        for start in range(0, len(keys), 100):
            request: dict[str, Any] = {
                self.table: {"Keys": [{"pk": _s(tenant_id), "sk": _s(k)} for k in keys[start : start + 100]]}
            }
            while request:
                response = self.client.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self.table, []):
                    found[item["sk"]["S"]] = self._head(item)
                request = response.get("UnprocessedKeys") or {}
        return [found[k] for k in keys if k in found]

    def put_history(self, head: Execution) -> None:
        events = head.pending_events
        self.client.put_item(
            TableName=self.history_table,
            Item={
                "pk": _s(f"{head.tenant_id}#{head.key}"),
                "sk": _n(events[0]["id"]),
                "seq": _n(head.seq),
                "events": _s(json.dumps(events, separators=(",", ":"))),
            },
        )

    def history(self, tenant_id: str, key: str, limit: int, token: str | None) -> Page:
        start = (tokens.decode(tenant_id, token) or {}).get("from", 0)
        events: list[dict[str, Any]] = []
        position: dict[str, Any] | None = None
        while True:
            args: dict[str, Any] = {
                "TableName": self.history_table,
                "KeyConditionExpression": "pk = :pk AND sk >= :from",
                "ExpressionAttributeValues": {":pk": _s(f"{tenant_id}#{key}"), ":from": _n(int(start))},
                "Limit": max(1, min(limit, 100)),
            }
            if position:
                args["ExclusiveStartKey"] = position
            response = self.client.query(**args)
            for item in response.get("Items", []):
                if len(events) >= limit:
                    return Page(events, tokens.encode(tenant_id, {"from": int(item["sk"]["N"])}))
                events.extend(json.loads(item["events"]["S"]))
            position = response.get("LastEvaluatedKey")
            if position is None:
                return Page(events, None)

    def claim_name(self, tenant_id: str, definition_id: str, name: str, key: str, input_hash: str) -> tuple[str, str]:
        item_key = {"pk": _s(f"{tenant_id}#name"), "sk": _s(f"{definition_id}#{name}")}
        try:
            self.client.put_item(
                TableName=self.table,
                Item={**item_key, "key": _s(key), "inputHash": _s(input_hash)},
                ConditionExpression="attribute_not_exists(pk)",
            )
            return key, input_hash
        except ClientError as exc:
            if not _condition_failed(exc):
                raise
        item = self.client.get_item(TableName=self.table, Key=item_key, ConsistentRead=True)["Item"]
        return item["key"]["S"], item["inputHash"]["S"]


class DynamoIterationStore:
    """Fan-out records in the executions table, in the parent's partition ``tenant#parent``:
    the counter (``sk=instance#map``), the inputs in chunks (``instance#i#chunk``), one
    result per iteration (``instance#r#index``) and one completion bucket per ``BUCKET``
    iterations (``instance#b#bucket``). Each iteration costs a constant number of requests
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
        for start in range(0, len(requests), 25):
            pending: dict[str, Any] = {self.table: requests[start : start + 25]}
            while pending:
                pending = self.client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
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
