"""The engine: what one wake-up does to an execution. Pure: no I/O, no clock.

``advance`` takes the definition, the execution head, the wake-up and the time, and
returns a :class:`Decision`:

- :class:`Stale`: the message is old (or for a finished execution); ack it. When it
  is exactly the message that produced the current head, ``reflush`` asks the caller
  to re-send the head's outbox and history (crash recovery).
- :class:`Rearm`: a timer fired before its due time (SQS delays are at most 900 s);
  send the same message again with a new delay, change nothing.
- :class:`Commit`: the new head. The caller writes it with ONE conditional write
  guarded by the old ``seq``, then flushes its history events and outbox.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sedo.domain import execution as ex
from sedo.domain.definition import Definition, Step
from sedo.domain.execution import Execution, WakeUp
from sedo.domain.steps import STEP_TYPES
from sedo.domain.steps.base import Await, Done, Failed, Outcome, StepContext, Wake
from sedo.domain.timefmt import format_ts, parse_ts

#: SQS's longest message timer.
SQS_MAX_DELAY_SECONDS = 900


@dataclass(frozen=True)
class Limits:
    #: Steps one wake-up may run before it yields with a ``continue`` message.
    max_steps_per_wakeup: int = 50
    #: The longest delay put on one message (longer waits re-arm).
    max_delay_seconds: int = SQS_MAX_DELAY_SECONDS


@dataclass(frozen=True)
class Stale:
    reason: str
    reflush: bool = False


@dataclass(frozen=True)
class Rearm:
    message: WakeUp


@dataclass(frozen=True)
class Commit:
    head: Execution
    expected_seq: int
    logs: list[dict[str, Any]] = field(default_factory=list)


Decision = Stale | Rearm | Commit


class FutureMessage(Exception):
    """A message for a sequence number the head has not reached: retry it later."""


def delay_until(due: datetime, now: datetime, limits: Limits) -> int:
    remaining = (due - now).total_seconds()
    return max(0, min(limits.max_delay_seconds, math.ceil(remaining)))


def start_execution(
    *,
    tenant_id: str,
    definition: Definition,
    input: Any,
    key: str,
    now: datetime,
    name: str | None = None,
) -> Execution:
    """The head of a new execution: submitted, with its first wake-up in the outbox."""
    ts = format_ts(now)
    head = Execution(
        tenant_id=tenant_id,
        key=key,
        definition_id=definition.id,
        definition_version=definition.version,
        input=input,
        created_at=ts,
        updated_at=ts,
        stash={"input": input},
        awaiting={"kind": "start"},
        name=name,
    )
    segment = _Segment(head, now, produced_by="api")
    segment.emit(ex.SUBMITTED, input=input, definitionVersion=definition.version)
    segment.send("start")
    return segment.finish(new_seq=0).head


def cancel(head: Execution, now: datetime, reason: str | None = None) -> Commit:
    """End a running execution as cancelled; its pending messages become stale."""
    segment = _Segment(head, now, produced_by="api:cancel")
    segment.head.awaiting = None
    segment.emit(ex.CANCELLED, stepId=head.step, cause=reason)
    segment.head.cause = reason
    segment.end(ex.CANCELLED)
    return segment.finish()


def advance(
    definition: Definition, head: Execution, wake: WakeUp, now: datetime, limits: Limits = Limits()
) -> Decision:
    if head.finished or wake.seq < head.seq:
        reflush = wake.seq == head.seq - 1 and wake.mid == head.produced_by
        return Stale(f"message seq {wake.seq} is behind head seq {head.seq} ({head.state})", reflush)
    if wake.seq > head.seq:
        raise FutureMessage(f"message seq {wake.seq} is ahead of head seq {head.seq}")
    awaiting = head.awaiting or {}
    if wake.kind != awaiting.get("kind"):
        return Stale(f"execution awaits {awaiting.get('kind')!r}, not {wake.kind!r}")

    segment = _Segment(head, now, produced_by=wake.mid, limits=limits)
    if wake.kind == "start":
        segment.emit(ex.STARTED)
        segment.run(definition, definition.start_at)
    elif wake.kind == "continue":
        segment.run(definition, awaiting["step"])
    elif wake.kind == "timer":
        due = parse_ts(awaiting["due"])
        if now < due:
            return Rearm(replace(wake, delay=delay_until(due, now, limits)))
        step = definition.step(awaiting["step"])
        segment.head.awaiting = None
        outcome = STEP_TYPES[step.type].resume(step, segment.context(), Wake("timer", {"due": awaiting["due"]}))
        segment.run(definition, step.id, outcome)
    else:  # pragma: no cover - guarded by the awaiting check above
        return Stale(f"unknown wake-up kind {wake.kind!r}")
    return segment.finish()


class _Segment:
    """The in-memory run of steps between two await points."""

    def __init__(self, head: Execution, now: datetime, produced_by: str, limits: Limits = Limits()) -> None:
        self.original_seq = head.seq
        self.head = replace(head, stash=dict(head.stash), outbox=[], pending_events=[])
        self.now = now
        self.ts = format_ts(now)
        self.limits = limits
        self.produced_by = produced_by
        self.logs: list[dict[str, Any]] = []
        self._messages: list[dict[str, Any]] = []

    # -- bookkeeping ------------------------------------------------------------

    def emit(self, event_type: str, stepId: str | None = None, **data: Any) -> None:  # noqa: N803
        self.head.event_count += 1
        event: dict[str, Any] = {"id": self.head.event_count, "type": event_type, "timestamp": self.ts}
        if stepId is not None:
            event["stepId"] = stepId
        event.update({k: v for k, v in data.items() if v is not None})
        self.head.pending_events.append(event)
        self.head.state = event_type

    def send(self, kind: str, due: datetime | None = None, **data: Any) -> None:
        message: dict[str, Any] = {"kind": kind}
        if due is not None:
            message["due"] = format_ts(due)
            message["delay"] = delay_until(due, self.now, self.limits)
        if data:
            message["data"] = data
        self._messages.append(message)

    def end(self, state: str) -> None:
        self.head.state = state
        self.head.ended_at = self.ts
        self.head.awaiting = None

    def context(self) -> StepContext:
        head = self.head
        return StepContext(
            now=self.now, tenant_id=head.tenant_id, execution_id=head.id, stash=head.stash, attempt=head.attempt
        )

    def finish(self, new_seq: int | None = None) -> Commit:
        head = self.head
        head.seq = self.original_seq + 1 if new_seq is None else new_seq
        head.updated_at = self.ts
        head.produced_by = self.produced_by
        for index, message in enumerate(self._messages):
            wake = WakeUp(
                tenant_id=head.tenant_id,
                key=head.key,
                seq=head.seq,
                kind=message["kind"],
                mid=f"{head.seq}.{index}",
                due=message.get("due"),
                delay=message.get("delay", 0),
                data=message.get("data", {}),
            )
            head.outbox.append(wake.to_body())
        for event in head.pending_events:
            event["seq"] = head.seq
        return Commit(head=head, expected_seq=self.original_seq, logs=self.logs)

    # -- running steps ----------------------------------------------------------

    def run(self, definition: Definition, step_id: str, outcome: Outcome | None = None) -> None:
        """Run from ``step_id`` until an await point, the end, or the step budget."""
        started = 0
        while True:
            step = definition.step(step_id)
            if outcome is None:
                if started >= self.limits.max_steps_per_wakeup:
                    self.head.awaiting = {"kind": "continue", "step": step.id}
                    self.send("continue")
                    return
                started += 1
                self.head.step = step.id
                self.head.attempt = 1
                self.emit(ex.STEP_STARTED, stepId=step.id)
                outcome = STEP_TYPES[step.type].start(step, self.context())
            next_id = self._settle(step, outcome)
            if next_id is None:
                return
            step_id, outcome = next_id, None

    def _settle(self, step: Step, outcome: Outcome) -> str | None:
        """Apply an outcome; the id of the step to run next, or None to stop."""
        if isinstance(outcome, Await):
            self.head.awaiting = {"kind": outcome.kind, "step": step.id, **dict(outcome.data)}
            if outcome.due is not None:
                self.head.awaiting["due"] = format_ts(outcome.due)
            if outcome.kind == "timer":
                assert outcome.due is not None
                self.send("timer", due=outcome.due)
            return None
        if isinstance(outcome, Failed):
            self.emit(ex.STEP_FAILED, stepId=step.id, error=outcome.error, cause=outcome.cause)
            self.emit(ex.FAILED, stepId=step.id, error=outcome.error, cause=outcome.cause)
            self.head.error, self.head.cause = outcome.error, outcome.cause
            self.end(ex.FAILED)
            return None
        assert isinstance(outcome, Done)
        if outcome.log is not None:
            self.logs.append({"stepId": step.id, "message": outcome.log})
        self.emit(ex.STEP_SUCCEEDED, stepId=step.id, output=outcome.output)
        self.head.output = outcome.output
        next_id = outcome.next or step.next
        if next_id is None:
            self.emit(ex.SUCCEEDED, stepId=step.id, output=outcome.output)
            self.end(ex.SUCCEEDED)
            return None
        return next_id
