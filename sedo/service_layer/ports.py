"""The small interfaces the services need; adapters implement them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sedo.domain.apinames import api_fields
from sedo.domain.execution import Execution
from sedo.domain.liveness import DueWindow

#: One committed version of a head: (tenant, key, seq).
HeadVersion = tuple[str, str, int]


@dataclass(frozen=True)
class DefinitionHead:
    """The pointer to an id's latest version (one per tenant and definition id)."""

    tenant_id: str
    id: str
    latest_version: int
    created_at: str
    updated_at: str
    deleted: bool = False
    description: str | None = None

    def summary(self) -> dict[str, Any]:
        body = api_fields(self, "id", "tenant_id")
        body["version"] = self.latest_version
        body.update(api_fields(self, "created_at", "updated_at"))
        if self.description:
            body["description"] = self.description
        return body


@dataclass(frozen=True)
class DefinitionVersion:
    tenant_id: str
    id: str
    version: int
    document: dict[str, Any]
    created_at: str


@dataclass(frozen=True)
class Page:
    items: Sequence[Any]
    next_token: str | None = None


class DefinitionStore(Protocol):
    def get_head(self, tenant_id: str, definition_id: str, consistent: bool = True) -> DefinitionHead | None:
        """The head; ``consistent=False`` (a start) may miss a change of the last second."""
        ...

    def get_version(self, tenant_id: str, definition_id: str, version: int) -> DefinitionVersion | None: ...

    def put_version(self, head: DefinitionHead, document: dict[str, Any], previous: DefinitionHead | None) -> None:
        """Store a new version and move the head to it, atomically.

        ``previous`` is the head the caller read (None when there was none); raises
        :class:`sedo.domain.errors.Conflict` if the head changed meanwhile.
        """
        ...

    def mark_deleted(self, head: DefinitionHead, now: str) -> bool: ...

    def list_heads(self, tenant_id: str, limit: int, token: str | None) -> Page: ...


class ExecutionStore(Protocol):
    def create(self, head: Execution) -> bool:
        """Put a new head; False if the key is taken."""
        ...

    def get(self, tenant_id: str, key: str) -> Execution | None:
        """Strongly consistent read of the head."""
        ...

    def commit(self, head: Execution, expected_seq: int, *, listing: bool = True) -> bool:
        """ONE conditional write guarded by ``seq = expected_seq``; False if another writer won.
        A commit that finishes (or reopens) a top-level execution then rewrites its list item,
        unless ``listing`` is False: the caller leaves that to :meth:`write_flushed`."""
        ...

    def delete_unstarted(self, head: Execution) -> None: ...

    def list_executions(
        self, tenant_id: str, limit: int, token: str | None, states: Sequence[str], definition_id: str | None
    ) -> Page:
        """Top-level executions, newest first."""
        ...

    def list_iterations(
        self, tenant_id: str, parent_key: str, limit: int, token: str | None, states: Sequence[str]
    ) -> Page:
        """The iterations of execution ``parent_key``, in (step attempt, index) order."""
        ...

    def put_history(self, head: Execution) -> None:
        """Write the head's pending history events under idempotent keys."""
        ...

    def write_flushed(
        self, heads: Sequence[Execution], history_written: AbstractSet[HeadVersion] = frozenset()
    ) -> None:
        """For committed heads, in as few writes as the store allows: each one's history item
        (unless its events stay in the head, ``history_in_head``, or it is in ``history_written``:
        a later wake-up of the batch wrote it before its own commit) and, for a top-level head
        that finished or was reopened, its list item (a batch's flush, sedo/service_layer/batchflush.py)."""
        ...

    def history(self, tenant_id: str, key: str, limit: int, token: str | None) -> Page: ...

    def claim_name(self, tenant_id: str, definition_id: str, name: str, key: str, input_hash: str) -> tuple[str, str]:
        """Reserve an idempotency key; returns the (key, input hash) that holds it."""
        ...

    def due(self, shard: str, window: DueWindow, limit: int, start: str | None) -> tuple[list[Execution], str | None]:
        """Unfinished heads of sweep shard ``shard`` whose index entry ``window`` visits (due by
        ``window.before``, epoch seconds; an entry a complete run saw only once its recheck is
        due), a page at a time (``start``: the token of the previous page). The entries it
        does not visit are not read."""
        ...

    def sweep_mark(self) -> int | None:
        """The moment of the last complete sweep run that left an entry in place (epoch
        seconds), None before the first."""
        ...

    def mark_swept(self, until: int) -> None:
        """Record a complete sweep run of everything due by ``until`` (one that kept an entry)."""
        ...

    def reschedule(self, head: Execution) -> bool:
        """Rewrite the head's sweep schedule (``due_at``), if its ``seq`` is still ``head.seq``."""
        ...


class PayloadStore(Protocol):
    """Values kept apart from execution heads (the claim check, sedo/domain/payloads.py), by
    tenant, execution key and the SHA-256 of their stored text."""

    def put(self, tenant_id: str, key: str, values: Mapping[str, str]) -> None:
        """Store values of execution ``key`` (digest -> compact JSON). Idempotent: a digest
        names one value, so writing it again changes nothing."""
        ...

    def get(self, tenant_id: str, wanted: Sequence[tuple[str, str, int]]) -> dict[tuple[str, str], str]:
        """The stored texts of ``(execution key, digest, bytes)``, by ``(key, digest)``; a value
        that is not stored is left out."""
        ...


