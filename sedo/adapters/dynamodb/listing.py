"""Listings over sharded index items (layout.py): a tenant's executions newest first, one
definition's, and an execution's iterations.

Each shard is queried lazily, a few entries at a time, and the shards are merged by their
sort key (execution keys sort by start time; a fan-out's child index by iteration index).
The heads of the merged entries are then read (BatchGetItem, strongly consistent): the
state shown and filtered on is always the head's. A list item's ``state`` (``open``, or the
final state) only narrows what is read: a state filter keeps open entries too, since the
commit that finishes an execution rewrites its list item just after the head.

Paging tokens hold the position after the last execution shown: ``before`` (the key)
for top-level listings, ``instance`` and ``index`` for iterations.
"""

from __future__ import annotations

import functools
import heapq
import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from sedo.adapters.dynamodb import layout
from sedo.adapters.dynamodb.common import BY_DEFINITION_INDEX, TableStore, _s, all_items, batch_get
from sedo.adapters.dynamodb.headdoc import head_of
from sedo.domain.errors import BadRequest
from sedo.domain.execution import Execution
from sedo.domain.iterations import child_key

#: Entries a shard's query asks for at first (it asks for more as the merge needs them).
SHARD_PAGE = 8
T = TypeVar("T")
_BAD_POSITION = "nextToken is not valid here: pass back the value a listing returned"


def _position(position: dict[str, Any] | None, *names: str) -> tuple[Any, ...] | None:
    if position is None:
        return None
    values = tuple(position.get(n) for n in names)
    if any(v is None for v in values):
        raise BadRequest(_BAD_POSITION)
    return values


