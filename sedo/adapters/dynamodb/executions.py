"""Execution heads, their history, listings and idempotency names (keys: layout.py).

A head is the one item of its partition. Besides it, an execution has one index item,
written when its state class changes: a top-level execution's list item (created
``open``, rewritten with its final state when it finishes), a child's entry in its
fan-out's index (written once, when it is created). Each is written before the head it
indexes exists, so a listing never misses a head; a listing skips an entry whose head is
missing (a start that failed half-way) and reads the state from the heads."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from sedo.adapters import tokens
from sedo.adapters.dynamodb import layout
from sedo.adapters.dynamodb.common import (
    BY_DUE_INDEX,
    _n,
    _s,
    batch_write_tables,
    conditional,
    execution_key,
    put_once,
)
from sedo.adapters.dynamodb.headdoc import doc_value, head_of
from sedo.adapters.dynamodb.listing import Listing
from sedo.domain import liveness
from sedo.domain.execution import REDRIVEN, SUBMITTED, Execution, history_in_head
from sedo.domain.limits import MAX_WAIT_SECONDS
from sedo.domain.liveness import DueWindow
from sedo.domain.timefmt import parse_ts
from sedo.service_layer.ports import HeadVersion, Page

log = logging.getLogger("sedo.executions")

#: The sweepers' mark (liveness.visit): one item; no tenant's key starts with ``#``.
SWEEP_MARK_KEY = {"pk": _s("#sweeper"), "sk": _s("mark")}


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
        self._put_index(head, create=True)
        return put_once(
            self.client, TableName=self.table, Item=self._item(head), ConditionExpression="attribute_not_exists(pk)"
        )

    def _list_item(self, head: Execution) -> dict[str, Any]:
        item = layout.list_item(
            head.tenant_id, head.definition_id, head.key, head.state if head.finished else layout.OPEN
        )
        if head.finished and self.retention_seconds:
            item["expiresAt"] = _n(self._expires_at(head))
        return item

    def _put_index(self, head: Execution, create: bool = False) -> None:
        """The head's index item: before a new head (``create``), and when it finishes. A
        repeated create never reopens a finished execution's list item."""
        if head.parent_key is not None:
            if create:
                self.client.put_item(TableName=self.table, Item=child_index_item(head))
            return
        item = self._list_item(head)
        if not create:
            self.client.put_item(TableName=self.table, Item=item)
            return
        conditional(
            self.client.put_item,
            TableName=self.table,
            Item=item,
            ConditionExpression="attribute_not_exists(pk) OR #state = :open",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues={":open": _s(layout.OPEN)},
        )

    def get(self, tenant_id: str, key: str) -> Execution | None:
        item = self.client.get_item(TableName=self.table, Key=execution_key(tenant_id, key), ConsistentRead=True).get(
            "Item"
        )
        return self._head(item) if item else None

    def commit(self, head: Execution, expected_seq: int, *, listing: bool = True) -> bool:
        """One conditional write; True also when botocore's retry met this very write. The
        commit that finishes a top-level execution then rewrites its list item, unless
        ``listing`` is False (:meth:`write_flushed` does). A crash in between leaves it
        ``open``: listings read the state from the head, so nothing is listed wrongly, and a
        state filter reads open entries too."""
        committed = put_once(
            self.client,
            TableName=self.table,
            Item=self._item(head),
            ConditionExpression="seq = :expected",
            ExpressionAttributeValues={":expected": _n(expected_seq)},
        )
        if committed and listing and _relisted(head):
            try:
                self._put_index(head)
            except (ClientError, BotoCoreError):  # the commit stands; the list item stays open
                log.warning("could not mark %s finished in its listing", head.id, exc_info=True)
        return committed

    def delete_unstarted(self, head: Execution) -> None:
        deleted = conditional(
            self.client.delete_item,
            TableName=self.table,
            Key=execution_key(head.tenant_id, head.key),
            ConditionExpression="seq = :zero AND #state = :submitted",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues={":zero": _n(0), ":submitted": _s(SUBMITTED)},
        )
        if deleted is not None and head.parent_key is None:
            item = layout.list_item(head.tenant_id, head.definition_id, head.key, layout.OPEN)
            self.client.delete_item(TableName=self.table, Key={"pk": item["pk"], "sk": item["sk"]})

    def list_executions(
        self, tenant_id: str, limit: int, token: str | None, states: Sequence[str], definition_id: str | None
    ) -> Page:
        """Top-level executions newest first, through the list items (or, for one definition,
        the ``byDefinition`` index; listing.py)."""
        listing = Listing(self.client, self.table)
        position = tokens.decode(tenant_id, token)
        items, following = listing.top_level(tenant_id, limit, position, set(states), definition_id)
        return Page(items, tokens.encode(tenant_id, following))

    def list_iterations(
        self, tenant_id: str, parent_key: str, limit: int, token: str | None, states: Sequence[str]
    ) -> Page:
        """The execution's iterations in (step attempt, index) order, through its fan-outs'
        child index (listing.py)."""
        listing = Listing(self.client, self.table)
        position = tokens.decode(tenant_id, token)
        items, following = listing.children(tenant_id, parent_key, limit, position, set(states))
        return Page(items, tokens.encode(tenant_id, following))

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

    def write_flushed(
        self, heads: Sequence[Execution], history_written: AbstractSet[HeadVersion] = frozenset()
    ) -> None:
        """History items and list items of a batch's commits, 25 to a BatchWriteItem over both
        tables. A head flushed twice in the batch (a redelivery) is written once."""
        writes: dict[tuple[str, str, str], tuple[str, dict[str, Any]]] = {}
        for head in heads:
            items = []
            written = (head.tenant_id, head.key, head.seq) in history_written
            if head.pending_events and not history_in_head(head) and not written:
                items.append((self.history_table, self._history_item(head)))
            if head.parent_key is None and _relisted(head):
                items.append((self.table, self._list_item(head)))
            for table, item in items:
                key = (table, str(item["pk"]), str(item["sk"]))
                writes.pop(key, None)  # the later head's wins, as with puts one after the other
                writes[key] = (table, {"PutRequest": {"Item": item}})
        batch_write_tables(self.client, list(writes.values()))

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
        item_key = layout.name_key(tenant_id, definition_id, name)
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

    def due(self, shard: str, window: DueWindow, limit: int, start: str | None) -> tuple[list[Execution], str | None]:
        query: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": BY_DUE_INDEX,
            "KeyConditionExpression": "dueShard = :shard AND dueAt <= :before",
            "ExpressionAttributeValues": {":shard": _s(shard), ":before": _n(window.before)},
            "Limit": limit,
        }
        if start:
            query["ExclusiveStartKey"] = json.loads(start)
        response = self.client.query(**query)
        keys = [
            {"pk": item["pk"], "sk": item["sk"]}
            for item in response.get("Items", [])
            if window.visits(int(item["dueAt"]["N"]))  # decided from the index entry alone
        ]
        heads: list[Execution] = []
        for offset in range(0, len(keys), 100):
            pending: dict[str, Any] = {self.table: {"Keys": keys[offset : offset + 100], "ConsistentRead": True}}
            while pending:
                got = self.client.batch_get_item(RequestItems=pending)
                heads.extend(self._head(item) for item in got.get("Responses", {}).get(self.table, []))
                pending = got.get("UnprocessedKeys") or {}
        following = response.get("LastEvaluatedKey")
        return heads, json.dumps(following, separators=(",", ":")) if following else None

    def sweep_mark(self) -> int | None:
        # eventually consistent (half a read unit): a stale mark is an older one, which only
        # makes this run look at some heads again
        item = self.client.get_item(TableName=self.table, Key=SWEEP_MARK_KEY).get("Item")
        return int(item["until"]["N"]) if item else None

    def mark_swept(self, until: int) -> None:
        """One small write per sweep run (two runs that overlap may set it back: that only
        makes the next run look at some heads again)."""
        self.client.put_item(TableName=self.table, Item={**SWEEP_MARK_KEY, "until": _n(until)})

    def reschedule(self, head: Execution) -> bool:
        return self.commit(head, head.seq)


def _relisted(head: Execution) -> bool:
    """Whether a commit of ``head`` changes its list item: it finished, or a redrive reopened it."""
    return head.finished or any(e.get("type") == REDRIVEN for e in head.pending_events)


def head_item(head: Execution) -> dict[str, Any]:
    """The item a head is stored as (without its retention: see DynamoExecutionStore._item)."""
    item = {
        **execution_key(head.tenant_id, head.key),
        "seq": _n(head.seq),
        "state": _s(head.state),
        "doc": doc_value(head.compact_document()),
    }
    if head.due_at is not None and not head.finished:  # the sweepers' index (sparse)
        item["dueShard"] = _s(liveness.shard_of(head.tenant_id, head.key))
        item["dueAt"] = _n(head.due_at)
    return item


def child_index_item(head: Execution) -> dict[str, Any]:
    """A child's entry in its fan-out's index (``sk=c#<index>``, in a shard of the fan-out)."""
    assert head.parent_key is not None and head.index is not None
    _, instance, index = head.key.rsplit(".", 2)
    return layout.child_index_key(head.tenant_id, head.parent_key, int(instance), int(index))
