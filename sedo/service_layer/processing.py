"""The processor's use case: apply one wake-up to its execution (docs/DESIGN.md §2).

1. read the head (strongly consistent); 2. drop stale messages, re-flushing the
head's outbox when the message is the one that produced it; 3. run the engine;
4. commit with ONE conditional write; 5. flush history and outbox.

Large values live apart from the head (the claim check, sedo/service_layer/payloads.py):
a head with references is hydrated before the engine runs it, and the engine's new head
is dehydrated before the commit. A head without references costs no extra read.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Protocol

from sedo.domain import deadletters, failures, limits, payloads
from sedo.domain.definition import Definition, parse_definition, scoped
from sedo.domain.engine import Budget, Commit, Decision, Rearm, Stale, advance
from sedo.domain.engine import dead_letter as dead_letter_commit
from sedo.domain.execution import Execution, WakeUp, history_in_head
from sedo.domain.payloads import Claims
from sedo.domain.protocol import EventAwait, FanInAwait, WakeKind
from sedo.domain.steps.base import Invoker
from sedo.service_layer.batchflush import BatchFlush
from sedo.service_layer.events import EventService
from sedo.service_layer.flush import flush, put_history
from sedo.service_layer.inline import Materialized
from sedo.service_layer.itemsource import S3MapPorts
from sedo.service_layer.iterations import IterationService
from sedo.service_layer.observe import FlushReport, WakeObserver, observed, timed_engine
from sedo.service_layer.payloads import PayloadService, SourceChanged
from sedo.service_layer.ports import Clock, DefinitionStore, ExecutionStore, IterationStore, Queue

#: Wake-ups that do not come from the outbox of the commit that produced the head's segment.
_FROM_OUTSIDE = frozenset({WakeKind.COMPLETE, WakeKind.FAIL, WakeKind.HEARTBEAT, WakeKind.FAN_IN, WakeKind.EVENT})


class Processed(StrEnum):
    """What :meth:`WakeUpProcessor.process` did with a wake-up, for logs, metrics and tests."""

    COMMITTED = "committed"
    STALE = "stale"
    REFLUSHED = "reflushed"
    REARMED = "rearmed"
    CONFLICT = "conflict"
    MISSING = "missing"
    FANNED_OUT = "fanned-out"
    SWEPT = "swept"
    REDRIVEN = "redriven"
    BULK = "bulk"


class BulkRunner(Protocol):
    """Runs one batch of a bulk operation (sedo.service_layer.bulk.BulkService.run)."""

    def run(self, tenant_id: str, operation_id: str, page: int, redelivered: bool) -> bool: ...


class PoisonMessage(ValueError):
    """A message that can never be processed: let it go to the DLQ."""


class WakeUpProcessor:
    def __init__(
        self,
        definitions: DefinitionStore,
        executions: ExecutionStore,
        queue: Queue,
        clock: Clock,
        budget: Budget = Budget(),
        logger: logging.Logger | Any = None,
        cache_size: int = 256,
        invoker: Invoker | None = None,
        iterations: IterationStore | None = None,
        observer: WakeObserver | None = None,
        *,
        payloads: PayloadService,
        s3: S3MapPorts | None = None,
        events: EventService | None = None,
        bulk: Callable[[], BulkRunner] | None = None,
        on_finished: Callable[[Sequence[Execution]], None] | None = None,
    ) -> None:
        self.events = events  # triggers, event steps and status-change events (issue 15)
        #: Builds the runner of bulk operations' batches on first use (sedo/service_layer/bulk.py).
        self._bulk_factory = bulk
        self._bulk: BulkRunner | None = None
        #: Told of every top-level execution that ended, after its flush, redeliveries too
        #: (idempotent: the tenant's running slot is given back, sedo/service_layer/quotas.py).
        self.on_finished = on_finished
        self.observer = observer  # told about every wake-up (sedo/service_layer/observe.py)
        self.invoker = invoker
        self.payloads = payloads  # the claim check: large values kept apart from heads
        self.iterations = (
            IterationService(iterations, executions, queue, clock, payloads=payloads, s3=s3)
            if iterations is not None
            else None
        )
        if self.iterations is not None:
            self.iterations.runner = self  # maps in mode inline run iterations through first_segment
        self.definitions = definitions
        self.executions = executions
        self.queue = queue
        self.clock = clock
        self.budget = budget
        self.log = logger or logging.getLogger("sedo.processor")
        #: Top-level commits' flushes, left to the end of their Lambda batch (batchflush.py).
        self.batch = BatchFlush(
            lambda: self.executions,
            lambda: self.queue,
            lambda: self.events.bus if self.events is not None else None,
            self._finished,
            self._flushed,
        )
        self._cache: OrderedDict[tuple[str, str, int, tuple[str, ...]], Definition] = OrderedDict()
        self._cache_size = cache_size
        #: The processor's half of the protocol: kinds it handles before (or instead of) the engine.
        self._handlers: dict[WakeKind, Callable[[_Delivery], Processed]] = {
            WakeKind.SWEEP: self.on_sweep,
            WakeKind.FAN_OUT: self.on_fan_out,
            WakeKind.FAN_IN: self.on_fan_in,
            WakeKind.EVENT: self.on_event,
            WakeKind.BULK: self.on_bulk,
        }

    def definition(
        self, tenant_id: str, definition_id: str, version: int, scope: list[str] | tuple[str, ...] = ()
    ) -> Definition:
        """Versions are immutable, so they are cached across invocations (per nested scope too)."""
        cache_key = (tenant_id, definition_id, version, tuple(scope))
        if cache_key in self._cache:
            self._cache.move_to_end(cache_key)
            return self._cache[cache_key]
        stored = self.definitions.get_version(tenant_id, definition_id, version)
        if stored is None:
            raise PoisonMessage(f"definition {definition_id!r} version {version} not found for {tenant_id!r}")
        definition = scoped(parse_definition(stored.document, stored.version), list(scope))
        self._cache[cache_key] = definition
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return definition

    @observed
    def process(self, body: Any, receive_count: int = 2, message_id: str | None = None) -> Processed:
        """Apply one wake-up. ``receive_count`` is SQS's ApproximateReceiveCount: only a
        message received again (its first processing may have crashed after the commit)
        re-flushes the head's outbox; a duplicate *send* arrives with count 1 and is
        simply stale, so duplicates never multiply. ``message_id`` is SQS's: an older receipt
        of the very SQS message that produced the head re-flushes too (its delete may remove
        the message whose later receive committed and failed to flush)."""
        try:
            wake = WakeUp.from_body(body)
        except ValueError as exc:
            raise PoisonMessage(str(exc)) from exc
        if self.iterations is not None:
            self.iterations.new_wake_up()
        delivery = _Delivery(
            wake,
            receive_count,
            message_id,
            {"tenantId": wake.tenant_id, "executionKey": wake.key, "seq": wake.seq, "kind": wake.kind},
        )
        return self._handlers.get(wake.kind, self.on_engine_wakeup)(delivery)

    # -- one handler per processor-level kind ------------------------------------------

    def on_sweep(self, delivery: _Delivery) -> Processed:
        wake = delivery.wake
        head = self.executions.get(wake.tenant_id, wake.key)
        if head is not None and deadletters.marked_for(head, wake):
            return self._redrive(delivery, head)
        self._iterations().sweep(wake.tenant_id, wake.key, int(wake.data["instance"]), int(wake.data.get("after", 0)))
        return Processed.SWEPT

    def on_bulk(self, delivery: _Delivery) -> Processed:
        if self._bulk is None:
            if self._bulk_factory is None:
                raise PoisonMessage("this processor runs no bulk operations")
            self._bulk = self._bulk_factory()
        wake = delivery.wake
        ran = self._bulk.run(wake.tenant_id, wake.key, wake.seq, delivery.receive_count > 1)
        return Processed.BULK if ran else Processed.STALE

    def on_fan_out(self, delivery: _Delivery) -> Processed:
        head = self._read(delivery)
        if head is None:
            return Processed.MISSING
        if not self._awaits_fan_in(head, delivery.wake):
            return Processed.STALE
        definition = self.definition(head.tenant_id, head.definition_id, head.definition_version, head.scope)
        hydrated, _ = self.payloads.hydrate(head)  # the iteration inputs come from the stash
        after, cursor = int(delivery.wake.data.get("after", 0)), delivery.wake.data.get("scan")
        self._iterations().start(hydrated, definition, after, cursor)  # a page (or an indexed range of S3) at a time
        return Processed.FANNED_OUT

    def on_fan_in(self, delivery: _Delivery) -> Processed:
        head = self._read(delivery)
        if head is None:
            return Processed.MISSING
        if self._awaits_fan_in(head, delivery.wake):
            gathered = self._iterations().gather(head, delivery.wake.data)
            if gathered is None:
                return Processed.STALE  # not all iterations are in: a later completion wakes the parent
            if isinstance(gathered.get("output"), list):  # a result too large for its item is a reference
                gathered["output"] = self.payloads.resolve_items(head.tenant_id, head.key, gathered["output"])
            delivery.wake = replace(delivery.wake, data={**delivery.wake.data, **gathered})
        return self._advance(delivery, head)

    def on_event(self, delivery: _Delivery) -> Processed:
        """Enough events for an event step attempt are in (issue 15): gather exactly ``count``."""
        head = self._read(delivery)
        if head is None:
            return Processed.MISSING
        wake = delivery.wake
        if (
            self.events is None
            or not isinstance(head.awaiting, EventAwait)
            or wake.data.get("instance") != head.instance
        ):
            if self.events is not None and isinstance(wake.data.get("pattern"), dict):
                self.events.forget(head, int(wake.data["instance"]), wake.data["pattern"])  # a wait that ended
            return self._advance(delivery, head)  # stale, or the producer of the head re-flushing
        gathered = self.events.gather(head)
        if gathered is None:
            return Processed.STALE  # fewer than count: a later event sends this again
        output = gathered[0] if head.awaiting.count == 1 else gathered
        delivery.wake = replace(wake, data={**wake.data, "output": output})
        return self._advance(delivery, head)

    def on_engine_wakeup(self, delivery: _Delivery) -> Processed:
        head = self._read(delivery)
        if head is None:
            return Processed.MISSING
        return self._advance(delivery, head)

    # -- the engine's wake-ups -----------------------------------------------------------

    def _read(self, delivery: _Delivery) -> Execution | None:
        wake = delivery.wake
        head = self.executions.get(wake.tenant_id, wake.key)
        if head is None:
            self.log.warning("wake-up for an execution that does not exist; dropped", extra=delivery.context)
            return None
        delivery.context["executionId"] = head.id
        return head

    @staticmethod
    def _awaits_fan_in(head: Execution, wake: WakeUp) -> bool:
        return (
            isinstance(head.awaiting, FanInAwait) and not head.finished and wake.data.get("instance") == head.instance
        )

    def _advance(self, delivery: _Delivery, head: Execution) -> Processed:
        context = delivery.context
        if deadletters.marked_for(head, delivery.wake):
            return self._redrive(delivery, head)
        definition = self.definition(head.tenant_id, head.definition_id, head.definition_version, head.scope)
        try:
            hydrated, claims = (head, Claims()) if head.finished else self.payloads.hydrate(head)
        except SourceChanged as exc:  # a map-over-S3 child whose object changed: it fails, never runs on other data
            return self._source_changed(delivery, head, str(exc))
        wake = self._resolved(delivery.wake, head, claims)
        decision = self.decide(definition, hydrated, wake)
        if isinstance(decision, Stale):
            same_message = delivery.message_id is not None and delivery.message_id == head.produced_by_message
            if decision.reflush and (delivery.receive_count > 1 or same_message):
                self.log.info("redelivered producer of the head; re-flushing its outbox", extra=context)
                self._after_commit(head, None)
                return Processed.REFLUSHED
            self.log.debug("stale wake-up dropped: %s", decision.reason, extra=context)
            return Processed.STALE
        if isinstance(decision, Rearm):
            self.queue.send([decision.message.to_body()])
            self.log.debug("timer re-armed", extra={**context, "delay": decision.message.delay})
            return Processed.REARMED
        stored = self._stored(decision, head, claims, context)
        stored.produced_by_message = delivery.message_id
        if self._unflushed(head, delivery.wake):
            put_history(head, self.executions)  # this commit drops the read head's segment: keep it
            self.batch.history_written(head)
        if not self._commit(stored, decision.expected_seq):
            current = self.executions.get(head.tenant_id, head.key)
            if current is not None and current.produced_by == delivery.wake.mid:
                # Another copy of this very message won (a visibility timeout expired mid-record):
                # its worker may yet fail before flushing, and our ack deletes the message.
                self.log.info("a copy of this message committed first; flushing its outbox", extra=context)
                self._after_commit(current, None)
                return Processed.REFLUSHED
            if current is not None and current.seq > head.seq and current.produced_by == head.produced_by:
                # Only callback calls were recorded meanwhile (sedo/domain/signals.py): no
                # transition happened, so this wake-up still applies to the head as it is now.
                return self._advance(delivery, current)
            self.log.info("another worker advanced the execution first; dropped", extra=context)
            return Processed.CONFLICT
        self._log_commit(decision, context)
        if self.events is not None:
            self.events.moved_on(head, stored)  # an event step that stopped waiting forgets its subscription
        self._after_commit(stored, decision.head)
        return Processed.COMMITTED

    def _source_changed(self, delivery: _Delivery, head: Execution, cause: str) -> Processed:
        """Fail a child whose input cannot be read again from its item source as the map read
        it (States.ItemReaderFailed), and first its map step with the same cause (no sibling
        starts; the child's result is recorded in the closed step attempt)."""
        if head.parent_key is not None and not head.finished:
            self._iterations().source_changed(head, cause)
        if head.pending_events:
            self.executions.put_history(head)  # as on a dead letter: the history has no gap
        commit = dead_letter_commit(head, self.clock.now(), cause, error=failures.ITEM_READER_FAILED)
        commit.head.produced_by_message = delivery.message_id
        if not self._commit(commit.head, commit.expected_seq):
            return Processed.CONFLICT
        context = {**delivery.context, "cause": cause}
        self.log.error("a child's input changed in its item source; child failed", extra=context)
        self._after_commit(commit.head, None)
        return Processed.COMMITTED

    def _redrive(self, delivery: _Delivery, head: Execution) -> Processed:
        """The dead-lettered wake-up that failed ``head`` was moved back from the DLQ: bring the
        execution back as it was, waiting for what it waited for (sedo/domain/deadletters.py)."""
        commit = deadletters.revive(head, delivery.wake, self.clock.now(), self.budget)
        assert commit is not None
        commit.head.produced_by_message = delivery.message_id
        if not self._commit(commit.head, commit.expected_seq):
            self.log.info("another worker changed the execution first; dropped", extra=delivery.context)
            return Processed.CONFLICT
        self.log.warning("dead-lettered wake-up redriven; execution resumed", extra=delivery.context)
        self._after_commit(commit.head, None)
        return Processed.REDRIVEN

    def _resolved(self, wake: WakeUp, head: Execution, claims: Claims) -> WakeUp:
        """A completion whose output was too large for its message carries a reference (the
        API stored the value apart): resolve it, remembering that it is stored."""
        output = wake.data.get("output")
        if wake.kind != WakeKind.COMPLETE or head.finished or head.paused or payloads.as_ref(output) is None:
            return wake
        return replace(
            wake, data={**wake.data, "output": self.payloads.resolve(head.tenant_id, head.key, output, claims)}
        )

    def _stored(self, decision: Commit, read: Execution, claims: Claims, context: dict[str, Any]) -> Execution:
        """The commit's head as stored: large values apart. A head that would still not fit
        its item (the segment keeps it within bounds, so this is a last resort) fails the
        execution with States.PayloadTooLarge instead of failing the commit for ever."""
        stored = self.payloads.dehydrate(decision.head, claims)
        size = payloads.stored_head_bytes(stored)
        if size <= limits.MAX_HEAD_BYTES:
            return stored
        cause = f"the execution's state is {size} bytes as stored; at most {limits.MAX_HEAD_BYTES} fit"
        self.log.error("execution head too large; execution failed", extra={**context, "bytes": size})
        fallback = dead_letter_commit(read, self.clock.now(), cause, error=failures.PAYLOAD_TOO_LARGE)
        return fallback.head

    def decide(self, definition: Definition, head: Execution, wake: WakeUp) -> Decision:
        """The engine's decision for one wake-up (pure compute)."""
        now = self.clock.now()
        return timed_engine(wake, now, lambda: advance(definition, head, wake, now, self.budget, self.invoker))

    def _log_echoes(self, decision: Commit, context: dict[str, Any]) -> None:
        """What the segment's echo steps log (an inline iteration's too, as in its own wake-up)."""
        for entry in decision.logs:
            self.log.info(entry["message"], extra={**context, "stepId": entry["stepId"], "echo": True})

    def _log_commit(self, decision: Commit, context: dict[str, Any]) -> None:
        new = decision.head
        self._log_echoes(decision, context)
        self.log.info(
            "transition committed",
            extra={
                **context,
                "seq": new.seq,
                "state": new.state,
                "stepId": new.step,
                "events": len(new.pending_events),
            },
        )

    def _commit(self, head: Execution, expected_seq: int) -> bool:
        """The conditional commit; in a batch, a finished head's list item waits for the batch's flush."""
        return self.executions.commit(head, expected_seq, listing=not self.batch.open)

    @staticmethod
    def _unflushed(head: Execution, wake: WakeUp) -> bool:
        """Whether ``head``'s segment may not be in its history item yet when ``wake`` applies to
        it. A flush writes the history before it sends the outbox, so a wake-up the engine put in
        the head's outbox finds it written; one from outside (a callback call, which the API
        records in the outbox and sends at once, a fan-in, an event) may come first."""
        if not head.pending_events or history_in_head(head):
            return False
        if wake.kind in _FROM_OUTSIDE:
            return True
        return all(message.get("mid") != wake.mid for message in head.outbox)

    def _after_commit(self, head: Execution, hydrated: Execution | None) -> None:
        """Flush the stored head (a top-level head's at the end of its batch, if one is open); a
        finished child then reports to its fan-out (its output as the fan-out keeps it:
        ``hydrated`` is the same head with its values, when at hand)."""
        if head.parent_key is None and self.batch.open:
            entries: list[dict[str, Any]] = []
            if self.events is not None:
                self.events.after_commit(head)  # subscribe a waiting event step now
                entries = self.events.status_entries(head, steps=self._step_events(head))
            if self.batch.defer(head, entries):
                return
        flush(head, self.executions, self.queue)
        if self.events is not None:  # subscribe a waiting event step; put status-change events
            self.events.flushed(head, steps=self._step_events(head))
        self._finished([head])
        if head.parent_key is not None and head.finished:
            self._iterations().child_finished(self.payloads.finished_child(head, hydrated))

    def _finished(self, heads: Sequence[Execution]) -> None:
        ended = [head for head in heads if head.finished and head.parent_key is None]
        if ended and self.on_finished is not None:
            self.on_finished(ended)

    def _step_events(self, head: Execution) -> bool:
        """Whether the execution's definition opted into step-level events (issue 15)."""
        if head.parent_key is not None:
            return False
        try:
            document = self.definition(head.tenant_id, head.definition_id, head.definition_version).document
        except PoisonMessage:
            return False
        return bool((document.get("events") or {}).get("steps"))

    def dead_letter(self, body: Any, cause: str) -> bool:
        """Mark the execution of a wake-up that is going to the DLQ as failed (States.Runtime).

        Best effort and idempotent: a finished or missing execution, or one that another
        worker moved meanwhile, is left as it is. True when the execution was marked."""
        try:
            wake = WakeUp.from_body(body)
        except ValueError:
            return False
        head = self.executions.get(wake.tenant_id, wake.key)
        if head is None or head.finished:
            return False
        if head.pending_events:
            self.executions.put_history(head)  # the failed wake-up may have produced it: no gap
        commit = dead_letter_commit(head, self.clock.now(), cause)
        deadletters.mark(commit.head, head, wake)  # what a redrive of the message brings back
        if not self._commit(commit.head, commit.expected_seq):
            return False
        self.log.error(
            "wake-up dead-lettered; execution failed with States.Runtime",
            extra={"tenantId": head.tenant_id, "executionId": head.id, "kind": wake.kind, "cause": cause},
        )
        self._after_commit(commit.head, None)
        return True

    # -- inline iterations (sedo.service_layer.iterations.InlineRunner) -------------------

    def new_batch(self, seconds_left: float | None = None) -> None:
        """A Lambda invocation begins, with ``seconds_left`` before its timeout (if known): its
        top-level commits' flushes wait for :meth:`end_batch`, and its wake-ups' inline
        iterations end within INLINE_SECONDS of now (sedo/service_layer/inline.py)."""
        self.batch.begin()
        began = getattr(self.observer, "batch_began", None)
        if began is not None:
            began()
        if self.iterations is not None and seconds_left is not None:
            self.iterations.new_batch(seconds_left)

    def end_batch(self) -> int:
        """The batch's deferred flushes, written and sent; raises when any failed (the handler
        then reports the whole batch failed). The number of flushes."""
        return self.batch.end()

    def _flushed(self, report: FlushReport) -> None:
        ran = getattr(self.observer, "flush_ran", None)
        if ran is not None:
            ran(report)

    def first_segment(self, child: Execution) -> Execution | None:
        """A new child's first segment in memory, as its first wake-up would run it."""
        definition = self.definition(child.tenant_id, child.definition_id, child.definition_version, child.scope)
        wake = WakeUp.from_body(child.outbox[0])
        decision = self.decide(definition, child, wake)
        if not isinstance(decision, Commit):  # pragma: no cover - a new head's start always applies
            return None
        self._log_echoes(decision, {"tenantId": child.tenant_id, "executionKey": child.key})
        segment_ran = getattr(self.observer, "segment_ran", None)
        if segment_ran is not None:  # the meters count its transitions, as a child's commit's
            segment_ran(decision)
        return decision.head

    def materialize(self, head: Execution, claims: Claims | None) -> Materialized:
        """Store an inline iteration that has to be a child (it awaits, or its output is large)."""
        stored = self.payloads.dehydrate(head, claims)
        if payloads.stored_head_bytes(stored) > limits.MAX_HEAD_BYTES:
            return Materialized.TOO_LARGE
        if not self.executions.create(stored):
            return Materialized.EXISTS
        self._after_commit(stored, head)
        return Materialized.CREATED

    def _iterations(self) -> IterationService:
        if self.iterations is None:
            raise RuntimeError("this processor has no iteration store configured")
        return self.iterations


@dataclass
class _Delivery:
    """One wake-up being processed: the message, SQS's receive count, the log context."""

    wake: WakeUp
    receive_count: int
    message_id: str | None = None
    context: dict[str, Any] = field(default_factory=dict)