class Listing(TableStore):
    # -- top-level ------------------------------------------------------------------------

    def top_level(
        self,
        tenant_id: str,
        limit: int,
        position: dict[str, Any] | None,
        states: set[str],
        definition_id: str | None,
    ) -> tuple[list[Execution], dict[str, Any] | None]:
        start = _position(position, "before")
        before = start[0] if start else None
        if before is not None and not isinstance(before, str):
            raise BadRequest(_BAD_POSITION)
        streams = [
            self._shard(tenant_id, shard, definition_id, before, states, max(SHARD_PAGE, limit // layout.LIST_SHARDS))
            for shard in range(layout.LIST_SHARDS)
        ]
        keys: Iterator[str] = heapq.merge(*streams, reverse=True)
        heads, last, more = self._fill(tenant_id, keys, str, limit, states)
        return heads, ({"before": last} if more and last is not None else None)

    def _shard(
        self, tenant_id: str, shard: int, definition_id: str | None, before: str | None, states: set[str], page: int
    ) -> Iterator[str]:
        """One shard's execution keys, newest first (pre-filtered by the list item's state)."""
        values: dict[str, Any] = {}
        if definition_id is None:
            args: dict[str, Any] = {"TableName": self.table, "KeyConditionExpression": "pk = :pk"}
            values[":pk"] = _s(layout.list_pk(tenant_id, shard))
            if states:  # the index of a definition holds keys only: its heads decide
                names = [f":s{i}" for i in range(len(states))]
                args["FilterExpression"] = f"#state IN ({', '.join([*names, ':open'])})"
                args["ExpressionAttributeNames"] = {"#state": "state"}
                values.update({n: _s(v) for n, v in zip(names, sorted(states), strict=True)})
                values[":open"] = _s(layout.OPEN)
        else:
            args = {"TableName": self.table, "IndexName": BY_DEFINITION_INDEX, "KeyConditionExpression": "dpk = :pk"}
            values[":pk"] = _s(layout.definition_pk(tenant_id, definition_id, shard))
        if before is not None:
            args["KeyConditionExpression"] += " AND sk < :before"
            values[":before"] = _s(before)
        args |= {"ExpressionAttributeValues": values, "ScanIndexForward": False, "Limit": page}
        for item in _paged(self.client, args, growth=4):
            yield item["sk"]["S"]

    # -- iterations -----------------------------------------------------------------------

    def children(
        self, tenant_id: str, parent_key: str, limit: int, position: dict[str, Any] | None, states: set[str]
    ) -> tuple[list[Execution], dict[str, Any] | None]:
        start = _position(position, "instance", "index")
        first_instance, first_index = (int(start[0]), int(start[1])) if start else (0, 0)
        heads: list[Execution] = []
        for instance in self.instances(tenant_id, parent_key):
            if instance < first_instance:
                continue
            after = first_index if instance == first_instance else 0
            indices = self.child_indices(tenant_id, parent_key, instance, after)
            found, last, more = self._fill(
                tenant_id, indices, functools.partial(child_key, parent_key, instance), limit - len(heads), states
            )
            heads.extend(found)
            if len(heads) >= limit:
                if more and last is not None:
                    return heads, {"instance": instance, "index": last + 1}
                return heads, self._after_instance(tenant_id, parent_key, instance)
        return heads, None

    def _after_instance(self, tenant_id: str, parent_key: str, instance: int) -> dict[str, Any] | None:
        later = [i for i in self.instances(tenant_id, parent_key) if i > instance]
        return {"instance": later[0], "index": 0} if later else None

    def instances(self, tenant_id: str, parent_key: str) -> list[int]:
        """The fan-out step attempts of an execution, in order (their counters' keys)."""
        items = all_items(
            self.client.query,
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": _s(f"{tenant_id}#{parent_key}"), ":prefix": _s("map#")},
            ProjectionExpression="sk",
        )
        return [int(item["sk"]["S"].removeprefix("map#")) for item in items]

    def child_indices(
        self, tenant_id: str, parent_key: str, instance: int, after: int, page: int = SHARD_PAGE
    ) -> Iterator[int]:
        """The indices of a fan-out's children from ``after`` on, in order (its shards merged)."""

        def shard(number: int) -> Iterator[int]:
            args = {
                "TableName": self.table,
                "KeyConditionExpression": "pk = :pk AND sk BETWEEN :low AND :high",
                "ExpressionAttributeValues": {
                    ":pk": layout.fan_pk(tenant_id, parent_key, instance, number),
                    ":low": _s(f"c#{after:06d}"),
                    ":high": _s("c#999999"),
                },
                "Limit": page,
                "ConsistentRead": True,  # a child created before its fan-out closed is listed
            }
            for item in _paged(self.client, args, growth=4):
                yield int(item["sk"]["S"].removeprefix("c#"))

        return heapq.merge(*(shard(n) for n in range(layout.FAN_SHARDS)))

    # -- reading the heads ----------------------------------------------------------------

    def heads(self, tenant_id: str, keys: list[str]) -> dict[str, Execution]:
        items = batch_get(self.client, self.table, [layout.head_key(tenant_id, k) for k in keys])
        found = (head_of(item) for item in items)
        return {head.key: head for head in found}

    def _fill(
        self, tenant_id: str, entries: Iterator[T], key_of: Callable[[T], str], limit: int, states: set[str]
    ) -> tuple[list[Execution], T | None, bool]:
        """Heads of ``entries`` in their order, up to ``limit`` kept (present, in ``states``):
        the heads, the last entry kept, and whether entries follow it."""
        kept: list[Execution] = []
        last: T | None = None
        while len(kept) < limit:
            batch = list(itertools.islice(entries, limit - len(kept)))
            if not batch:
                return kept, last, False
            found = self.heads(tenant_id, [key_of(e) for e in batch])
            for position, entry in enumerate(batch):
                head = found.get(key_of(entry))
                if head is None or (states and head.state not in states):
                    continue
                kept.append(head)
                last = entry
                if len(kept) >= limit:
                    return kept, last, position + 1 < len(batch) or _has_more(entries)
        return kept, last, _has_more(entries)


def _has_more(entries: Iterator[Any]) -> bool:
    return next(entries, None) is not None


def _paged(client: Any, args: dict[str, Any], growth: int) -> Iterable[dict[str, Any]]:
    """A Query's items page after page, each page ``growth`` times larger (a shard the merge
    keeps drawing from is probably long)."""
    query = dict(args)
    while True:
        response = client.query(**query)
        yield from response.get("Items", [])
        if "LastEvaluatedKey" not in response:
            return
        query["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        query["Limit"] = min(1000, int(query["Limit"]) * growth)
