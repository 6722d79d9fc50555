"""In-memory adapters: fakes for fast unit tests of the core. Not for the local stack."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sedo.adapters import tokens
from sedo.domain import liveness
from sedo.domain.errors import Conflict
from sedo.domain.execution import SUBMITTED, Execution, history_in_head
from sedo.domain.liveness import DueWindow
from sedo.service_layer.ports import DefinitionHead, DefinitionVersion, HeadVersion, Page, PageLease


def _page(items: list[Any], tenant_id: str, limit: int, token: str | None) -> Page:
    offset = int((tokens.decode(tenant_id, token) or {}).get("offset", 0))
    chunk = items[offset : offset + limit]
    more = offset + limit < len(items)
    return Page(chunk, tokens.encode(tenant_id, {"offset": offset + limit}) if more else None)


class MemoryDefinitionStore:
    def __init__(self) -> None:
        self.heads: dict[tuple[str, str], DefinitionHead] = {}
        self.versions: dict[tuple[str, str, int], DefinitionVersion] = {}

    def get_head(self, tenant_id: str, definition_id: str, consistent: bool = True) -> DefinitionHead | None:
        return self.heads.get((tenant_id, definition_id))

    def get_version(self, tenant_id: str, definition_id: str, version: int) -> DefinitionVersion | None:
        return self.versions.get((tenant_id, definition_id, version))

    def put_version(self, head: DefinitionHead, document: dict[str, Any], previous: DefinitionHead | None) -> None:
        if self.heads.get((head.tenant_id, head.id)) != previous:
            raise Conflict(f"definition {head.id!r} was changed by another request; retry")
        self.heads[(head.tenant_id, head.id)] = head
        self.versions[(head.tenant_id, head.id, head.latest_version)] = DefinitionVersion(
            head.tenant_id, head.id, head.latest_version, json.loads(json.dumps(document)), head.updated_at
        )

    def mark_deleted(self, head: DefinitionHead, now: str) -> bool:
        current = self.heads.get((head.tenant_id, head.id))
        if current is None or current.deleted:
            return False
        self.heads[(head.tenant_id, head.id)] = replace(current, deleted=True, updated_at=now)
        return True

    def list_heads(self, tenant_id: str, limit: int, token: str | None) -> Page:
        live = sorted((h for (t, _), h in self.heads.items() if t == tenant_id and not h.deleted), key=lambda h: h.id)
        return _page(live, tenant_id, limit, token)


class MemoryExecutionStore:
    def __init__(self) -> None:
        self.heads: dict[tuple[str, str], dict[str, Any]] = {}
        self.segments: dict[tuple[str, str], dict[int, list[dict[str, Any]]]] = {}
        self.names: dict[tuple[str, str, str], tuple[str, str]] = {}
        self.writes = 0
        self.mark: int | None = None  # the sweepers' (liveness.visit)

    def create(self, head: Execution) -> bool:
        if (head.tenant_id, head.key) in self.heads:
            return False
        self.heads[(head.tenant_id, head.key)] = copy.deepcopy(head.to_document())
        return True

    def get(self, tenant_id: str, key: str) -> Execution | None:
        document = self.heads.get((tenant_id, key))
        return Execution.from_document(copy.deepcopy(document)) if document else None

    def commit(self, head: Execution, expected_seq: int, *, listing: bool = True) -> bool:
        current = self.heads.get((head.tenant_id, head.key))
        if current is None or current["seq"] != expected_seq:
            return False
        self.writes += 1
        self.heads[(head.tenant_id, head.key)] = copy.deepcopy(head.to_document())
        return True

    def due(self, shard: str, window: DueWindow, limit: int, start: str | None) -> tuple[list[Execution], str | None]:
        due = sorted(
            (d["due_at"], t, k)
            for (t, k), d in self.heads.items()
            if d.get("due_at") is not None and d["due_at"] <= window.before and liveness.shard_of(t, k) == shard
        )
        offset = int(start or 0)
        page = [e for e in due[offset : offset + limit] if window.visits(e[0])]
        following = str(offset + limit) if offset + limit < len(due) else None
        return [Execution.from_document(copy.deepcopy(self.heads[(t, k)])) for _, t, k in page], following

    def sweep_mark(self) -> int | None:
        return self.mark

    def mark_swept(self, until: int) -> None:
        self.mark = until

    def reschedule(self, head: Execution) -> bool:
        return self.commit(head, head.seq)

    def delete_unstarted(self, head: Execution) -> None:
        current = self.heads.get((head.tenant_id, head.key))
        if current and current["seq"] == 0 and current["state"] == SUBMITTED:
            del self.heads[(head.tenant_id, head.key)]

    def list_executions(
        self, tenant_id: str, limit: int, token: str | None, states: Sequence[str], definition_id: str | None
    ) -> Page:
        heads = self._heads(tenant_id, None, states, definition_id)
        heads.sort(key=lambda h: h.key, reverse=True)
        return _page(heads, tenant_id, limit, token)

    def list_iterations(
        self, tenant_id: str, parent_key: str, limit: int, token: str | None, states: Sequence[str]
    ) -> Page:
        heads = self._heads(tenant_id, parent_key, states, None)
        heads.sort(key=lambda h: (h.key.rsplit(".", 2)[1].zfill(10), h.index or 0))
        return _page(heads, tenant_id, limit, token)

    def _heads(
        self, tenant_id: str, parent_key: str | None, states: Sequence[str], definition_id: str | None
    ) -> list[Execution]:
        return [
            Execution.from_document(copy.deepcopy(d))
            for (t, _), d in self.heads.items()
            if t == tenant_id
            and d.get("parent_key") == parent_key
            and (definition_id is None or d["definition_id"] == definition_id)
            and (not states or d["state"] in states)
        ]

    def put_history(self, head: Execution) -> None:
        segments = self.segments.setdefault((head.tenant_id, head.key), {})
        segments[head.pending_events[0]["id"]] = copy.deepcopy(head.pending_events)

    def write_flushed(
        self, heads: Sequence[Execution], history_written: AbstractSet[HeadVersion] = frozenset()
    ) -> None:
        for head in heads:  # listings read the heads themselves: only history to write
            if (head.tenant_id, head.key, head.seq) in history_written:
                continue
            if head.pending_events and not history_in_head(head):
                self.put_history(head)

    def events(self, tenant_id: str, key: str) -> list[dict[str, Any]]:
        segments = self.segments.get((tenant_id, key), {})
        return [event for first in sorted(segments) for event in segments[first]]

    def history(self, tenant_id: str, key: str, limit: int, token: str | None) -> Page:
        return _page(self.events(tenant_id, key), tenant_id, limit, token)

    def claim_name(self, tenant_id: str, definition_id: str, name: str, key: str, input_hash: str) -> tuple[str, str]:
        return self.names.setdefault((tenant_id, definition_id, name), (key, input_hash))


class MemoryQueue:
    """Records what was sent; tests deliver messages however they like."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.fail_next = 0

    def send(self, messages: Sequence[dict[str, Any]]) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise RuntimeError("injected queue failure")
        self.sent.extend(copy.deepcopy(list(messages)))

    def drain(self) -> list[dict[str, Any]]:
        sent, self.sent = self.sent, []
        return sent


