"""The sweeper: re-send the wake-ups of executions whose messages are overdue (docs/DESIGN.md §5).

Run on a schedule (a Lambda on AWS, a thread of ``make run``). Each run queries every
shard of the due index for heads due by now, so it costs O(overdue executions), not a
scan. For each head it sends what :func:`sedo.domain.liveness.plan` says (lost messages
again, deferred timers now within SQS's reach; the sends of all the heads in batches of ten,
each delay counted from when its batch goes), re-writes the head's history (idempotent), and moves the head's due time on with
a write conditional on its ``seq``: a concurrent transition always wins. A head whose
deferred timers it only armed keeps its index entry (no write); the run's *mark*, stored
once the run is complete and only by a run that kept an entry (a run that moved every entry
it found has nothing for later runs to skip), tells later runs they saw it
(:func:`sedo.domain.liveness.visit`).
A map or parallel waiting for its children is not re-fanned-out once its counter exists; it
gets a fan-in check instead, which is stale unless every child is in.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from sedo.domain import liveness
from sedo.domain.apinames import api_fields
from sedo.domain.execution import Execution, WakeUp
from sedo.domain.protocol import FanInAwait, WakeKind
from sedo.domain.timefmt import parse_ts
from sedo.service_layer.flush import put_history
from sedo.service_layer.ports import Clock, ExecutionStore, IterationStore, Queue

log = logging.getLogger("sedo.sweeper")
#: SendMessageBatch takes ten messages: the sweeper sends when it has that many, at the end of
#: its run, or as soon as one is due within SEND_SOON_SECONDS (a run takes about a second; a
#: deferred timer is armed minutes ahead, a lost message is overdue).
SEND_BATCH = 10
SEND_SOON_SECONDS = 60


@dataclass
class SweepReport:
    """What one sweep did."""

    due: int = 0
    resent: int = 0
    armed: int = 0
    fan_in_checks: int = 0
    rescheduled: int = 0
    kept: int = 0
    lost_races: int = 0
    executions: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return api_fields(self, "due", "resent", "armed", "fan_in_checks", "rescheduled", "kept", "lost_races")


class Sweeper:
    def __init__(
        self,
        executions: ExecutionStore,
        queue: Queue,
        clock: Clock,
        iterations: IterationStore | None,
        grace_seconds: int = 120,
        max_delay_seconds: int = 900,
        page: int = 100,
        arm_lead_seconds: int = liveness.ARM_LEAD_SECONDS,
        due_resolution_seconds: int = liveness.DUE_RESOLUTION_SECONDS,
    ) -> None:
        """``arm_lead_seconds``, ``due_resolution_seconds``: must match the processor's
        ``Budget`` (the defaults everywhere but the benchmark's scaled long waits)."""
        self.executions = executions
        self.queue = queue
        self.clock = clock
        self.iterations = iterations
        self.grace = grace_seconds
        self.max_delay = max_delay_seconds
        self.page = page
        self.arm_lead = arm_lead_seconds
        self.resolution = due_resolution_seconds

    def sweep(self) -> SweepReport:
        report = SweepReport()
        now = self.clock.now()
        until = int(now.timestamp())
        mark = self.executions.sweep_mark()
        if mark is not None and mark > until:
            mark = None  # from a clock ahead of ours: look at everything due
        window = liveness.DueWindow(until, mark, until - liveness.recheck_seconds(self.grace, self.arm_lead))
        pending: list[tuple[Execution, liveness.SweepPlan]] = []
        sends: list[dict[str, Any]] = []
        for number in range(liveness.SHARDS):
            shard = f"d{number:02d}"
            token: str | None = None
            while True:
                heads, token = self.executions.due(shard, window, self.page, token)
                for head in heads:
                    planned = self._plan(head, report)
                    if planned is not None:
                        pending.append((head, planned[0]))
                        sends.extend(planned[1])
                if len(sends) >= SEND_BATCH or len(pending) >= self.page or self._soon(sends):
                    self._flush(pending, sends, report)
                if token is None:
                    break
        self._flush(pending, sends, report)
        if report.kept:  # the run is complete: later runs skip the entries it left in place
            self.executions.mark_swept(until)
        if report.due:
            log.info("sweep", extra=report.as_dict())
        return report

    def _plan(self, head: Execution, report: SweepReport) -> tuple[liveness.SweepPlan, list[dict[str, Any]]] | None:
        """What to send for ``head`` (history re-written first where a flush was cut short)."""
        if head.finished or head.due_at is None:
            return None
        now = self.clock.now()
        report.due += 1
        decided = head.due_from if head.due_from is not None else now.timestamp()
        messages = liveness.live_messages(head.outbox, head.timers)
        plan = liveness.plan(
            messages,
            head.awaiting,
            decided,
            now,
            self.grace,
            self.max_delay,
            self.arm_lead,
            self.resolution,
            entry_due=head.due_at,
        )
        send = [{k: v for k, v in m.items() if k != "deferred"} for m in plan.send]
        if plan.check_fan_in and isinstance(head.awaiting, FanInAwait):
            send = self._fan_in(head, send, report)
        overdue = [m for m in plan.send if m.get("mid") in plan.overdue]
        if overdue:
            report.resent += len(overdue)
            report.executions.append(head.id)
            put_history(head, self.executions)  # a crash may have cut the flush short
        report.armed += len(plan.send) - len(overdue)
        return plan, send

    def _soon(self, sends: list[dict[str, Any]]) -> bool:
        """Whether a message waiting for a fuller batch is due too soon to wait for the rest of the run."""
        now = self.clock.now().timestamp()
        return any(m.get("due") is None or parse_ts(m["due"]).timestamp() - now < SEND_SOON_SECONDS for m in sends)

    def _flush(
        self, pending: list[tuple[Execution, liveness.SweepPlan]], sends: list[dict[str, Any]], report: SweepReport
    ) -> None:
        """Send what the planned heads need (full batches across shards), then move their due times."""
        if sends:
            now = self.clock.now().timestamp()  # the delays from the moment they are sent
            self.queue.send([liveness.with_delay(m, now, self.max_delay) for m in sends])  # before due times move
        for head, plan in pending:
            self._reschedule(head, plan, report)
        pending.clear()
        sends.clear()

    def _reschedule(self, head: Execution, plan: liveness.SweepPlan, report: SweepReport) -> None:
        if plan.keep:
            report.kept += 1  # armed only: the entry stays, liveness.visit brings it back if lost
            return
        head.due_at, head.due_from = plan.next_due, self.clock.now().timestamp()
        if self.executions.reschedule(head):
            report.rescheduled += 1
        else:
            report.lost_races += 1  # the execution moved on meanwhile: its commit set a new due time

    def _fan_in(self, head: Execution, send: list[dict[str, Any]], report: SweepReport) -> list[dict[str, Any]]:
        """Re-fan-out only when the fan-out never happened; otherwise check the fan-in."""
        if self.iterations is None:
            return send
        counter = self.iterations.counter(head.tenant_id, head.key, head.instance)
        if counter is None:
            return send
        send = [m for m in send if m.get("kind") != WakeKind.FAN_OUT]
        if counter.closed or counter.done >= counter.total or counter.failed > counter.tolerated:
            report.fan_in_checks += 1
            wake = WakeUp(
                tenant_id=head.tenant_id,
                key=head.key,
                seq=0,
                kind=WakeKind.FAN_IN,
                mid=f"sweep.fanin.{head.instance}",
                data={"instance": head.instance},
            )
            send.append(wake.to_body())
        return send
