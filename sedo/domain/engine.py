"""The engine: what one wake-up does to an execution. No I/O of its own.

``advance`` takes the definition, the execution head, the wake-up and the time, and
returns a :class:`Decision`:

- :class:`Stale`: the message no longer applies (old ``seq``, a token that is not the
  current one, a timer of a step that moved on, a finished execution); ack it. When
  it is exactly the message that produced the current head, ``reflush`` asks the
  caller to re-send the head's outbox and history (crash recovery).
- :class:`Rearm`: a timer arrived before its due time (SQS delays are at most 900 s);
  send the same message again with a new delay, change nothing.
- :class:`Commit`: the new head. The caller writes it with ONE conditional write
  guarded by the old ``seq``, then flushes its history events and outbox.

The only door to the outside is the ``invoker`` passed in (invoke steps call Lambda
or HTTP through it); everything else is computed from the arguments.

Wake-up kinds and when they apply:

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
=================  ===========================================================

``fanout`` and ``sweep`` wake-ups (create and cancel a fan-out's children) are the
processor's own business and never reach the engine.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sedo.domain import execution as ex
from sedo.domain import failures, limits
from sedo.domain.definition import Definition, Step
from sedo.domain.errors import SedoError
from sedo.domain.execution import Execution, WakeUp
from sedo.domain.expressions import ExpressionError, evaluate
from sedo.domain.policies import catcher_for, retry_delay
from sedo.domain.steps import STEP_TYPES
from sedo.domain.steps.base import Await, Done, End, Failed, Invoker, NoInvoker, Outcome, StepContext, Wake
from sedo.domain.timefmt import format_ts, parse_ts

#: SQS's longest message timer.
SQS_MAX_DELAY_SECONDS = 900

SEQ_KINDS = frozenset({"start", "continue", "timer", "retry"})
CALLBACK_KINDS = frozenset({"complete", "fail", "heartbeat"})


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


def task_token(head: Execution) -> str:
    """The current step attempt's task token: unguessable, and stable across redelivery."""
    message = f"{head.key}/{head.step}/{head.attempt}/{head.instance}".encode()
    return hmac.new(head.nonce.encode(), message, hashlib.sha256).hexdigest()[:40]


def start_execution(
    *,
    tenant_id: str,
    definition: Definition,
    input: Any,
    key: str,
    now: datetime,
    name: str | None = None,
    nonce: str = "",
    parent_key: str | None = None,
    scope: list[str] | None = None,
    index: int | None = None,
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
        stash={"input": input} if index is None else {"input": input, "index": index},
        awaiting={"kind": "start"},
        name=name,
        nonce=nonce,
        parent_key=parent_key,
        scope=list(scope or []),
        index=index,
    )
    segment = _Segment(head, now, produced_by="api")
    segment.emit(ex.SUBMITTED, input=input, definitionVersion=definition.version, index=index)
    segment.send("start")
    return segment.finish(new_seq=0).head


def cancel(head: Execution, now: datetime, reason: str | None = None) -> Commit:
    """End a running execution as cancelled; its pending messages become stale."""
    segment = _Segment(head, now, produced_by="api:cancel")
    segment.emit(ex.CANCELLED, stepId=head.step, cause=reason, index=head.index)
    segment.head.cause = reason
    segment.end(ex.CANCELLED)
    return segment.finish()


def _relevance(head: Execution, wake: WakeUp) -> str | None:
    """Why the message no longer applies, or None when it does."""
    awaiting = head.awaiting or {}
    kind = wake.kind
    if kind in SEQ_KINDS:
        if wake.seq < head.seq:
            return f"message seq {wake.seq} is behind head seq {head.seq}"
        if wake.seq > head.seq:
            raise FutureMessage(f"message seq {wake.seq} is ahead of head seq {head.seq}")
        if awaiting.get("kind") != kind:
            return f"execution awaits {awaiting.get('kind')!r}, not {kind!r}"
        return None
    if kind in CALLBACK_KINDS:
        if awaiting.get("kind") != "callback" or wake.data.get("token") != awaiting.get("token"):
            return "the task token is not the current one"
        return None
    if kind == "timeout":
        if wake.data.get("instance") != head.instance or not awaiting:
            return "the step attempt this timeout was set for has ended"
        return None
    if kind == "heartbeat-timeout":
        if awaiting.get("kind") != "callback" or awaiting.get("heartbeatDue") != wake.due:
            return "a heartbeat arrived since, or the callback ended"
        return None
    if kind == "exec-timeout":
        return None
    if kind == "fanin":
        if awaiting.get("kind") != "fanin" or wake.data.get("instance") != head.instance:
            return "the fan-out step attempt this message is for has ended"
        return None
    return f"wake-up kind {kind!r} is not the engine's"