@dataclass
class _Page:
    owner: str
    until: datetime
    done: bool = False


class MemoryIterationStore:
    def __init__(self, executions: MemoryExecutionStore) -> None:
        self.executions = executions
        self.pages: dict[tuple[str, str, int, int], _Page] = {}
        self.counters: dict[tuple[str, str, int], Any] = {}
        self.inputs: dict[tuple[str, str, int], list[Any]] = {}
        self.recorded: dict[tuple[str, str, int], dict[int, dict[str, Any]]] = {}

    def create(self, tenant_id: str, parent_key: str, instance: int, counter: Any, inputs: list[Any]) -> None:
        key = (tenant_id, parent_key, instance)
        self.inputs[key] = copy.deepcopy(inputs)
        self.counters.setdefault(key, counter)

    def counter(self, tenant_id: str, parent_key: str, instance: int) -> Any:
        return self.counters.get((tenant_id, parent_key, instance))

    def item(self, tenant_id: str, parent_key: str, instance: int, index: int) -> Any:
        return copy.deepcopy(self.inputs[(tenant_id, parent_key, instance)][index])

    def record(self, tenant_id: str, parent_key: str, instance: int, result: dict[str, Any], total: int) -> Any:
        index, succeeded = int(result["index"]), bool(result["succeeded"])
        key = (tenant_id, parent_key, instance)
        results = self.recorded.setdefault(key, {})
        if key not in self.counters:
            return None
        if index not in results:
            results[index] = copy.deepcopy(result)
            c = self.counters[key]
            self.counters[key] = replace(
                c,
                done=c.done + 1,
                succeeded=c.succeeded + (1 if succeeded else 0),
                failed=c.failed + (0 if succeeded else 1),
                bytes=c.bytes + len(json.dumps(result, separators=(",", ":"))),
            )
        return self.counters[key]

    def progress(self, tenant_id: str, parent_key: str, instance: int) -> dict[str, int] | None:
        counter = self.counters.get((tenant_id, parent_key, instance))
        return counter.progress() if counter else None

    def close(self, tenant_id: str, parent_key: str, instance: int) -> None:
        key = (tenant_id, parent_key, instance)
        if key in self.counters:
            self.counters[key] = replace(self.counters[key], closed=True)

    def is_closed(self, tenant_id: str, parent_key: str, instance: int, index: int) -> bool:
        counter = self.counters.get((tenant_id, parent_key, instance))
        return counter is not None and bool(counter.closed)

    def results(
        self, tenant_id: str, parent_key: str, instance: int, failed_only: bool = False, limit: int | None = None
    ) -> list[dict[str, Any]]:
        results = self.recorded.get((tenant_id, parent_key, instance), {})
        found = [copy.deepcopy(results[i]) for i in sorted(results) if not (failed_only and results[i]["succeeded"])]
        return found[:limit] if limit is not None else found

    def results_page(self, tenant_id: str, parent_key: str, instance: int, start: int, limit: int) -> list[Any]:
        return [r for r in self.results(tenant_id, parent_key, instance) if start <= r["index"] < start + limit]

    def record_many(
        self, tenant_id: str, parent_key: str, instance: int, results: list[dict[str, Any]], total: int
    ) -> Any:
        latest = None
        for result in results:
            latest = self.record(tenant_id, parent_key, instance, result, total) or latest
        return latest

    def lookup(self, tenant_id: str, parent_key: str, instance: int, index: int) -> tuple[bool, dict[str, Any] | None]:
        head = self.executions.get(tenant_id, f"{parent_key}.{instance}.{index}")
        result = self.recorded.get((tenant_id, parent_key, instance), {}).get(index)
        return head is not None, copy.deepcopy(result)

    def children(
        self, tenant_id: str, parent_key: str, instance: int, after: int, limit: int
    ) -> tuple[list[Execution], int | None]:
        prefix = f"{parent_key}.{instance}."
        heads = sorted(
            (
                Execution.from_document(copy.deepcopy(d))
                for (t, k), d in self.executions.heads.items()
                if t == tenant_id and k.startswith(prefix) and d["index"] >= after
            ),
            key=lambda h: h.index or 0,
        )
        page = heads[:limit]
        return page, (page[-1].index or 0) + 1 if len(heads) > limit else None

    def claim_page(
        self, tenant_id: str, parent_key: str, instance: int, after: int, owner: str, now: datetime, until: datetime
    ) -> PageLease:
        key = (tenant_id, parent_key, instance, after)
        page = self.pages.get(key)
        if page is not None and (page.done or page.until >= now):
            return PageLease(held=False, done=page.done, until=None if page.done else page.until)
        self.pages[key] = _Page(owner, until)
        return PageLease(held=True)

    def finish_page(self, tenant_id: str, parent_key: str, instance: int, after: int, owner: str) -> None:
        page = self.pages.get((tenant_id, parent_key, instance, after))
        if page is not None and page.owner == owner:
            page.done = True

    def existing_children(self, tenant_id: str, keys: Sequence[str]) -> dict[str, Execution]:
        found = (self.executions.get(tenant_id, key) for key in keys)
        return {head.key: head for head in found if head is not None}

    def put_children(self, heads: Sequence[Execution]) -> None:
        for head in heads:
            self.executions.heads[(head.tenant_id, head.key)] = copy.deepcopy(head.to_document())


class MemoryPayloadStore:
    """Values kept apart from heads, by (tenant, execution key, digest); counts writes."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, str, str], str] = {}
        self.writes = 0

    def put(self, tenant_id: str, key: str, values: Mapping[str, str]) -> None:
        for sha, text in values.items():
            self.writes += 1
            self.values[(tenant_id, key, sha)] = text

    def get(self, tenant_id: str, wanted: Sequence[tuple[str, str, int]]) -> dict[tuple[str, str], str]:
        return {
            (key, sha): self.values[(tenant_id, key, sha)]
            for key, sha, _ in wanted
            if (tenant_id, key, sha) in self.values
        }
