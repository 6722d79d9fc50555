"""A dead-lettered wake-up, and bringing its execution back when the message is redriven.

A wake-up that fails on its last receive goes to the DLQ, and first fails its execution
(``States.Runtime``: engine.dead_letter), so nothing shows as running that nobody will
wake. That failure keeps a **mark** in the head: the wake-up's ``mid`` and what the failure
replaced (the state, what the execution awaited, its lasting timers, the outbox and the
producer of the head before it). When the same message comes back, moved from the DLQ by
``aws sqs start-message-move-task`` (or by hand: receive and send again), its receive count
starts again at 1 and its execution has ended, so by the ordinary rules it would be stale.
:func:`revive` instead brings the execution back, in one seq-guarded commit:

- an ``ExecutionRedriven`` event follows the ``ExecutionFailed`` in the history;
- the head is as it was before the failure (the step, its attempt and what it awaits);
- its outbox re-sends, under the new ``seq``, what the execution waited for (the outbox
  and timers of the head before the failure: their messages were made stale by the
  failure) and the redriven wake-up itself, unless that wake-up had produced the head (then
  it was applied, and its outbox is what it had to send).

The mark is cleared by the revival, so a second copy of the redriven message is stale (a
callback's completion applies at most once, as always, by its token and the ``seq``
guard). Not marked: a map or parallel that waited for its iterations (the failure cancelled
them), and an iteration (its map has counted its failure).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from sedo.domain.execution import Execution, WakeUp
from sedo.domain.protocol import FanInAwait, WakeKind, awaiting_from_dict, awaiting_to_dict
from sedo.domain.segment import Budget, Commit, Segment
from sedo.domain.timefmt import parse_ts

#: The history event of a revival.
REDRIVEN = "ExecutionRedriven"


def mark(failed: Execution, before: Execution, wake: WakeUp) -> Execution:
    """``failed`` (the dead-letter commit's head) with the mark a redrive of ``wake`` needs."""
    if isinstance(before.awaiting, FanInAwait) or before.parent_key is not None:
        return failed  # its iterations were cancelled; an iteration's failure is its map's already
    failed.dead_letter = {
        "mid": wake.mid,
        "kind": str(wake.kind),
        "state": before.state,
        "awaiting": awaiting_to_dict(before.awaiting),
        "timers": before.timers,
        "outbox": before.outbox,
        "producedBy": before.produced_by,
    }
    return failed


def marked_for(head: Execution, wake: WakeUp) -> bool:
    """Whether ``wake`` is the dead-lettered wake-up that failed ``head``."""
    return head.finished and head.dead_letter is not None and head.dead_letter.get("mid") == wake.mid


def revive(head: Execution, wake: WakeUp, now: datetime, budget: Budget = Budget()) -> Commit | None:
    """The commit that brings ``head`` back for its redriven wake-up ``wake`` (None: not it)."""
    if not marked_for(head, wake):
        return None
    assert head.dead_letter is not None
    before = head.dead_letter
    # Produced by the redriven message itself: if this commit's flush is cut short, the
    # message comes back (receive count 2) and re-flushes it, as any producer does.
    segment = Segment(replace(head, error=None, cause=None, ended_at=None, dead_letter=None), now, wake.mid, budget)
    revived = segment.head
    segment.emit(REDRIVEN, stepId=revived.step, kind=str(wake.kind), cause=head.cause)
    revived.state = str(before["state"])
    revived.awaiting = awaiting_from_dict(before.get("awaiting"))
    revived.timers = []
    waited: list[dict[str, Any]] = [*before.get("outbox", []), *before.get("timers", [])]
    if before.get("producedBy") != wake.mid:
        waited.append(wake.to_body())
    seen: set[str] = set()
    for message in waited:
        if message.get("mid") in seen:
            continue
        seen.add(str(message.get("mid")))
        due = message.get("due")
        segment.send(WakeKind(message["kind"]), due=parse_ts(due) if due else None, **(message.get("data") or {}))
    return segment.finish()
