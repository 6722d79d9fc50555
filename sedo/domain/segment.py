"""A segment: the in-memory run of steps between two await points.

The engine (:mod:`sedo.domain.engine`) opens a segment on a copy of the head, applies
one wake-up to it (running steps until an await point, the end, or the step budget),
and :meth:`Segment.finish` turns it into a :class:`Commit`: the new head with
``seq + 1``, the history events it emitted and its outbox (the messages it must send).

The segment keeps the head within one item as stored (sedo/domain/payloads.py: large
values are kept apart and cost the head a reference): it tracks what the stash and its
events will weigh, goes on in a ``continue`` wake-up once its events grow large, and
fails a step with ``States.PayloadTooLarge`` (catchable) whose stash value would make the
head too large to store.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sedo.domain import execution as ex
from sedo.domain import failures, limits, liveness, payloads
from sedo.domain.definition import Definition, Step
from sedo.domain.errors import SedoError
from sedo.domain.execution import Execution, WakeUp
from sedo.domain.expressions import ExpressionError, evaluate
from sedo.domain.policies import catcher_for, retry_delay
from sedo.domain.protocol import EPOCH_KINDS, CallbackAwait, ContinueAwait, FanInAwait, RetryAwait, TimerAwait, WakeKind
from sedo.domain.steps import STEP_TYPES
from sedo.domain.steps.base import Await, Done, End, Failed, Invoker, NoInvoker, Outcome, StepContext
from sedo.domain.timefmt import format_ts, parse_ts


@dataclass(frozen=True)
class Budget:
    """How much one wake-up may do."""

    #: Steps one wake-up may run before it yields with a ``continue`` message.
    max_steps_per_wakeup: int = 50
    #: The longest delay put on one message (longer waits re-arm).
    max_delay_seconds: int = limits.MAX_SQS_DELAY_SECONDS
    #: A sweeper runs: timers beyond SQS's reach are deferred (sent by the sweeper when
    #: due within reach) instead of re-armed every 15 minutes.
    durable_timers: bool = False
    #: How long past its due time a message may be missing before the sweeper re-sends it.
    sweep_grace_seconds: int = 120
    #: A deferred timer is due for the sweeper this long before it is due (the sweeper's
    #: ``arm_lead_seconds``); due times are rounded up to ``due_resolution_seconds``.
    arm_lead_seconds: int = liveness.ARM_LEAD_SECONDS
    due_resolution_seconds: int = liveness.DUE_RESOLUTION_SECONDS


@dataclass(frozen=True)
class Commit:
    """The new head, to be written with ONE conditional write guarded by ``expected_seq``."""

    head: Execution
    expected_seq: int
    logs: list[dict[str, Any]] = field(default_factory=list)


def delay_until(due: datetime, now: datetime, budget: Budget) -> int:
    """The whole-second SQS delay closest to ``due`` (liveness.delay_to), at most the reach."""
    return liveness.delay_to(due.timestamp(), now.timestamp(), budget.max_delay_seconds)


def task_token(head: Execution) -> str:
    """The current step attempt's task token: unguessable, and stable across redelivery."""
    message = f"{head.key}/{head.step}/{head.attempt}/{head.instance}".encode()
    return hmac.new(head.nonce.encode(), message, hashlib.sha256).hexdigest()[:40]


