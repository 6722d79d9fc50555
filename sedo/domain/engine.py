"""The engine: what one wake-up does to an execution. No I/O of its own.

``advance`` takes the definition, the execution head, the wake-up and the time, and
returns a :class:`Decision`:

- :class:`Stale`: the message no longer applies (old ``seq``, a token that is not the
  current one, a timer of a step that moved on, a finished execution); ack it. When
  it is exactly the message that produced the current head, ``reflush`` asks the
  caller to re-send the head's outbox and history (crash recovery).
- :class:`Rearm`: a timer arrived before its due time (SQS delays are at most 900 s);
  send the same message again with a new delay, change nothing. A timer less than
  ``liveness.ON_TIME_SECONDS`` early is on time (its delay was rounded to a whole second).
- :class:`Commit`: the new head. The caller writes it with ONE conditional write
  guarded by the old ``seq``, then flushes its history events and outbox.

The only door to the outside is the ``invoker`` passed in (invoke steps call Lambda
or HTTP through it); everything else is computed from the arguments.

The protocol is the table :data:`HANDLERS`: for each :class:`WakeKind` the engine
handles, when a message of that kind applies (its *relevance* check) and what it does.

=================  ===========================================================
start, continue,   ``seq`` equals the head's and the head awaits that kind
timer, retry
complete, fail,    the head awaits a callback and the message's task token is
heartbeat          the current one (any ``seq``: heartbeats commit in between)
timeout            the head is still in the step attempt (``instance``) it was set for
heartbeat-timeout  the head awaits the callback with that heartbeat deadline
exec-timeout       the execution has not finished
fanin              the head awaits the fan-in of that step attempt (``instance``);
                   the processor adds the gathered outcome before calling ``advance``
event              the head awaits that event step attempt (``instance``); the
                   processor adds the gathered events before calling ``advance``
=================  ===========================================================

``fanout``, ``sweep`` and ``bulk`` wake-ups (create and cancel a fan-out's children, run
a batch of a bulk operation) are the processor's own business and never reach the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sedo.domain import execution as ex
from sedo.domain import failures, liveness, operate
from sedo.domain.definition import Definition, DefinitionRef
from sedo.domain.execution import Execution, WakeUp
from sedo.domain.protocol import (
    CALLBACK_KINDS,
    SEQ_KINDS,
    CallbackAwait,
    ContinueAwait,
    EventAwait,
    FanInAwait,
    RetryAwait,
    StartAwait,
    TimerAwait,
    WakeKind,
    awaits,
)
from sedo.domain.segment import Budget, Commit, Segment, delay_until, task_token
from sedo.domain.steps import STEP_TYPES
from sedo.domain.steps.base import Done, Failed, Invoker, Outcome, Wake
from sedo.domain.timefmt import format_ts, parse_ts

__all__ = [
    "HANDLERS",
    "Budget",
    "Commit",
    "Decision",
    "FutureMessage",
    "Rearm",
    "Stale",
    "advance",
    "cancel",
    "dead_letter",
    "start_execution",
    "task_token",
]


@dataclass(frozen=True)
class Stale:
    reason: str
    reflush: bool = False


@dataclass(frozen=True)
class Rearm:
    message: WakeUp


Decision = Stale | Rearm | Commit


class FutureMessage(Exception):
    """A message for a sequence number the head has not reached: retry it later."""


def start_execution(
    *,
    tenant_id: str,
    definition: Definition | DefinitionRef,
    input: Any,
    key: str,
    now: datetime,
    name: str | None = None,
    nonce: str = "",
    parent_key: str | None = None,
    scope: list[str] | None = None,
    index: int | None = None,
    alias: str | None = None,
    search: dict[str, Any] | None = None,
) -> Execution:
    """The head of a new execution: submitted, with its first wake-up in the outbox (and,
    started through an alias, the alias that chose its version; its search attributes)."""
    ts = format_ts(now)
    head = Execution(
        tenant_id=tenant_id,
        key=key,
        definition_id=definition.id,
        definition_version=definition.version,
        input=input,
        created_at=ts,
        updated_at=ts,
        stash={"input": input} if index is None else {"input": input, "index": index},
        awaiting=StartAwait(),
        name=name,
        nonce=nonce,
        parent_key=parent_key,
        scope=list(scope or []),
        index=index,
        alias=alias,
        search=search or None,
    )
    segment = Segment(head, now, produced_by="api")
    segment.emit(ex.SUBMITTED, input=input, definitionVersion=definition.version, index=index, alias=alias)
    segment.send(WakeKind.START)
    return segment.finish(new_seq=0).head


def cancel(head: Execution, now: datetime, reason: str | None = None) -> Commit:
    """End a running execution as cancelled; its pending messages become stale."""
    segment = Segment(head, now, produced_by="api:cancel")
    segment.emit(ex.CANCELLED, stepId=head.step, cause=reason, index=head.index)
    segment.head.cause = reason
    segment.end(ex.CANCELLED)
    return segment.finish()


def dead_letter(head: Execution, now: datetime, cause: str, error: str = failures.RUNTIME) -> Commit:
    """Fail an execution whose wake-up could not be processed on its last receive
    (``States.Runtime``), so a dead letter never leaves it showing as running; or whose new
    state could not be stored (``error``: States.PayloadTooLarge)."""
    segment = Segment(head, now, produced_by="dead-letter")
    if head.step is not None and not head.finished:
        segment.emit(ex.STEP_FAILED, stepId=head.step, error=error, cause=cause)
    segment.fail_execution(error, cause, head.step)
    return segment.finish()


# --- relevance: does a message still apply to the head? -----------------------------


def _seq_relevance(head: Execution, wake: WakeUp) -> str | None:
    if wake.seq < head.seq:
        return f"message seq {wake.seq} is behind head seq {head.seq}"
    if wake.seq > head.seq:
        raise FutureMessage(f"message seq {wake.seq} is ahead of head seq {head.seq}")
    if not awaits(head.awaiting, wake.kind):
        awaited = head.awaiting.tag if head.awaiting is not None else None
        return f"execution awaits {awaited!r}, not {str(wake.kind)!r}"
    return None


def _callback_relevance(head: Execution, wake: WakeUp) -> str | None:
    awaiting = head.awaiting
    if not isinstance(awaiting, CallbackAwait) or wake.data.get("token") != awaiting.token:
        return "the task token is not the current one"
    return None


def _timeout_relevance(head: Execution, wake: WakeUp) -> str | None:
    if wake.data.get("instance") != head.instance or head.awaiting is None:
        return "the step attempt this timeout was set for has ended"
    return None


def _heartbeat_timeout_relevance(head: Execution, wake: WakeUp) -> str | None:
    awaiting = head.awaiting
    if not isinstance(awaiting, CallbackAwait) or awaiting.heartbeat_due != wake.due:
        return "a heartbeat arrived since, or the callback ended"
    return None


def _always(head: Execution, wake: WakeUp) -> str | None:
    return None


def _fan_in_relevance(head: Execution, wake: WakeUp) -> str | None:
    if not isinstance(head.awaiting, FanInAwait) or wake.data.get("instance") != head.instance:
        return "the fan-out step attempt this message is for has ended"
    return None


# --- one handler per wake-up kind ------------------------------------------------------


def on_start(segment: Segment, definition: Definition, wake: WakeUp) -> Stale | None:
    segment.emit(ex.STARTED)
    timeout = definition.document.get("timeoutSeconds")
    if timeout:
        due = parse_ts(segment.head.created_at) + timedelta(seconds=int(timeout))
        segment.send(WakeKind.EXEC_TIMEOUT, due=due)
    segment.run(definition, definition.start_at)
    return None


def on_continue(segment: Segment, definition: Definition, wake: WakeUp) -> Stale | None:
    assert isinstance(segment.head.awaiting, ContinueAwait)
    segment.run(definition, segment.head.awaiting.step)
    return None


def on_retry(segment: Segment, definition: Definition, wake: WakeUp) -> Stale | None:
    assert isinstance(segment.head.awaiting, RetryAwait)
    segment.run(definition, segment.head.awaiting.step, retrying=True)
    return None


def on_exec_timeout(segment: Segment, definition: Definition, wake: WakeUp) -> Stale | None:
    seconds = definition.document.get("timeoutSeconds")
    segment.fail_execution(failures.TIMEOUT, f"the execution did not finish within {seconds} s")
    return None


def on_heartbeat(segment: Segment, definition: Definition, wake: WakeUp) -> Stale | None:
    awaiting = segment.head.awaiting
    assert isinstance(awaiting, CallbackAwait)
    if not awaiting.heartbeat_seconds:
        return Stale("the step does not take heartbeats")
    segment.arm_heartbeat(awaiting, awaiting.heartbeat_seconds)
    return None


def _awaited_step(head: Execution) -> str:
    awaiting = head.awaiting
    if awaiting is not None and not isinstance(awaiting, StartAwait):
        return awaiting.step
    return head.step or ""


def _resume(segment: Segment, definition: Definition, step_id: str, outcome: Outcome) -> Stale | None:
    """End the awaited step ``step_id`` with ``outcome`` and run on from it."""
    segment.head.awaiting = None
    segment.run(definition, step_id, outcome)
    return None


def on_timer(segment: Segment, definition: Definition, wake: WakeUp) -> Stale | None:
    awaiting = segment.head.awaiting
    assert isinstance(awaiting, TimerAwait)
    step = definition.step(awaiting.step)
    segment.head.awaiting = None
    resumed = STEP_TYPES[step.type].resume(step, segment.context(step), Wake(WakeKind.TIMER, {"due": awaiting.due}))
    return _resume(segment, definition, step.id, resumed)


def on_complete(segment: Segment, definition: Definition, wake: WakeUp) -> Stale | None:
    return _resume(segment, definition, _awaited_step(segment.head), Done(output=wake.data.get("output")))


def on_fail(segment: Segment, definition: Definition, wake: WakeUp) -> Stale | None:
    failure = Failed(str(wake.data.get("error") or failures.CALLBACK_FAILED), str(wake.data.get("cause") or ""))
    return _resume(segment, definition, _awaited_step(segment.head), failure)


def on_fan_in(segment: Segment, definition: Definition, wake: WakeUp) -> Stale | None:
    outcome: Outcome
    if wake.data.get("status") == "succeeded":
        segment.gathered = True  # every iteration is in: nothing to sweep
        outcome = Done(output=wake.data.get("output"))
    else:
        outcome = Failed(str(wake.data.get("error") or failures.RUNTIME), str(wake.data.get("cause") or ""))
    return _resume(segment, definition, _awaited_step(segment.head), outcome)


def on_timeout(segment: Segment, definition: Definition, wake: WakeUp) -> Stale | None:
    step = definition.step(_awaited_step(segment.head))
    seconds = step.config.get("timeoutSeconds")
    return _resume(
        segment, definition, step.id, Failed(failures.TIMEOUT, f"step {step.id!r} did not finish within {seconds} s")
    )


def on_heartbeat_timeout(segment: Segment, definition: Definition, wake: WakeUp) -> Stale | None:
    awaiting = segment.head.awaiting
    assert isinstance(awaiting, CallbackAwait)
    cause = f"no heartbeat for step {awaiting.step!r} within {awaiting.heartbeat_seconds} s"
    return _resume(segment, definition, awaiting.step, Failed(failures.HEARTBEAT_TIMEOUT, cause))


# --- events (issue 15): an event step attempt resumed with the events gathered for it -----


def _event_relevance(head: Execution, wake: WakeUp) -> str | None:
    if not isinstance(head.awaiting, EventAwait) or wake.data.get("instance") != head.instance:
        return "the event step attempt this message is for has ended"
    return None


def on_event(segment: Segment, definition: Definition, wake: WakeUp) -> Stale | None:
    return _resume(segment, definition, _awaited_step(segment.head), Done(output=wake.data.get("output")))


Relevance = Callable[[Execution, WakeUp], str | None]
Handler = Callable[[Segment, Definition, WakeUp], Stale | None]

#: The engine's half of the protocol: for each kind, when it applies and what it does.
HANDLERS: dict[WakeKind, tuple[Relevance, Handler]] = {
    WakeKind.START: (_seq_relevance, on_start),
    WakeKind.CONTINUE: (_seq_relevance, on_continue),
    WakeKind.TIMER: (_seq_relevance, on_timer),
    WakeKind.RETRY: (_seq_relevance, on_retry),
    WakeKind.COMPLETE: (_callback_relevance, on_complete),
    WakeKind.FAIL: (_callback_relevance, on_fail),
    WakeKind.HEARTBEAT: (_callback_relevance, on_heartbeat),
    WakeKind.TIMEOUT: (_timeout_relevance, on_timeout),
    WakeKind.HEARTBEAT_TIMEOUT: (_heartbeat_timeout_relevance, on_heartbeat_timeout),
    WakeKind.EXEC_TIMEOUT: (_always, on_exec_timeout),
    WakeKind.FAN_IN: (_fan_in_relevance, on_fan_in),
    WakeKind.EVENT: (_event_relevance, on_event),
}
assert HANDLERS.keys() >= SEQ_KINDS | CALLBACK_KINDS


def advance(
    definition: Definition,
    head: Execution,
    wake: WakeUp,
    now: datetime,
    budget: Budget = Budget(),
    invoker: Invoker | None = None,
) -> Decision:
    reflush = wake.mid == head.produced_by
    if head.finished:
        return Stale(f"execution already {head.state}", reflush)
    entry = HANDLERS.get(wake.kind)
    if entry is None:
        return Stale(f"wake-up kind {str(wake.kind)!r} is not the engine's", reflush)
    relevance, handler = entry
    reason = relevance(head, wake) or operate.stale_epoch(head, wake)
    if reason is not None:
        return Stale(reason, reflush)
    if wake.due is not None and wake.kind not in CALLBACK_KINDS:
        due = parse_ts(wake.due)
        if (due - now).total_seconds() > liveness.ON_TIME_SECONDS:  # less early is on time
            return Rearm(replace(wake, delay=delay_until(due, now, budget)))
    if head.paused:  # held at its await point (sedo/domain/operate.py)
        held = operate.hold(head, wake, now)
        if held is None:
            return Stale("the execution is paused; resuming sends this afresh", reflush)
        return Rearm(held) if isinstance(held, WakeUp) else held
    segment = Segment(head, now, produced_by=wake.mid, budget=budget, invoker=invoker)
    stale = handler(segment, definition, wake)
    return stale if stale is not None else segment.finish()
