"""Fan-out and fan-in for map and parallel steps.

- ``start`` (on the parent's ``fanout`` wake-ups, after the parent committed its await):
  store the counter and the iteration inputs, start the first ``concurrency`` children, a
  page (``FAN_OUT_PAGE``) per wake-up, each page sending the next one's cursor.
- ``child_finished`` (after a child's final commit, and again on any redelivery): record
  its result and count it once (the store's idempotent writes refuse a second count); then start
  iteration ``index + concurrency`` (so at most ``concurrency`` run at once, each finishing
  one starting the next), and wake the parent when the last one is in (or when failures
  exceed the tolerance). Every step is idempotent, so redelivery repeats it harmlessly.
- ``gather`` (on the parent's ``fanin`` wake-up, sedo/service_layer/fanin.py): how the step
  ends. The parent's own conditional write makes it continue exactly once.
- ``sweep``: cancel the children still running, a page at a time.

A map in ``mode: inline`` runs an iteration that needs no waiting where its child would be
created, through the processor's :class:`InlineRunner` (docs/DESIGN.md, *Inline iterations*),
recorded as a finishing child's result. Per iteration the work is constant.
"""

from __future__ import annotations

import logging
import math
import secrets
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sedo.domain import engine
from sedo.domain.definition import Definition, DefinitionRef
from sedo.domain.execution import SUBMITTED, Execution, WakeUp
from sedo.domain.iterations import (
    INLINE_FAN_OUT_PAGE,
    child_key,
    child_scope,
    iteration_inputs,
    next_page,
    result_document,
    split_child_key,
    start_page,
)
from sedo.domain.payloads import Claims, Source
from sedo.domain.protocol import FanInAwait, WakeKind
from sedo.domain.steps.map import INLINE
from sedo.domain.timefmt import format_ts
from sedo.service_layer import fanin
from sedo.service_layer.flush import flush
from sedo.service_layer.inline import InlineBudget, InlineRunner, Materialized, Ran, inline_result
from sedo.service_layer.itemsource import S3MapPorts, S3Maps, fan_in, uses_s3
from sedo.service_layer.ports import Clock, ExecutionStore, IterationCounter, IterationStore, Queue
from sedo.service_layer.replays import Replays

if TYPE_CHECKING:
    from sedo.service_layer.payloads import PayloadService

log = logging.getLogger("sedo.iterations")

SWEEP_PAGE = 100
#: A fan-out page's lease: how long its holder may write the page's heads. It starts no
#: write later than PAGE_WRITE_MARGIN_SECONDS before the lease ends, so after the lease no
#: write of the holder can land; only then may another delivery of the page take over. On
#: AWS a crashed page comes back after the queue's visibility timeout (180 s), when its
#: lease has ended; a page that is fine takes 1-3 s (sedo.domain.iterations.FAN_OUT_PAGE).
PAGE_LEASE_SECONDS = 120
PAGE_WRITE_MARGIN_SECONDS = 90
#: Child heads per put_children call (one BatchWriteItem): the lease is checked before each.
#: One call and its retries take milliseconds, at worst (sedo.adapters.aws: 5 attempts of at
#: most 3 s to connect and 10 s to answer) about a minute, inside the margin.
PUT_CHUNK = 25
#: Carried from a fan-out's counter into its children (and from them to the successors they start).
CARRIED = ("reader", "replay", "inline")


#: A child's input, and where it is in its map's item source (None: not a map over S3).
Sourced = tuple[Any, Source | None]


class PageLeaseEnding(RuntimeError):
    """A fan-out page ran out of lease time before it was written: a later delivery goes on."""


def _cursor_wake(parent: Execution, kind: WakeKind, wake_id: str, after: int) -> WakeUp:
    """A wake-up ``wake_id`` of ``kind`` for the step attempt ``parent.instance``, at the cursor ``after``."""
    return WakeUp(parent.tenant_id, parent.key, 0, kind, wake_id, data={"instance": parent.instance, "after": after})