def advance(
    definition: Definition,
    head: Execution,
    wake: WakeUp,
    now: datetime,
    limits: Limits = Limits(),
    invoker: Invoker | None = None,
) -> Decision:
    if head.finished:
        return Stale(f"execution already {head.state}", wake.mid == head.produced_by)
    reason = _relevance(head, wake)
    if reason is not None:
        return Stale(reason, wake.mid == head.produced_by)
    if wake.due is not None and wake.kind not in CALLBACK_KINDS:
        due = parse_ts(wake.due)
        if now < due:
            return Rearm(replace(wake, delay=delay_until(due, now, limits)))

    segment = _Segment(head, now, produced_by=wake.mid, limits=limits, invoker=invoker)
    awaiting = head.awaiting or {}
    kind = wake.kind
    if kind == "start":
        segment.emit(ex.STARTED)
        timeout = definition.document.get("timeoutSeconds")
        if timeout:
            segment.send("exec-timeout", due=parse_ts(head.created_at) + timedelta(seconds=int(timeout)))
        segment.run(definition, definition.start_at)
    elif kind == "continue":
        segment.run(definition, awaiting["step"])
    elif kind == "retry":
        segment.run(definition, awaiting["step"], retrying=True)
    elif kind == "exec-timeout":
        segment.fail_execution(
            failures.TIMEOUT, f"the execution did not finish within {definition.document.get('timeoutSeconds')} s"
        )
    elif kind == "heartbeat":
        seconds = awaiting.get("heartbeatSeconds")
        if not seconds:
            return Stale("the step does not take heartbeats")
        segment.arm_heartbeat(int(seconds))
    else:
        step = definition.step(awaiting.get("step") or head.step or "")
        outcome: Outcome
        if kind == "timer":
            segment.head.awaiting = None
            outcome = STEP_TYPES[step.type].resume(step, segment.context(step), Wake("timer", {"due": awaiting["due"]}))
        elif kind == "complete":
            outcome = Done(output=wake.data.get("output"))
        elif kind == "fail":
            outcome = Failed(str(wake.data.get("error") or failures.CALLBACK_FAILED), str(wake.data.get("cause") or ""))
        elif kind == "fanin":
            if wake.data.get("status") == "succeeded":
                outcome = Done(output=wake.data.get("output"))
                segment.gathered = True  # every iteration is in: nothing to sweep
            else:
                outcome = Failed(str(wake.data.get("error") or failures.RUNTIME), str(wake.data.get("cause") or ""))
        elif kind == "timeout":
            outcome = Failed(
                failures.TIMEOUT, f"step {step.id!r} did not finish within {step.config.get('timeoutSeconds')} s"
            )
        else:  # heartbeat-timeout
            outcome = Failed(
                failures.HEARTBEAT_TIMEOUT,
                f"no heartbeat for step {step.id!r} within {awaiting.get('heartbeatSeconds')} s",
            )
        segment.head.awaiting = None
        segment.run(definition, step.id, outcome)
    return segment.finish()


