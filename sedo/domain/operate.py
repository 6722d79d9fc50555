"""Operating executions: pause, resume and redrive, alias routing, search attributes.

Pure functions over the head, like :func:`sedo.domain.engine.cancel`: each returns the
:class:`Commit` the caller writes with one conditional write (the API for pause, resume
and redrive; the processor for a wake-up that meets a paused head).

**Pause** commits the head with ``paused`` (state ``ExecutionPaused``), raising ``seq``, so
every ``start``/``continue``/``timer``/``retry`` in flight is stale. Completions and
fan-ins that arrive meanwhile are *held* in the head (one small commit each); timeouts
and heartbeats are dropped. The execution never advances past its await point.

**Resume** raises the head's ``epoch`` (timeouts armed before it are stale) and sends
afresh what the head awaits (a timer or retry with its own due time: one that came due
while paused fires at once), its held wake-ups, and its timeouts. The rule for
timeouts: by default the pause does not count (``timeoutsWhilePaused: extend``), each
timeout that was armed is re-armed that much later; with ``timeoutsWhilePaused: count``
it keeps its due time, so one that came due while paused fires on resume. A callback's
heartbeat window starts again at the resume.

**Redrive** re-opens a failed (or timed-out) execution at the step that failed: the stash
is as it was (a failed step stores nothing), the step starts again with attempt 1, the
steps before it do not run again. History keeps every old event and records
``ExecutionRedriven``; the execution's timeout starts again from the redrive. A redriven
map or parallel step starts a new attempt whose iterations that succeeded in the failed
attempt take that result over (sedo/service_layer/iterations.py); only the others run.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sedo.domain import execution as ex
from sedo.domain import limits
from sedo.domain.definition import Definition
from sedo.domain.errors import BadRequest
from sedo.domain.execution import Execution, WakeUp
from sedo.domain.expressions import ExpressionError, evaluate
from sedo.domain.protocol import (
    EPOCH_KINDS,
    SEQ_KINDS,
    CallbackAwait,
    ContinueAwait,
    RetryAwait,
    StartAwait,
    TimerAwait,
    WakeKind,
)
from sedo.domain.segment import Commit, Segment
from sedo.domain.timefmt import parse_ts

#: Step types whose redrive re-runs only the iterations (branches) that did not succeed.
FAN_OUT_TYPES = frozenset({"map", "parallel"})
#: ``timeoutsWhilePaused`` of a definition: the pause does not count (default), or it does.
EXTEND, COUNT = "extend", "count"


def stale_epoch(head: Execution, wake: WakeUp) -> str | None:
    """Why a timeout no longer applies after a resume or redrive (None: it may)."""
    if wake.kind in EPOCH_KINDS and int(wake.data.get("epoch", 0) or 0) != head.epoch:
        return "a timeout armed before the execution was last resumed or redriven"
    return None


def _quiet(commit: Commit) -> Commit:
    """A paused head needs nothing until it is resumed: no sweeper due time."""
    commit.head.due_at, commit.head.due_from = None, None
    return commit


def pause(head: Execution, now: datetime) -> Commit:
    segment = Segment(head, now, produced_by="api:pause")
    segment.emit(ex.PAUSED, stepId=head.step, index=head.index)
    segment.head.paused, segment.head.paused_at = True, segment.ts
    return _quiet(segment.finish())


def hold(head: Execution, wake: WakeUp, now: datetime) -> Commit | WakeUp | None:
    """What a paused head does with a wake-up that applies: a commit that holds it, None to
    drop it (it is sent afresh on resume), or the message to send again later."""
    if wake.kind in EPOCH_KINDS or wake.kind in SEQ_KINDS or wake.kind == WakeKind.HEARTBEAT:
        return None
    data = {"instance": wake.data.get("instance")} if wake.kind == WakeKind.FAN_IN else dict(wake.data)
    if any(message.get("mid") == wake.mid for message in head.held):
        return None
    body = {"kind": str(wake.kind), "mid": wake.mid, "data": data}
    size = len(json.dumps(body, separators=(",", ":"), default=str))
    if len(head.held) >= limits.MAX_HELD_MESSAGES or size > limits.MAX_HELD_MESSAGE_BYTES:
        return replace(wake, data=data, delay=limits.MAX_PAUSED_REARM_SECONDS)
    segment = Segment(head, now, produced_by=wake.mid)
    segment.head.held = [*head.held, body]
    return _quiet(segment.finish())


def resume(head: Execution, definition: Definition, now: datetime) -> Commit:
    segment = Segment(head, now, produced_by="api:resume")
    paused_for = max(0.0, (now - parse_ts(head.paused_at or segment.ts)).total_seconds())
    segment.emit(ex.RESUMED, stepId=head.step, pausedSeconds=round(paused_for, 3), index=head.index)
    new = segment.head
    new.paused, new.paused_at, new.epoch = False, None, head.epoch + 1
    held, new.held = head.held, []
    awaiting = new.awaiting
    match awaiting:
        case StartAwait():
            segment.send(WakeKind.START)
        case ContinueAwait():
            segment.send(WakeKind.CONTINUE)
        case TimerAwait(due=due):
            segment.send(WakeKind.TIMER, due=parse_ts(due))
        case RetryAwait(due=due):
            segment.send(WakeKind.RETRY, due=parse_ts(due), attempt=new.attempt)
        case CallbackAwait(heartbeat_seconds=seconds) if seconds:
            segment.arm_heartbeat(awaiting, seconds)
    extend = definition.document.get("timeoutsWhilePaused", EXTEND) == EXTEND
    for timer in head.timers:
        data = {k: v for k, v in (timer.get("data") or {}).items() if k != "epoch"}
        rearmed = parse_ts(str(timer["due"])) + timedelta(seconds=paused_for if extend else 0)
        segment.send(WakeKind(timer["kind"]), due=rearmed, **data)
    for message in held:
        segment.send(WakeKind(message["kind"]), **(message.get("data") or {}))
    return segment.finish()


def redrive(head: Execution, definition: Definition, now: datetime) -> Commit:
    segment = Segment(head, now, produced_by=f"api:redrive:{head.redrive_count + 1}")
    new = segment.head
    step = head.step if head.step is not None and head.step in definition.steps else definition.start_at
    new.redrive_count, new.epoch = head.redrive_count + 1, head.epoch + 1
    new.error = new.cause = new.output = new.ended_at = None
    new.paused, new.paused_at, new.held, new.timers = False, None, [], []
    event = segment.emit(ex.REDRIVEN, stepId=step, redriveCount=new.redrive_count, index=head.index)
    new.replay = None
    if definition.steps[step].type in FAN_OUT_TYPES and step == head.step:
        # Its next attempt is the next event (the continue starts it): it runs only the
        # iterations that did not succeed in the failed attempt.
        new.replay = {"instance": head.instance, "next": event + 1}
    new.awaiting = ContinueAwait(step=step)
    segment.send(WakeKind.CONTINUE)
    timeout = definition.document.get("timeoutSeconds")
    if timeout:
        segment.send(WakeKind.EXEC_TIMEOUT, due=now + timedelta(seconds=int(timeout)))
    return segment.finish()


# --- aliases --------------------------------------------------------------------------


def check_routing(routing: Any) -> list[dict[str, int]]:
    """The routing of an alias: one or two distinct versions whose weights sum to 100."""
    if not isinstance(routing, list) or not 1 <= len(routing) <= limits.MAX_ALIAS_ROUTES:
        raise BadRequest(f"routing must list 1 to {limits.MAX_ALIAS_ROUTES} versions with their weights")
    routes = [{"version": int(r["version"]), "weight": int(r["weight"])} for r in routing]
    if len({r["version"] for r in routes}) != len(routes):
        raise BadRequest("routing names the same version twice")
    total = sum(r["weight"] for r in routes)
    if total != 100:
        raise BadRequest(f"the routing weights sum to {total}; they must sum to 100")
    return routes


def pick_version(routing: list[dict[str, int]], seed: str, name: str | None) -> int:
    """The version a start through an alias runs: by weight; for a named start, the same
    version every time (a hash of the alias and the name), so a retry agrees with itself."""
    if name is None:
        point = secrets.randbelow(100)
    else:
        point = int(hashlib.sha256(f"{seed}\n{name}".encode()).hexdigest()[:12], 16) % 100
    for route in routing:
        if point < route["weight"]:
            return route["version"]
        point -= route["weight"]
    return routing[-1]["version"]


# --- search attributes ------------------------------------------------------------------


def index_text(value: Any) -> str | None:
    """The text a search attribute's value is indexed (and matched) as; None: not indexed."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (int, float)):
        text = json.dumps(value)
    elif isinstance(value, str):
        text = value
    else:
        return None
    return text if 0 < len(text) <= limits.MAX_SEARCH_VALUE_CHARS else None


def search_values(definition: Definition, stash: dict[str, Any]) -> dict[str, str]:
    """The definition's ``searchAttributes`` evaluated over the stash (``input.customer``)."""
    found: dict[str, str] = {}
    for name, expression in (definition.document.get("searchAttributes") or {}).items():
        try:
            text = index_text(evaluate(expression, stash))
        except ExpressionError:
            continue
        if text is not None:
            found[name] = text
    return found