class Segment:
    """Steps run in memory on a copy of the head; :meth:`finish` makes the commit."""

    def __init__(
        self,
        head: Execution,
        now: datetime,
        produced_by: str,
        budget: Budget = Budget(),
        invoker: Invoker | None = None,
    ) -> None:
        self.original_seq = head.seq
        # events never written apart (ex.history_in_head) go into this segment's history item
        carried = [dict(e) for e in head.pending_events] if ex.history_in_head(head) else []
        self.head = replace(head, stash=dict(head.stash), outbox=[], pending_events=carried)
        self.now = now
        self.ts = format_ts(now)
        self.budget = budget
        self.invoker = invoker or NoInvoker()
        self.produced_by = produced_by
        self.logs: list[dict[str, Any]] = []
        self._messages: list[dict[str, Any]] = []
        #: The fan-out step attempt the head awaited when the segment began, if any; and
        #: whether its iterations all came in (``gathered``), else they must be swept.
        self._fanin = head.instance if isinstance(head.awaiting, FanInAwait) else None
        self.gathered = False
        #: What the head will weigh as stored: its stash values (by key), the rest of it
        #: when the segment began, and the segment's events.
        self._stash_costs = {k: payloads.position_cost(v) + len(k) + 4 for k, v in self.head.stash.items()}
        self._stash_cost = sum(self._stash_costs.values())
        self._base_cost = payloads.head_cost_without_stash(self.head)
        self._events_cost = sum(payloads.event_cost(e) for e in carried)

    # -- bookkeeping ------------------------------------------------------------

    def emit(self, event_type: str, stepId: str | None = None, **data: Any) -> int:  # noqa: N803
        self.head.event_count += 1
        event: dict[str, Any] = {"id": self.head.event_count, "type": event_type, "timestamp": self.ts}
        if stepId is not None:
            event["stepId"] = stepId
        event.update({k: v for k, v in data.items() if v is not None})
        self.head.pending_events.append(event)
        self._events_cost += payloads.event_cost(event)
        self.head.state = event_type
        return self.head.event_count

    def send(self, kind: WakeKind, due: datetime | None = None, **data: Any) -> None:
        message: dict[str, Any] = {"kind": kind}
        if kind in EPOCH_KINDS and self.head.epoch:  # resumed or redriven: older timeouts are stale
            data["epoch"] = self.head.epoch
        if due is not None:
            message["due"] = format_ts(due)
            message["delay"] = delay_until(due, self.now, self.budget)
        if data:
            message["data"] = data
        self._messages.append(message)

    def keep(self, path: str, value: Any) -> bool:
        """Put a value into the stash under ``path``, unless it would make the head too large
        to store (then False, and the stash is unchanged)."""
        cost = payloads.position_cost(value) + len(path) + 4  # the key, its quotes, colon and comma
        stash_cost = self._stash_cost - self._stash_costs.get(path, 0) + cost
        room = limits.MAX_HEAD_BYTES - limits.MAX_SEGMENT_EVENTS_BYTES - limits.MAX_STEP_SLACK_BYTES
        if self._base_cost + stash_cost > room:
            return False
        self.head.stash[path] = value
        self._stash_costs[path] = cost
        self._stash_cost = stash_cost
        return True

    def _head_room_message(self, path: str) -> str:
        return (
            f"storing the result under {path!r} would make the execution's state larger than sedo keeps "
            f"({limits.MAX_HEAD_BYTES // 1024} KiB as stored, values over "
            f"{limits.CLAIM_THRESHOLD_BYTES // 1024} KiB counting as references): use fewer resultPath keys "
            "or larger values"
        )

    def end(self, state: str) -> None:
        self.head.state = state
        self.head.ended_at = self.ts
        self.head.awaiting = None

    def fail_execution(self, error: str, cause: str, step_id: str | None = None) -> None:
        cause = limits.clip_cause(cause)
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

    def arm_heartbeat(self, awaiting: CallbackAwait, seconds: int) -> None:
        due = self.now + timedelta(seconds=seconds)
        self.head.awaiting = replace(awaiting, heartbeat_due=format_ts(due))
        self.send(WakeKind.HEARTBEAT_TIMEOUT, due=due)

    def finish(self, new_seq: int | None = None) -> Commit:
        head = self.head
        head.seq = self.original_seq + 1 if new_seq is None else new_seq
        head.updated_at = self.ts
        head.produced_by = self.produced_by
        still_waiting = isinstance(head.awaiting, FanInAwait) and head.instance == self._fanin
        if self._fanin is not None and not self.gathered and not still_waiting:
            # The step attempt ended (cancel, failure, timeout) with iterations still out.
            self.send(WakeKind.SWEEP, instance=self._fanin)
        deferred_after = self.now.timestamp() + self.budget.max_delay_seconds
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
            body = wake.to_body()
            if self.budget.durable_timers and wake.due is not None and parse_ts(wake.due).timestamp() > deferred_after:
                body["deferred"] = True  # out of SQS's reach: the sweeper sends it in time
            head.outbox.append(body)
            if wake.kind in liveness.LASTING_KINDS:
                head.timers = [t for t in head.timers if t.get("kind") != wake.kind] + [body]
        for event in head.pending_events:
            event.setdefault("seq", head.seq)  # carried events keep the seq that emitted them
        self._schedule()
        return Commit(head=head, expected_seq=self.original_seq, logs=self.logs)

    def _schedule(self) -> None:
        """Keep the timers that still apply, and say when a sweeper must look at the head."""
        head = self.head
        if head.finished:
            head.timers, head.due_at, head.due_from = [], None, None
            return
        head.timers = [
            t
            for t in head.timers
            if t.get("kind") != WakeKind.TIMEOUT
            or (head.awaiting is not None and (t.get("data") or {}).get("instance") == head.instance)
        ]
        decided = self.now.timestamp()
        messages = liveness.live_messages(head.outbox, head.timers)
        fan_in = isinstance(head.awaiting, FanInAwait)
        budget = self.budget
        head.due_at = liveness.due_at(
            messages,
            decided,
            budget.sweep_grace_seconds,
            budget.max_delay_seconds,
            fan_in,
            budget.arm_lead_seconds,
            budget.due_resolution_seconds,
        )
        head.due_from = decided

    # -- running steps ----------------------------------------------------------

    def run(self, definition: Definition, step_id: str, outcome: Outcome | None = None, retrying: bool = False) -> None:
        """Run from ``step_id`` until an await point, the end, or the step budget."""
        started = 0
        while True:
            step = definition.step(step_id)
            if outcome is None:
                events_full = started and self._events_cost > limits.MAX_SEGMENT_EVENTS_BYTES
                if started >= self.budget.max_steps_per_wakeup or events_full:
                    self.head.awaiting = ContinueAwait(step=step.id)
                    self.send(WakeKind.CONTINUE)
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
            self.send(WakeKind.TIMEOUT, due=due, instance=head.instance)
        return outcome

    def _settle(self, definition: Definition, step: Step, outcome: Outcome) -> str | None:
        """Apply an outcome; the id of the step to run next, or None to stop."""
        if isinstance(outcome, Await):
            self._await(step, outcome)
            return None
        if isinstance(outcome, End):
            if outcome.succeeded:
                self.emit(ex.STEP_SUCCEEDED, stepId=step.id, output=outcome.output)
                self._succeed(definition, step, outcome.output)
            else:
                error, cause = outcome.error or failures.RUNTIME, limits.clip_cause(outcome.cause or "")
                self.emit(ex.STEP_FAILED, stepId=step.id, error=error, cause=cause)
                self.fail_execution(error, cause, step.id)
            return None
        if isinstance(outcome, Failed):
            return self._failed(step, outcome)
        return self._done(definition, step, outcome)

    def _await(self, step: Step, outcome: Await) -> None:
        awaiting = outcome.what
        self.head.awaiting = awaiting
        match awaiting:
            case TimerAwait():
                self.send(WakeKind.TIMER, due=parse_ts(awaiting.due))
            case FanInAwait():
                self.send(WakeKind.FAN_OUT, instance=self.head.instance)
            case CallbackAwait():
                token = task_token(self.head)
                awaiting = replace(awaiting, token=token)
                self.head.awaiting = awaiting
                if self._started_here(step):
                    self.head.pending_events[-1]["taskToken"] = token
                if awaiting.heartbeat_seconds:
                    self.arm_heartbeat(awaiting, awaiting.heartbeat_seconds)

    def _done(self, definition: Definition, step: Step, outcome: Done) -> str | None:
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
        if "resultPath" in step.config and not self.keep(step.config["resultPath"], output):
            return self._failed(
                step, Failed(failures.PAYLOAD_TOO_LARGE, self._head_room_message(step.config["resultPath"]))
            )
        self.emit(ex.STEP_SUCCEEDED, stepId=step.id, output=output)
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
        failure = Failed(failure.error, limits.clip_cause(failure.cause))

        def record(**extra: Any) -> None:
            self.emit(
                ex.STEP_FAILED, stepId=step.id, error=failure.error, cause=failure.cause, attempt=head.attempt, **extra
            )

        delay = retry_delay(step.config.get("retry") or [], failure.error, head.attempt, f"{head.id}/{step.id}")
        if delay is not None:
            record(retryInSeconds=round(delay, 3))
            head.attempt += 1
            due = self.now + timedelta(seconds=delay)
            head.awaiting = RetryAwait(step=step.id, due=format_ts(due))
            self.send(WakeKind.RETRY, due=due, attempt=head.attempt)
            return None
        catcher = catcher_for(step.config.get("catch") or [], failure.error)
        if catcher is not None:
            record(caughtBy=catcher["next"])
            path = catcher.get("resultPath", "error")
            if not self.keep(path, {"error": failure.error, "cause": failure.cause}):
                cause = self._head_room_message(path)
                self.emit(ex.STEP_FAILED, stepId=step.id, error=failures.PAYLOAD_TOO_LARGE, cause=cause)
                self.fail_execution(failures.PAYLOAD_TOO_LARGE, cause, step.id)
                return None
            return str(catcher["next"])
        record()
        self.fail_execution(failure.error, failure.cause, step.id)
        return None