class Queue(Protocol):
    def send(self, messages: Sequence[dict[str, Any]]) -> None:
        """Send wake-ups (each with its own ``delay``), batched; raise if any is not sent."""
        ...


class Clock(Protocol):
    def now(self) -> datetime: ...


@dataclass(frozen=True)
class IterationCounter:
    """The fan-in record of one fan-out step attempt: totals and what the children need.

    A store may count in batches: ``done``, ``succeeded`` and ``bytes`` may lag behind the
    iterations recorded, and ``failed`` may too, but none is ever ahead. When ``done``
    reaches ``total`` all four are exact."""

    total: int
    concurrency: int
    tolerated: int
    done: int = 0
    succeeded: int = 0
    failed: int = 0
    bytes: int = 0
    closed: bool = False
    branches: bool = False
    meta: dict[str, Any] | None = None  # definition id/version, child scope, tenant

    @property
    def running(self) -> int:
        started = self.total if self.closed else min(self.total, self.concurrency + self.done)
        return max(0, started - self.done)

    def progress(self) -> dict[str, int]:
        return {"total": self.total, "succeeded": self.succeeded, "failed": self.failed, "running": self.running}


@dataclass(frozen=True)
class PageLease:
    """The answer to a claim of one fan-out page (see :meth:`IterationStore.claim_page`)."""

    held: bool  # the caller holds the page until its ``until``
    done: bool = False  # the page was finished: nothing is left to do
    until: datetime | None = None  # when not held and not done: the live holder's lease end


class IterationStore(Protocol):
    """Storage of fan-out steps: counters, iteration inputs, results. Per-item work is O(1)."""

    def create(
        self, tenant_id: str, parent_key: str, instance: int, counter: IterationCounter, inputs: list[Any]
    ) -> None:
        """Create the counter and store the inputs (idempotent)."""
        ...

    def counter(self, tenant_id: str, parent_key: str, instance: int) -> IterationCounter | None: ...

    def item(self, tenant_id: str, parent_key: str, instance: int, index: int) -> Any: ...

    def record(
        self, tenant_id: str, parent_key: str, instance: int, result: dict[str, Any], total: int
    ) -> IterationCounter | None:
        """Store an iteration's result (the document, whose ``index`` and ``succeeded`` say
        which iteration it is and how it ended) and count it, exactly once however often it is called
        (redelivery calls it again, and must finish what a crashed call began).

        Returns the counter as it is after this call when the call wrote to it or found that
        it had been written for this iteration already (the caller then decides whether to
        wake the parent), None when it did not touch it."""
        ...

    def progress(self, tenant_id: str, parent_key: str, instance: int) -> dict[str, int] | None:
        """Live counts (total, succeeded, failed, running), for reading an execution."""
        ...

    def close(self, tenant_id: str, parent_key: str, instance: int) -> None: ...

    def is_closed(self, tenant_id: str, parent_key: str, instance: int, index: int) -> bool:
        """Whether :meth:`close` was called for the step attempt, as iteration ``index`` (just
        created) sees it: a strongly consistent read of a small item of the index's shard, so a
        child starting the next iteration never reads the counter."""
        ...

    def results(
        self, tenant_id: str, parent_key: str, instance: int, failed_only: bool = False, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Results in item order: ``{"index", "succeeded", "output"}`` or ``{..., "error", "cause"}``."""
        ...

    def results_page(self, tenant_id: str, parent_key: str, instance: int, start: int, limit: int) -> list[Any]:
        """The results of iterations ``start`` to ``start + limit - 1``, as :meth:`results`."""
        ...

    def record_many(
        self, tenant_id: str, parent_key: str, instance: int, results: list[dict[str, Any]], total: int
    ) -> IterationCounter | None:
        """:meth:`record` for several results (a fan-out page's inline iterations): the same
        exactly-once counts, with one bucket write per bucket rather than per result. Returns
        the counter as the last write to it left it, None when none touched it."""
        ...

    def lookup(self, tenant_id: str, parent_key: str, instance: int, index: int) -> tuple[bool, dict[str, Any] | None]:
        """Whether iteration ``index`` has a head (it is, or was, a child execution), and its
        result if it has one: what an inline iteration looks for before it runs (one read)."""
        ...

    def children(
        self, tenant_id: str, parent_key: str, instance: int, after: int, limit: int
    ) -> tuple[list[Execution], int | None]: ...

    # -- the pages of a fan-out's start (sedo.domain.iterations.start_page) -------------

    def claim_page(
        self, tenant_id: str, parent_key: str, instance: int, after: int, owner: str, now: datetime, until: datetime
    ) -> PageLease:
        """Take the page at ``after`` for ``owner`` until ``until``, unless it is done or another
        owner's lease has not ended by ``now``: one conditional write."""
        ...

    def finish_page(self, tenant_id: str, parent_key: str, instance: int, after: int, owner: str) -> None:
        """Mark the page done, if ``owner`` still holds it."""
        ...

    def existing_children(self, tenant_id: str, keys: Sequence[str]) -> dict[str, Execution]:
        """The child heads among ``keys`` that exist (strongly consistent), by key; batched."""
        ...

    def put_children(self, heads: Sequence[Execution]) -> None:
        """Write new child heads, batched and unconditionally: only for keys the caller read
        as missing while holding their page, so no head that may have started is overwritten."""
        ...