class IterationService:
    def __init__(
        self,
        store: IterationStore,
        executions: ExecutionStore,
        queue: Queue,
        clock: Clock,
        payloads: PayloadService | None = None,
        s3: S3MapPorts | None = None,
    ) -> None:
        self.store = store
        self.executions = executions
        self.queue = queue
        self.clock = clock
        #: Keeps a child's large input apart from its head (the claim check).
        self.payloads = payloads
        #: Maps whose items or results are in S3 (sedo/service_layer/itemsource.py).
        self.s3maps = S3Maps(s3, store, queue, payloads) if s3 is not None else None
        #: The succeeded results of redriven steps' failed attempts (immutable once failed).
        self._replays = Replays(store)
        #: Runs inline iterations (the processor sets itself); None: every iteration is a child.
        self.runner: InlineRunner | None = None
        self._budget = InlineBudget()

    def new_wake_up(self) -> None:
        """A wake-up begins on this thread: its inline iterations' budget starts afresh."""
        self._budget.renew()

    def new_batch(self, seconds_left: float) -> None:
        self._budget.batch_ends(seconds_left)

    def _may_inline(self, meta: dict[str, Any]) -> bool:
        return self.runner is not None and bool(meta.get("inline")) and self._budget.allows()

    # -- fan-out ------------------------------------------------------------------

    def start(self, parent: Execution, definition: Definition, after: int = 0, cursor: Any = None) -> None:
        """One page of the start: the iterations ``start_page(total, concurrency, after)``.

        The first page (``after`` 0) also stores the counter and the inputs (idempotent). A
        page holds a lease on its iterations while it writes their heads, so no two workers
        write the same page at once; it reads which heads exist (a redelivered page may have
        written and started some) and batch-writes only the missing ones, so no head that may
        have started is overwritten. Then their start messages and the next page's cursor go
        out, batched, and the page is marked done (a new child's ExecutionSubmitted stays in
        its head until its first segment: history_in_head).

        A map over S3 first indexes its item source (``cursor``: where the indexing is) and
        reads each page's inputs from it (sedo/service_layer/itemsource.py)."""
        awaiting = parent.awaiting
        assert isinstance(awaiting, FanInAwait)
        prepared = self._prepare(parent, definition, awaiting, after, cursor)
        if prepared is None:
            return
        counter, inputs = prepared
        inline = bool((counter.meta or {}).get("inline"))
        size = INLINE_FAN_OUT_PAGE if inline else None
        indices = start_page(counter.total, counter.concurrency, after, size)
        if not indices:
            return
        following = next_page(counter.total, counter.concurrency, after, size)
        now = self.clock.now()
        owner = secrets.token_hex(8)
        lease = self.store.claim_page(
            parent.tenant_id,
            parent.key,
            parent.instance,
            after,
            owner,
            now,
            now + timedelta(seconds=PAGE_LEASE_SECONDS),
        )
        if not lease.held:
            if not lease.done and lease.until is not None:  # another worker is on it: look again after its lease
                self.queue.send([self._page_wake(parent, after, now, lease.until).to_body()])
            return
        if inline and following is not None:  # the next page runs beside this one (a resend is harmless)
            self.queue.send([self._page_wake(parent, following).to_body()])
        deadline = now + timedelta(seconds=PAGE_LEASE_SECONDS - PAGE_WRITE_MARGIN_SECONDS)
        waiting, ran = self._write_page(parent, counter, inputs, indices, deadline)
        latest = self.store.counter(parent.tenant_id, parent.key, parent.instance)
        closed = latest is None or latest.closed
        if closed:
            # The step ended (cancel, failure, timeout) while this page wrote, and its sweep may
            # have paged past these heads: none starts, a sweep from here cancels them.
            sweep = _cursor_wake(parent, WakeKind.SWEEP, f"sweep.{parent.instance}.page.{after}", after)
            self.queue.send([sweep.to_body()])
        else:
            messages = [message for head in waiting for message in head.outbox]
            if following is not None and not inline:
                messages.append(self._page_wake(parent, following).to_body())
            self.queue.send(messages)
        # The iterations that ran inline: counted before the page is done (or else redone).
        self._count_all(parent.tenant_id, parent.key, parent.instance, counter, ran, closed)
        self.store.finish_page(parent.tenant_id, parent.key, parent.instance, after, owner)

    def _prepare(
        self, parent: Execution, definition: Definition, awaiting: FanInAwait, after: int, cursor: Any
    ) -> tuple[IterationCounter, list[Any] | None] | None:
        """The counter and the inputs (None: read from S3) a page starts children with; page 0
        stores them. A map over S3 first indexes its item source, a range per wake-up: None
        until that is done (and when the step failed, or has no children: its ``fanin`` is sent)."""
        step = definition.step(awaiting.step)
        counter = self._counter(parent, awaiting, inline=step.config.get("mode") == INLINE)
        reads = "itemReader" in step.config
        inputs = None if reads else iteration_inputs(definition, parent)
        if not uses_s3(step):
            assert inputs is not None
            if after == 0:
                self.store.create(parent.tenant_id, parent.key, parent.instance, counter, inputs)
            return counter, inputs
        indexed = self.store.counter(parent.tenant_id, parent.key, parent.instance) if reads and not cursor else None
        if indexed is not None:  # the counter, created at the end of the indexing, has the total
            counter = indexed
        elif after > 0 and reads:  # pragma: no cover - pages after 0 follow the counter's creation
            return None
        elif after == 0:
            created = self._s3maps().prepare(parent, step, counter, inputs, cursor)
            if created is None:
                return None
            counter = created
        if after == 0 and counter.total == 0:  # nothing to start: the manifest, or the failure
            self.queue.send([fan_in(parent.tenant_id, parent.key, parent.instance, "empty")])
            return None
        return counter, inputs

    def _write_page(
        self, parent: Execution, counter: IterationCounter, inputs: list[Any] | None, indices: range, deadline: datetime
    ) -> tuple[list[Execution], list[dict[str, Any]]]:
        """Write the heads (and child-index entries) of the page's children that do not exist;
        return those and the ones not started yet (in index order), whose starts are to be sent,
        and the results of the page's iterations that ran inline (``mode: inline``)."""
        replayed = self._replays(parent.tenant_id, parent.key, counter, indices)
        candidates = [i for i in indices if i not in replayed]  # a redrive takes the replayed over
        keys = [child_key(parent.key, parent.instance, i) for i in candidates]
        existing = self.store.existing_children(parent.tenant_id, keys)
        missing = [i for i, key in zip(candidates, keys, strict=True) if key not in existing]
        items: list[Sourced]
        if inputs is None:  # a map over S3: the page's items, read in few ranged reads
            read = self._s3maps().inputs_or_fail(
                parent.tenant_id, parent.key, parent.instance, counter.meta or {}, missing
            )
            items, missing = (list(read), missing) if read is not None else ([], [])
        else:
            items = [(inputs[i], None) for i in missing]
        ran: list[dict[str, Any]] = []
        if missing and self._may_inline(counter.meta or {}):
            missing, items, ran = self._page_inline(parent, counter, missing, items)
        created = [
            self._new_child(parent.tenant_id, parent.key, parent.instance, i, item, counter)
            for i, item in zip(missing, items, strict=True)
        ]
        for result in replayed.values():  # a redrive: what succeeded before is taken over
            self._count(parent.tenant_id, parent.key, parent.instance, counter, result)
        for start in range(0, len(created), PUT_CHUNK):
            self._within(deadline)
            self.store.put_children(created[start : start + PUT_CHUNK])
        # Created before a crash but not started: their start again (harmless twice). Their
        # ExecutionSubmitted stays in the head until the first segment (history_in_head).
        waiting = created + [h for h in existing.values() if h.seq == 0 and h.state == SUBMITTED]
        waiting.sort(key=lambda h: h.index or 0)
        return waiting, ran

    def _page_inline(
        self, parent: Execution, counter: IterationCounter, missing: list[int], items: list[Sourced]
    ) -> tuple[list[int], list[Sourced], list[dict[str, Any]]]:
        """Run a page's iterations that have no head inline while the budget lasts. Returns the
        ones left to start as children, and the results of those that finished inline (or had:
        a redelivered page finds their results and counts them again, idempotently)."""
        tenant_id, parent_key, instance = parent.tenant_id, parent.key, parent.instance
        latest = self.store.counter(tenant_id, parent_key, instance)
        if latest is None or latest.closed:
            return missing, items, []
        first = missing[0]
        found = self.store.results_page(tenant_id, parent_key, instance, first, missing[-1] - first + 1)
        recorded = {int(r["index"]): r for r in found}
        left: list[int] = []
        left_items: list[Sourced] = []
        results: list[dict[str, Any]] = []
        for index, item in zip(missing, items, strict=True):
            if index in recorded:
                results.append(recorded[index])
                continue
            ran = self._run_inline(tenant_id, parent_key, instance, index, item, counter, checked=True)
            if isinstance(ran, dict):
                results.append(ran)
            elif not ran:
                left.append(index)
                left_items.append(item)
        return left, left_items, results

    def _run_inline(
        self,
        tenant_id: str,
        parent_key: str,
        instance: int,
        index: int,
        item: Sourced,
        fan: IterationCounter,
        checked: bool = False,
        open_seen: bool = False,
    ) -> Ran:
        """Run iteration ``index`` inline if its map is in ``mode: inline`` and the wake-up's
        budget allows. Unless the caller ``checked`` already, a head of it means it is a child
        (not run), a result that it ran (the result); a step attempt that closed (looked at
        unless ``open_seen``: once per chain) that it must not run."""
        if not self._may_inline(fan.meta or {}):
            return False
        assert self.runner is not None
        if not checked:
            has_head, recorded = self.store.lookup(tenant_id, parent_key, instance, index)
            if recorded is not None:
                return recorded
            if has_head:
                return False  # a child (started, or created before a crash: _start_child sends its start)
            if not open_seen and self.store.is_closed(tenant_id, parent_key, instance, index):
                return True
        self._budget.spend()
        child = self._fresh_child(tenant_id, parent_key, instance, index, item, fan)
        after = self.runner.first_segment(child)
        if after is None:
            return False
        if after.finished and (result := inline_result(index, after)) is not None:
            return result
        made = self.runner.materialize(after, self._claims(child, item))
        if made is Materialized.TOO_LARGE:
            return False
        running = made is Materialized.CREATED and not after.finished
        if running and self.store.is_closed(tenant_id, parent_key, instance, index):  # as in _start_child
            stored = self.executions.get(tenant_id, after.key)
            if stored is not None:
                self._cancel(stored)
        return True

    @staticmethod
    def _counter(parent: Execution, awaiting: FanInAwait, inline: bool = False) -> IterationCounter:
        meta: dict[str, Any] = {
            "definitionId": parent.definition_id,
            "definitionVersion": parent.definition_version,
            "scope": [*parent.scope, awaiting.step],
            "parentId": parent.id,
        }
        if inline:
            meta["inline"] = True
        if parent.replay is not None and parent.replay.get("next") == parent.instance:
            meta["replay"] = parent.replay["instance"]  # a redriven step: see sedo/service_layer/replays.py
        return IterationCounter(
            total=awaiting.total,
            concurrency=awaiting.concurrency,
            tolerated=awaiting.tolerated,
            branches=awaiting.branches,
            meta=meta,
        )

    @staticmethod
    def _page_wake(parent: Execution, after: int, now: datetime | None = None, due: datetime | None = None) -> WakeUp:
        """The cursor of the page at ``after``; with ``due``: the same page, looked at again then."""
        wake = _cursor_wake(parent, WakeKind.FAN_OUT, f"fanout.{parent.instance}.{after}", after)
        if now is None or due is None:
            return wake
        due += timedelta(seconds=1)  # a lease has ended once ``now`` is past it
        delay = max(1, math.ceil((due - now).total_seconds()))
        return replace(wake, mid=f"{wake.mid}.later", due=format_ts(due), delay=delay)

    def _within(self, deadline: datetime) -> None:
        if self.clock.now() >= deadline:
            raise PageLeaseEnding("this fan-out page's lease is ending: its writes stop, a later delivery goes on")

    def _fresh_child(
        self, tenant_id: str, parent_key: str, instance: int, index: int, item: Sourced, counter: IterationCounter
    ) -> Execution:
        """A new child's head with its input ``item`` in it (unstored, nothing kept apart)."""
        value, _ = item
        meta = counter.meta or {}
        *parent_scope, step_id = meta["scope"]
        child = engine.start_execution(
            tenant_id=tenant_id,
            definition=DefinitionRef(str(meta["definitionId"]), int(meta["definitionVersion"])),
            input=value,
            key=child_key(parent_key, instance, index),
            now=self.clock.now(),
            nonce=secrets.token_hex(16),
            parent_key=parent_key,
            scope=child_scope(parent_scope, str(step_id), index, counter.branches),
            index=index,
        )
        child.fan = {"total": counter.total, "concurrency": counter.concurrency, "tolerated": counter.tolerated}
        # Where a map over S3's successors' items are, a redrive's takeovers (replays.py), inline.
        child.fan.update({k: meta[k] for k in CARRIED if k in meta})
        return child

    def _new_child(
        self, tenant_id: str, parent_key: str, instance: int, index: int, item: Sourced, counter: IterationCounter
    ) -> Execution:
        """A new child's head as stored, its input ``item`` with where it is in a map's item
        source (or None): a map over S3's child references its input there, so its head stays
        small (one write unit)."""
        child = self._fresh_child(tenant_id, parent_key, instance, index, item, counter)
        if self.payloads is None:
            return child
        return self.payloads.dehydrate(child, self._claims(child, item))

    @staticmethod
    def _claims(child: Execution, item: Sourced) -> Claims | None:
        value, source = item
        return Claims.at_source(value, source, child.key) if source is not None else None

    def _start_child(
        self, tenant_id: str, parent_key: str, instance: int, index: int, item: Sourced, counter: IterationCounter
    ) -> None:
        """Start iteration ``index`` (a finishing sibling's successor), unless the step
        attempt closed: the closed marker is read after the head is written, so a sweep that
        began after the close lists this child, or this call cancels it."""
        child = self._new_child(tenant_id, parent_key, instance, index, item, counter)
        if not self.executions.create(child):
            existing = self.executions.get(tenant_id, child.key)
            if existing is None or existing.seq != 0 or existing.state != SUBMITTED:
                return  # already running or done
            child = existing  # created before a crash: make sure its start was sent
        if self.store.is_closed(tenant_id, parent_key, instance, index):
            # The step ended (cancel, failure, timeout) since the sibling finished, and its sweep
            # may have paged past this index already: the child must not run.
            self._cancel(child)  # its history: its ExecutionSubmitted, then the cancel
            return
        flush(child, self.executions, self.queue)

    # -- fan-in -------------------------------------------------------------------

    def _fan_of(self, child: Execution, parent_key: str, instance: int) -> IterationCounter | None:
        """What the child's completion needs: carried in the child (no read), or, for a child
        stored without it, the counter."""
        if child.fan is not None:
            return IterationCounter(
                total=int(child.fan["total"]),
                concurrency=int(child.fan["concurrency"]),
                tolerated=int(child.fan["tolerated"]),
                branches=child.scope[-1:] != [] and "#" in child.scope[-1],
                meta={
                    "definitionId": child.definition_id,
                    "definitionVersion": child.definition_version,
                    "scope": [*child.scope[:-1], child.scope[-1].split("#", 1)[0]] if child.scope else [],
                    **{k: child.fan[k] for k in CARRIED if k in child.fan},
                },
            )
        return self.store.counter(child.tenant_id, parent_key, instance)

    def child_finished(self, child: Execution, closed: bool = False) -> None:
        """Record a finished child once; then start the next iteration and wake the parent
        when all are in (or failures exceed the tolerance). With ``closed`` (a child cancelled
        because its step attempt ended) it is only recorded."""
        assert child.parent_key is not None and child.index is not None
        parent_key, instance, index = split_child_key(child.key)
        result = result_document(index, child)
        fan = self._fan_of(child, parent_key, instance)
        if fan is None:
            log.warning("no fan-out record for %s: its result is dropped", child.key)
            return
        self._count(child.tenant_id, parent_key, instance, fan, result, closed)

    def _count(
        self,
        tenant_id: str,
        parent_key: str,
        instance: int,
        fan: IterationCounter,
        result: dict[str, Any],
        closed: bool = False,
    ) -> None:
        """Record an iteration's result (the document, with its ``index``) once; start the one
        ``concurrency`` further on (an iteration a redrive takes over is counted at once, and
        the one after it, and so on); wake the parent when the last one is in or failures
        passed the tolerance."""
        self._count_all(tenant_id, parent_key, instance, fan, [result], closed)

    def _count_all(
        self,
        tenant_id: str,
        parent_key: str,
        instance: int,
        fan: IterationCounter,
        results: list[dict[str, Any]],
        closed: bool = False,
    ) -> None:
        """As :meth:`_count`, for several results at once (a page's inline iterations: their
        buckets take one write each, not one per result), then each one's successor."""
        if not results:
            return
        if len(results) == 1:
            counter = self.store.record(tenant_id, parent_key, instance, results[0], fan.total)
        else:
            counter = self.store.record_many(tenant_id, parent_key, instance, results, fan.total)
        if self._settled(tenant_id, parent_key, instance, fan, counter, int(results[-1]["index"]), closed):
            for result in results:
                self._successors(tenant_id, parent_key, instance, fan, int(result["index"]))

    def _settled(
        self,
        tenant_id: str,
        parent_key: str,
        instance: int,
        fan: IterationCounter,
        counter: IterationCounter | None,
        index: int,
        closed: bool,
    ) -> bool:
        """After a record: close a step attempt whose failures passed the tolerance, wake the
        parent when the last one is in (or on that failure); whether successors may start."""
        if closed or (counter is not None and counter.closed):
            return False
        failed_out = counter is not None and counter.failed > fan.tolerated
        if failed_out:  # the step fails: no iteration starts from now on (gather would close it too)
            self.store.close(tenant_id, parent_key, instance)
        if counter is not None and (counter.done >= counter.total or failed_out):
            wake = WakeUp(
                tenant_id=tenant_id,
                key=parent_key,
                seq=0,
                kind=WakeKind.FAN_IN,
                mid=f"fanin.{instance}.{index}",
                data={"instance": instance},
            )
            self.queue.send([wake.to_body()])
        return not failed_out

    def _successors(self, tenant_id: str, parent_key: str, instance: int, fan: IterationCounter, index: int) -> None:
        """Start the iteration ``concurrency`` after ``index``: as a child, or inline (then
        record it and go on to its own successor, while the wake-up's budget lasts)."""
        chained = False  # whether this call ran an iteration inline already (after seeing the step open)
        while (following := index + fan.concurrency) < fan.total:
            taken = self._replays(tenant_id, parent_key, fan, [following]).get(following)
            if taken is None:
                meta = fan.meta or {}
                sourced: Sourced | None = None
                if "reader" not in meta:
                    sourced = (self.store.item(tenant_id, parent_key, instance, following), None)
                elif read := self._s3maps().inputs_or_fail(tenant_id, parent_key, instance, meta, [following]):
                    sourced = read[0]
                if sourced is None:
                    return
                ran = self._run_inline(tenant_id, parent_key, instance, following, sourced, fan, open_seen=chained)
                if not isinstance(ran, dict):
                    if not ran:
                        self._start_child(tenant_id, parent_key, instance, following, sourced, fan)
                    return
                result, chained = ran, True  # it finished inline: record it, then start the one after it
            else:
                result = {**taken, "index": following}
            counter = self.store.record(tenant_id, parent_key, instance, result, fan.total)
            if not self._settled(tenant_id, parent_key, instance, fan, counter, following, False):
                return
            index = following

    def gather(self, parent: Execution, data: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """How the waiting step ends, or None if its iterations are not all in yet (fanin.py)."""
        return fanin.gather(self.store, parent, data, lambda counter, done: self._s3maps().write(parent, counter, done))

    def assemble(self, tenant_id: str, value: Any) -> Any:
        """Replace stored-apart results (at the top level or one level down) by the list."""
        return fanin.assemble(self.store, tenant_id, value)

    def progress(self, parent: Execution) -> dict[str, int] | None:
        return self.store.progress(parent.tenant_id, parent.key, parent.instance)

    # -- cancel -------------------------------------------------------------------

    def sweep(self, tenant_id: str, parent_key: str, instance: int, after: int) -> None:
        self.store.close(tenant_id, parent_key, instance)
        children, following = self.store.children(tenant_id, parent_key, instance, after, SWEEP_PAGE)
        for child in children:
            self._cancel(child)
        if following is not None:
            wake = WakeUp(
                tenant_id,
                parent_key,
                0,
                WakeKind.SWEEP,
                f"sweep.{instance}.{following}",
                data={"instance": instance, "after": following},
            )
            self.queue.send([wake.to_body()])

    def source_changed(self, child: Execution, cause: str) -> None:
        """A child's input can no longer be read from its item source as the map read it: the
        step attempt fails with ``cause``, as when a fan-out page cannot read its items."""
        if self.s3maps is not None:  # without S3 access only the child fails (its cause says why)
            parent_key, instance, _ = split_child_key(child.key)
            self.s3maps.unreadable(child.tenant_id, parent_key, instance, cause)

    def _s3maps(self) -> S3Maps:
        if self.s3maps is None:
            raise RuntimeError("a map over S3 (itemReader, resultWriter), and no S3 access configured")
        return self.s3maps

    def _cancel(self, child: Execution) -> None:
        """Cancel a child of a closed step attempt and record it (nothing starts after it)."""
        for _ in range(5):
            if child.finished:
                return
            commit = engine.cancel(child, self.clock.now(), "the parent's fan-out step ended")
            if self.executions.commit(commit.head, commit.expected_seq):
                flush(commit.head, self.executions, self.queue)
                self.child_finished(commit.head, closed=True)
                return
            fresh = self.executions.get(child.tenant_id, child.key)
            if fresh is None:
                return
            child = fresh
        log.warning("could not cancel child %s: it kept changing", child.key)
