"""When a sweeper must look at an execution, and what it then re-sends (docs/DESIGN.md §5).

Every message an unfinished execution waits for is kept in its head: the outbox of its
last commit, and the *timers* that outlive a commit (the execution's and the current
step attempt's timeouts). From them the head gets a due time, ``due_at`` (epoch seconds,
rounded up to the minute): the moment by which something should have happened, plus a
grace period. An index on it lets the sweeper find, at a cost of O(overdue executions),
the heads whose messages were lost (a purged queue, a dead letter, a bug) and re-send
them; the ``seq`` guard and the relevance checks make a duplicate harmless.

A timer further away than SQS's 900 s reach is *deferred*: sent by nobody at commit, its
``due_at`` is :data:`ARM_LEAD_SECONDS` before its due time, when the sweeper sends it
with the remaining delay. A year-long wait costs one message, not 35,040 re-arms, and no
write at the arm: the sweeper leaves the head's index entry where it is (:attr:`SweepPlan.keep`)
and, through the mark of its last complete run, looks at it again only once the timer is
overdue (:func:`visit`).

The lead and the rounding (``arm_lead``, ``resolution``) are parameters with these
defaults so that the benchmark can run the same path scaled down (a 30 s wait beyond a
10 s reach, armed 8 s before it is due: bench/README.md).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sedo.domain.protocol import FanInAwait, WakeKind
from sedo.domain.timefmt import parse_ts

#: Index shards: the sweeper queries each; no shard takes more than 1/32 of the writes.
SHARDS = 32
#: A deferred timer is sent this long before it is due (well inside SQS's 900 s reach,
#: with room for a sweeper that runs once a minute).
ARM_LEAD_SECONDS = 600
#: Due times are rounded up to this, so consecutive commits within it keep the index entry.
DUE_RESOLUTION_SECONDS = 60
#: How often a map or parallel that awaits its children is re-checked (its fan-in).
FAN_IN_RECHECK_SECONDS = 300
#: Timers that outlive the commit that set them.
LASTING_KINDS = frozenset({WakeKind.TIMEOUT, WakeKind.EXEC_TIMEOUT})


def shard_of(tenant_id: str, key: str) -> str:
    return f"d{zlib.crc32(f'{tenant_id}/{key}'.encode()) % SHARDS:02d}"


def _round_up(seconds: float, resolution: int) -> int:
    return int(math.ceil(seconds / resolution) * resolution)


def _epoch(ts: str) -> float:
    return parse_ts(ts).timestamp()


def delay_to(due: float, now: float, max_delay: int) -> int:
    """The SQS delay (whole seconds) that makes a message due at ``due`` visible closest to it:
    at most half a second early (:data:`ON_TIME_SECONDS`), at most half a second late."""
    return max(0, min(max_delay, math.floor(due - now + 0.5)))


#: A timer that arrives this little before its due time is on time (processed, not re-armed
#: for a whole second that would make it late): SQS delays are whole seconds, :func:`delay_to`.
ON_TIME_SECONDS = 0.5


def with_delay(message: dict[str, Any], now: float, max_delay: int) -> dict[str, Any]:
    """``message`` to be sent at ``now``: the delay to its due time (none without one)."""
    due = message.get("due")
    return {**message, "delay": 0 if due is None else delay_to(_epoch(due), now, max_delay)}


def recheck_seconds(grace: int, arm_lead: int = ARM_LEAD_SECONDS) -> int:
    """How long after its due time an index entry the sweeper left in place (an armed deferred
    timer) is looked at again: the timer is due by ``arm_lead`` after it, and overdue a grace
    period later."""
    return arm_lead + grace


def visit(entry_due: int, mark: int | None, recheck_before: int | None) -> bool:
    """Whether a sweep reads the head of an index entry due at ``entry_due`` (and due by now).

    ``mark`` is the moment of the last complete sweep run that left an entry in place (None:
    none yet; a run that moved every entry it found stores none). An entry due by then was
    seen by a complete run, which left it in place on purpose (it armed the head's
    deferred timers, :attr:`SweepPlan.keep`): it is read again only once it is due by
    ``recheck_before`` (now minus :func:`recheck_seconds`), when an armed timer that was lost
    is overdue."""
    return mark is None or entry_due > mark or (recheck_before is not None and entry_due <= recheck_before)


@dataclass(frozen=True)
class DueWindow:
    """What one sweep reads of the due index: entries due by ``before`` that :func:`visit`
    lets through (``mark``: the last complete run's, ``recheck_before``: now minus the recheck)."""

    before: int
    mark: int | None = None
    recheck_before: int | None = None

    def visits(self, entry_due: int) -> bool:
        return entry_due <= self.before and visit(entry_due, self.mark, self.recheck_before)


def deferred(message: dict[str, Any], decided_at: float, max_delay: int) -> bool:
    """Whether ``message`` was out of SQS's reach when ``decided_at`` (so nobody sent it)."""
    due = message.get("due")
    return due is not None and _epoch(due) > decided_at + max_delay


def due_at(
    messages: list[dict[str, Any]],
    decided_at: float,
    grace: int,
    max_delay: int,
    fan_in: bool = False,
    arm_lead: int = ARM_LEAD_SECONDS,
    resolution: int = DUE_RESOLUTION_SECONDS,
) -> int | None:
    """When the sweeper must look next at a head waiting for ``messages`` (None: never)."""
    moments: list[float] = []
    for message in messages:
        due = message.get("due")
        if due is None:
            moments.append(decided_at + grace)
        elif deferred(message, decided_at, max_delay):
            moments.append(_epoch(due) - arm_lead)
        else:
            moments.append(_epoch(due) + grace)
    if fan_in:
        moments.append(decided_at + FAN_IN_RECHECK_SECONDS)
    # never due by the decision itself: a sweep's mark (visit) is from a run that started
    # before, so an entry due by it is one that run saw (a reach shorter than the arm lead
    # would put a deferred timer's moment in the past)
    return _round_up(max(min(moments), decided_at + resolution), resolution) if moments else None


def live_messages(outbox: list[dict[str, Any]], timers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The outbox and the lasting timers, once each (by ``mid``)."""
    seen: set[str] = set()
    found: list[dict[str, Any]] = []
    for message in [*outbox, *timers]:
        if message.get("mid") not in seen:
            seen.add(str(message.get("mid")))
            found.append(message)
    return found


@dataclass(frozen=True)
class SweepPlan:
    """What the sweeper does for one due head: send these, then look again at ``next_due``;
    with ``keep``, leave the head's index entry as it is instead (no write): it only armed
    deferred timers, and :func:`visit` brings the head back by ``next_due``."""

    send: list[dict[str, Any]]
    next_due: int | None
    check_fan_in: bool = False
    keep: bool = False
    #: The ``mid`` of each message of ``send`` that was overdue (lost), not just armed.
    overdue: frozenset[str] = frozenset()


def plan(
    messages: list[dict[str, Any]],
    awaiting: Any,
    decided_at: float,
    now: datetime,
    grace: int,
    max_delay: int,
    arm_lead: int = ARM_LEAD_SECONDS,
    resolution: int = DUE_RESOLUTION_SECONDS,
    entry_due: int | None = None,
) -> SweepPlan:
    """Messages that are overdue (lost) or deferred and now within reach, with fresh delays;
    ``entry_due``: the head's index entry, kept when a revisit by :func:`visit` is early enough."""
    t = now.timestamp()
    send: list[dict[str, Any]] = []
    lost: set[str] = set()
    for message in messages:
        due = message.get("due")
        due_s = _epoch(due) if due is not None else None
        was_deferred = deferred(message, decided_at, max_delay)
        if due_s is not None and due_s > t + max_delay:
            continue  # still out of reach
        overdue = (due_s if due_s is not None else decided_at) + grace <= t
        if overdue or was_deferred:
            if overdue:
                lost.add(str(message.get("mid")))
            send.append(with_delay(message, t, max_delay))
    fan_in = isinstance(awaiting, FanInAwait)
    next_due = due_at(messages, t, grace, max_delay, fan_in, arm_lead, resolution)
    keep = (
        bool(send)
        and not lost
        and not fan_in
        and entry_due is not None
        and next_due is not None
        and entry_due + recheck_seconds(grace, arm_lead) <= next_due
    )
    return SweepPlan(send, next_due, check_fan_in=fan_in, keep=keep, overdue=frozenset(lost))