class _Segment:
    """The in-memory run of steps between two await points."""

    def __init__(
        self,
        head: Execution,
        now: datetime,
        produced_by: str,
        limits: Limits = Limits(),
        invoker: Invoker | None = None,
    ) -> None:
        self.original_seq = head.seq
        self.head = replace(head, stash=dict(head.stash), outbox=[], pending_events=[])
        self.now = now
        self.ts = format_ts(now)
        self.limits = limits
        self.invoker = invoker or NoInvoker()
        self.produced_by = produced_by
        self.logs: list[dict[str, Any]] = []
        self._messages: list[dict[str, Any]] = []
        #: The fan-out step attempt the head awaited when the segment began, if any; and
        #: whether its iterations all came in (``gathered``), else they must be swept.
        awaiting = head.awaiting or {}
        self._fanin = head.instance if awaiting.get("kind") == "fanin" else None
        self.gathered = False

    # -- bookkeeping ------------------------------------------------------------

    def emit(self, event_type: str, stepId: str | None = None, **data: Any) -> int:  # noqa: N803
        self.head.event_count += 1
        event: dict[str, Any] = {"id": self.head.event_count, "type": event_type, "timestamp": self.ts}
        if stepId is not None:
            event["stepId"] = stepId
        event.update({k: v for k, v in data.items() if v is not None})
        self.head.pending_events.append(event)
        self.head.state = event_type
        return self.head.event_count

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

    def fail_execution(self, error: str, cause: str, step_id: str | None = None) -> None:
        self.emit(ex.FAILED, stepId=step_id, error=error, cause=cause, index=self.head.index)
        self.head.error, self.head.cause = error, cause
        self.end(ex.FAILED)

    def context(self, step: Step, step_input: Any = None) -> StepContext:
        head = self.head
        return StepContext(
            now=self.now,
            tenant_id=head.tenant_id,
            execution_id=head.id,
            stash=head.stash,
            input=step_input,
            attempt=head.attempt,
            task_token=task_token(head),
            invoker=self.invoker,
        )

    def arm_heartbeat(self, seconds: int) -> None:
        assert self.head.awaiting is not None
        due = self.now + timedelta(seconds=seconds)
        self.head.awaiting = {**self.head.awaiting, "heartbeatDue": format_ts(due)}
        self.send("heartbeat-timeout", due=due)

    def finish(self, new_seq: int | None = None) -> Commit:
        head = self.head
        head.seq = self.original_seq + 1 if new_seq is None else new_seq
        head.updated_at = self.ts
        head.produced_by = self.produced_by
        awaiting = head.awaiting or {}
        still_waiting = awaiting.get("kind") == "fanin" and head.instance == self._fanin
        if self._fanin is not None and not self.gathered and not still_waiting:
            # The step attempt ended (cancel, failure, timeout) with iterations still out.
            self.send("sweep", instance=self._fanin)
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

    def run(self, definition: Definition, step_id: str, outcome: Outcome | None = None, retrying: bool = False) -> None:
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
                outcome = self._start(step, retrying)
                retrying = False
            next_id = self._settle(definition, step, outcome)
            if next_id is None:
                return
            step_id, outcome = next_id, None

    def _start(self, step: Step, retrying: bool) -> Outcome:
        head = self.head
        head.awaiting = None
        if not retrying:
            head.attempt = 1
        head.step = step.id
        head.instance = self.emit(ex.STEP_STARTED, stepId=step.id, attempt=head.attempt if head.attempt > 1 else None)
        try:
            step_input = evaluate(step.config["input"], head.stash) if "input" in step.config else head.stash
        except ExpressionError as exc:
            return Failed(failures.BAD_EXPRESSION, f"input: {exc}")
        outcome = STEP_TYPES[step.type].start(step, self.context(step, step_input))
        if isinstance(outcome, Await) and "timeoutSeconds" in step.config:
            due = self.now + timedelta(seconds=int(step.config["timeoutSeconds"]))
            self.send("timeout", due=due, instance=head.instance)
        return outcome

    def _settle(self, definition: Definition, step: Step, outcome: Outcome) -> str | None:
        """Apply an outcome; the id of the step to run next, or None to stop."""
        if isinstance(outcome, Await):
            self.head.awaiting = {"kind": outcome.kind, "step": step.id}
            if outcome.due is not None:
                self.head.awaiting["due"] = format_ts(outcome.due)
            if outcome.kind == "timer":
                assert outcome.due is not None
                self.send("timer", due=outcome.due)
            elif outcome.kind == "fanin":
                self.head.awaiting.update(outcome.data)
                self.send("fanout", instance=self.head.instance)
            elif outcome.kind == "callback":
                token = task_token(self.head)
                self.head.awaiting["token"] = token
                if self._started_here(step):
                    self.head.pending_events[-1]["taskToken"] = token
                seconds = outcome.data.get("heartbeatSeconds")
                if seconds:
                    self.head.awaiting["heartbeatSeconds"] = int(seconds)
                    self.arm_heartbeat(int(seconds))
            return None
        if isinstance(outcome, End):
            if outcome.succeeded:
                self.emit(ex.STEP_SUCCEEDED, stepId=step.id, output=outcome.output)
                self._succeed(definition, step, outcome.output)
            else:
                error, cause = outcome.error or failures.RUNTIME, outcome.cause or ""
                self.emit(ex.STEP_FAILED, stepId=step.id, error=error, cause=cause)
                self.fail_execution(error, cause, step.id)
            return None
        if isinstance(outcome, Failed):
            return self._failed(step, outcome)
        if outcome.log is not None:
            self.logs.append({"stepId": step.id, "message": outcome.log})
        output = outcome.output
        if "output" in step.config:
            try:
                output = evaluate(step.config["output"], output)
            except ExpressionError as exc:
                return self._failed(step, Failed(failures.BAD_EXPRESSION, f"output: {exc}"))
        try:
            limits.check_stash_value(output, f"the output of step {step.id!r}")
        except SedoError as exc:  # too large or too deep to keep in the execution
            return self._failed(step, Failed(failures.PAYLOAD_TOO_LARGE, exc.detail))
        self.emit(ex.STEP_SUCCEEDED, stepId=step.id, output=output)
        if "resultPath" in step.config:
            self.head.stash[step.config["resultPath"]] = output
        self.head.output = output
        next_id = outcome.next or step.next
        if next_id is None:
            self._succeed(definition, step, output)
            return None
        return next_id

    def _started_here(self, step: Step) -> bool:
        events = self.head.pending_events
        return bool(events) and events[-1].get("type") == ex.STEP_STARTED and events[-1].get("stepId") == step.id

    def _succeed(self, definition: Definition, step: Step, output: Any) -> None:
        expression = definition.document.get("output")
        if expression:
            try:
                output = evaluate(expression, self.head.stash)
            except ExpressionError as exc:
                self.fail_execution(failures.BAD_EXPRESSION, f"definition output: {exc}", step.id)
                return
        self.head.output = output
        self.emit(ex.SUCCEEDED, stepId=step.id, output=output, index=self.head.index)
        self.end(ex.SUCCEEDED)

    def _failed(self, step: Step, failure: Failed) -> str | None:
        head = self.head

        def record(**extra: Any) -> None:
            self.emit(
                ex.STEP_FAILED, stepId=step.id, error=failure.error, cause=failure.cause, attempt=head.attempt, **extra
            )

        delay = retry_delay(step.config.get("retry") or [], failure.error, head.attempt, f"{head.id}/{step.id}")
        if delay is not None:
            record(retryInSeconds=round(delay, 3))
            head.attempt += 1
            due = self.now + timedelta(seconds=delay)
            head.awaiting = {"kind": "retry", "step": step.id, "due": format_ts(due)}
            self.send("retry", due=due, attempt=head.attempt)
            return None
        catcher = catcher_for(step.config.get("catch") or [], failure.error)
        if catcher is not None:
            record(caughtBy=catcher["next"])
            head.stash[catcher.get("resultPath", "error")] = {"error": failure.error, "cause": failure.cause}
            return str(catcher["next"])
        record()
        self.fail_execution(failure.error, failure.cause, step.id)
        return None


def iteration_inputs(definition: Definition, head: Execution) -> list[Any]:
    """The inputs of a waiting fan-out step's children, recomputed from the unchanged stash."""
    awaiting = head.awaiting or {}
    step = definition.step(str(awaiting["step"]))
    step_input = evaluate(step.config["input"], head.stash) if "input" in step.config else head.stash
    if awaiting.get("branches"):
        return [step_input] * int(awaiting["total"])
    items = evaluate(step.config["items"], step_input)
    if not isinstance(items, list) or len(items) != int(awaiting["total"]):  # pragma: no cover - stash is frozen
        raise ValueError(f"the items of step {step.id!r} changed while it waited")
    return items
