"""Execution heads, their history, listings and idempotency names."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sedo.adapters import tokens
from sedo.adapters.dynamodb.common import (
    BY_DEFINITION_INDEX,
    BY_DUE_INDEX,
    _fill,
    _n,
    _s,
    batch_write,
    conditional,
    execution_key,
    put_once,
)
from sedo.adapters.dynamodb.headdoc import doc_value, head_of
from sedo.domain import liveness
from sedo.domain.execution import SUBMITTED, Execution
from sedo.domain.limits import MAX_WAIT_SECONDS
from sedo.domain.timefmt import parse_ts
from sedo.service_layer.ports import Page


class DynamoExecutionStore:
    def __init__(self, client: Any, table: str, history_table: str, retention_days: int = 0) -> None:
        self.client = client
        self.table = table
        self.history_table = history_table
        #: Finished heads and their history carry ``expiresAt`` (DynamoDB TTL) this long after
        #: the end; 0 keeps everything.
        self.retention_seconds = retention_days * 86400

    def _expires_at(self, head: Execution) -> int:
        """History of a finished execution expires with its head; earlier segments' history
        cannot know the end yet, so it keeps a year more (the longest wait) on top."""
        if head.finished:
            return (
                int(parse_ts(head.ended_at or head.updated_at or head.created_at).timestamp()) + self.retention_seconds
            )
        written = parse_ts(head.updated_at or head.created_at).timestamp()
        return int(written) + self.retention_seconds + MAX_WAIT_SECONDS

    def _item(self, head: Execution) -> dict[str, Any]:
        item = head_item(head)
        if head.finished and self.retention_seconds:
            item["expiresAt"] = _n(self._expires_at(head))
        return item

    @staticmethod
    def _head(item: dict[str, Any]) -> Execution:
        return head_of(item)

    def create(self, head: Execution) -> bool:
        return put_once(
            self.client, TableName=self.table, Item=self._item(head), ConditionExpression="attribute_not_exists(pk)"
        )

    def get(self, tenant_id: str, key: str) -> Execution | None:
        item = self.client.get_item(TableName=self.table, Key=execution_key(tenant_id, key), ConsistentRead=True).get(
            "Item"
        )
        return self._head(item) if item else None

    def commit(self, head: Execution, expected_seq: int) -> bool:
        """One conditional write; True also when botocore's retry met this very write."""
        return put_once(
            self.client,
            TableName=self.table,
            Item=self._item(head),
            ConditionExpression="seq = :expected",
            ExpressionAttributeValues={":expected": _n(expected_seq)},
        )

    def delete_unstarted(self, head: Execution) -> None:
        conditional(
            self.client.delete_item,
            TableName=self.table,
            Key=execution_key(head.tenant_id, head.key),
            ConditionExpression="seq = :zero AND #state = :submitted",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues={":zero": _n(0), ":submitted": _s(SUBMITTED)},
        )

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

    def _history_item(self, head: Execution) -> dict[str, Any]:
        events = head.pending_events
        item = {
            "pk": _s(f"{head.tenant_id}#{head.key}"),
            "sk": _n(events[0]["id"]),
            "seq": _n(head.seq),
            "events": _s(json.dumps(events, separators=(",", ":"))),
        }
        if self.retention_seconds:
            item["expiresAt"] = _n(self._expires_at(head))
        return item

    def put_history(self, head: Execution) -> None:
        self.client.put_item(TableName=self.history_table, Item=self._history_item(head))

    def put_histories(self, heads: Sequence[Execution]) -> None:
        requests = [{"PutRequest": {"Item": self._history_item(h)}} for h in heads]
        batch_write(self.client, self.history_table, requests)

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
        claimed = conditional(
            self.client.put_item,
            TableName=self.table,
            Item={**item_key, "key": _s(key), "inputHash": _s(input_hash)},
            ConditionExpression="attribute_not_exists(pk)",
        )
        if claimed is not None:
            return key, input_hash
        item = self.client.get_item(TableName=self.table, Key=item_key, ConsistentRead=True)["Item"]
        return item["key"]["S"], item["inputHash"]["S"]

    # -- the sweepers' index --------------------------------------------------------

    def due(self, shard: str, before: int, limit: int, start: str | None) -> tuple[list[Execution], str | None]:
        query: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": BY_DUE_INDEX,
            "KeyConditionExpression": "dueShard = :shard AND dueAt <= :before",
            "ExpressionAttributeValues": {":shard": _s(shard), ":before": _n(before)},
            "Limit": limit,
        }
        if start:
            query["ExclusiveStartKey"] = json.loads(start)
        response = self.client.query(**query)
        keys = [{"pk": item["pk"], "sk": item["sk"]} for item in response.get("Items", [])]
        heads: list[Execution] = []
        for offset in range(0, len(keys), 100):
            pending: dict[str, Any] = {self.table: {"Keys": keys[offset : offset + 100], "ConsistentRead": True}}
            while pending:
                got = self.client.batch_get_item(RequestItems=pending)
                heads.extend(self._head(item) for item in got.get("Responses", {}).get(self.table, []))
                pending = got.get("UnprocessedKeys") or {}
        following = response.get("LastEvaluatedKey")
        return heads, json.dumps(following, separators=(",", ":")) if following else None

    def reschedule(self, head: Execution) -> bool:
        return self.commit(head, head.seq)


def head_item(head: Execution) -> dict[str, Any]:
    """The item a head is stored as (without its retention: see DynamoExecutionStore._item)."""
    item = {
        **execution_key(head.tenant_id, head.key),
        "seq": _n(head.seq),
        "state": _s(head.state),
        "doc": doc_value(head.compact_document()),
    }
    if head.parent_key is None:  # children stay out of the by-definition index (sparse)
        item["dpk"] = _s(f"{head.tenant_id}#{head.definition_id}")
    if head.due_at is not None and not head.finished:  # the sweepers' index (sparse)
        item["dueShard"] = _s(liveness.shard_of(head.tenant_id, head.key))
        item["dueAt"] = _n(head.due_at)
    return item
