"""A callback's completion is recorded in its execution before it is sent (docs/DESIGN.md §5).

The API's complete, fail and heartbeat calls (``ExecutionService.signal``) answer once the
call is durable: :func:`record` makes a commit, guarded by ``seq`` like any transition,
that adds the call's wake-up to the head's outbox and brings the head's due time to the
grace period from now. If that message is lost (a purged queue, a bug), the sweeper finds
the head overdue and re-sends it, like any other awaited wake-up; the processor's commit
that applies it starts a new outbox. Only the head's schedule and outbox change: its
``produced_by`` and pending events stay the previous transition's, so a redelivery of the
message that produced them still re-flushes them (with this outbox).

The previous outbox stays (what the execution also waits for, its timers); a later call of
the same kind replaces an earlier one's record. A timer that was deferred (beyond SQS's
reach when its commit was decided) and is now within reach was not armed yet: since the
schedule is decided anew, it is sent now with the call, as the sweeper would have sent it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sedo.domain import liveness
from sedo.domain.execution import Execution
from sedo.domain.segment import Budget
from sedo.domain.timefmt import format_ts, parse_ts


@dataclass(frozen=True)
class Recorded:
    """The head with the call recorded (commit it guarded by ``expected_seq``), then send ``send``."""

    head: Execution
    expected_seq: int
    send: list[dict[str, Any]]


def record(head: Execution, message: dict[str, Any], now: datetime, budget: Budget = Budget()) -> Recorded:
    """``head`` with the callback call ``message`` (a wake-up body) recorded in its outbox."""
    decided = now.timestamp()
    before = head.due_from if head.due_from is not None else decided
    send = [message]
    for kept in [*head.outbox, *head.timers]:
        due = kept.get("due")
        if liveness.deferred(kept, before, budget.max_delay_seconds) and not liveness.deferred(
            kept, decided, budget.max_delay_seconds
        ):
            delay = max(0, min(budget.max_delay_seconds, math.ceil(parse_ts(str(due)).timestamp() - decided)))
            send.append({**{k: v for k, v in kept.items() if k != "deferred"}, "delay": delay})
    outbox = [m for m in head.outbox if m.get("kind") != message.get("kind")] + [message]
    recorded = replace(head, seq=head.seq + 1, updated_at=format_ts(now), outbox=outbox, stash=dict(head.stash))
    recorded.due_at = liveness.due_at(
        liveness.live_messages(recorded.outbox, recorded.timers),
        decided,
        budget.sweep_grace_seconds,
        budget.max_delay_seconds,
        False,
        budget.arm_lead_seconds,
        budget.due_resolution_seconds,
    )
    recorded.due_from = decided
    return Recorded(recorded, head.seq, send)
