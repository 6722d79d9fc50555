"""The wake-up protocol: what an execution can await, and the messages that wake it.

An execution head awaits at most one thing at a time (:data:`Awaiting`); a wake-up
message (:class:`sedo.domain.execution.WakeUp`) names its :class:`WakeKind`. The engine
(:mod:`sedo.domain.engine`) and the processor (:mod:`sedo.service_layer.processing`)
each dispatch through a table ``{WakeKind: handler}``, one handler per kind, so the
protocol reads as those two tables and mypy checks them. docs/DESIGN.md describes the
invariants.

Each awaited thing is a frozen dataclass. It is stored inside the head as a JSON object
with a ``kind`` tag; :func:`awaiting_to_dict` and :func:`awaiting_from_dict` are the one
place that serialises it (the stored shape is unchanged from the untyped dict it replaces,
so heads written before read back the same).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar


class WakeKind(StrEnum):
    """What a wake-up message asks for. The values are the wire format."""

    #: The execution's first wake-up: run from the first step.
    START = "start"
    #: The step budget of a wake-up ran out: run on from the awaited step.
    CONTINUE = "continue"
    #: A wait step's due time (re-armed until it is reached).
    TIMER = "timer"
    #: A failed step's retry is due.
    RETRY = "retry"
    #: A callback (or ``waitForCompletion`` invoke) was completed, failed or heartbeat.
    COMPLETE = "complete"
    FAIL = "fail"
    HEARTBEAT = "heartbeat"
    #: A step's ``timeoutSeconds`` ran out (for the step attempt it was set for).
    TIMEOUT = "timeout"
    #: A callback's ``heartbeatSeconds`` ran out with no heartbeat.
    HEARTBEAT_TIMEOUT = "heartbeat-timeout"
    #: The execution's ``timeoutSeconds`` ran out.
    EXEC_TIMEOUT = "exec-timeout"
    #: The processor's own: create a map/parallel step's children.
    FAN_OUT = "fanout"
    #: Every child of a map/parallel step attempt is in (or failures passed the tolerance).
    FAN_IN = "fanin"
    #: The processor's own: cancel the children of a fan-out step attempt that ended.
    SWEEP = "sweep"
    #: Enough correlated events for an event step attempt arrived (issue 15); the processor
    #: gathers them from the store before the engine resumes the step.
    EVENT = "event"
    #: The processor's own: one bounded batch of a bulk operation (sedo/service_layer/bulk.py).
    BULK = "bulk"


#: Kinds that apply only with the head's current ``seq`` (the head awaits exactly them).
SEQ_KINDS = frozenset({WakeKind.START, WakeKind.CONTINUE, WakeKind.TIMER, WakeKind.RETRY})
#: Kinds that carry a task token and apply to the current callback at any ``seq``.
CALLBACK_KINDS = frozenset({WakeKind.COMPLETE, WakeKind.FAIL, WakeKind.HEARTBEAT})
#: Timeouts that carry the head's ``epoch`` (raised by a resume or a redrive, which re-arm
#: them: sedo/domain/operate.py), so those armed before are stale.
EPOCH_KINDS = frozenset({WakeKind.TIMEOUT, WakeKind.EXEC_TIMEOUT, WakeKind.HEARTBEAT_TIMEOUT})


@dataclass(frozen=True)
class StartAwait:
    """A new execution, waiting for its ``start`` wake-up."""

    tag: ClassVar[str] = "start"


@dataclass(frozen=True)
class ContinueAwait:
    """A wake-up ran out of step budget before ``step``; a ``continue`` runs on from it."""

    step: str
    tag: ClassVar[str] = "continue"


@dataclass(frozen=True)
class TimerAwait:
    """A wait step until ``due`` (RFC 3339)."""

    step: str
    due: str
    tag: ClassVar[str] = "timer"


@dataclass(frozen=True)
class RetryAwait:
    """A failed step attempt, to be retried at ``due``."""

    step: str
    due: str
    tag: ClassVar[str] = "retry"


@dataclass(frozen=True)
class CallbackAwait:
    """A completion call carrying ``token``; with ``heartbeat_seconds``, heartbeats due by ``heartbeat_due``."""

    step: str
    token: str = ""
    heartbeat_seconds: int | None = None
    heartbeat_due: str | None = None
    tag: ClassVar[str] = "callback"


@dataclass(frozen=True)
class FanInAwait:
    """A map or parallel step attempt waiting for its ``total`` children."""

    step: str
    total: int
    concurrency: int
    tolerated: int
    branches: bool = False
    tag: ClassVar[str] = "fanin"


@dataclass(frozen=True)
class EventAwait:
    """An event step attempt waiting for ``count`` events matching ``pattern`` whose fields
    (JMESPath over the event) equal ``correlate``'s values, that arrived from ``since`` on."""

    step: str
    pattern: dict[str, Any]
    correlate: dict[str, Any]
    count: int
    since: str
    tag: ClassVar[str] = "event"


Awaiting = StartAwait | ContinueAwait | TimerAwait | RetryAwait | CallbackAwait | FanInAwait | EventAwait

#: What a step type may return in :class:`sedo.domain.steps.base.Await` (the engine fills in the token).
StepAwaiting = TimerAwait | CallbackAwait | FanInAwait | EventAwait

#: The wake kinds that resume each awaited thing (besides the timeouts any await can get).
RESUMED_BY: dict[type[Any], frozenset[WakeKind]] = {
    StartAwait: frozenset({WakeKind.START}),
    ContinueAwait: frozenset({WakeKind.CONTINUE}),
    TimerAwait: frozenset({WakeKind.TIMER}),
    RetryAwait: frozenset({WakeKind.RETRY}),
    CallbackAwait: CALLBACK_KINDS | {WakeKind.HEARTBEAT_TIMEOUT},
    FanInAwait: frozenset({WakeKind.FAN_IN}),
    EventAwait: frozenset({WakeKind.EVENT}),
}


def awaits(awaiting: Awaiting | None, kind: WakeKind) -> bool:
    """Whether ``awaiting`` is resumed by a wake-up of ``kind``."""
    return awaiting is not None and kind in RESUMED_BY[type(awaiting)]


def awaiting_to_dict(awaiting: Awaiting | None) -> dict[str, Any] | None:
    """The stored form: a JSON object tagged with ``kind``."""
    if awaiting is None:
        return None
    body: dict[str, Any] = {"kind": awaiting.tag}
    match awaiting:
        case StartAwait():
            pass
        case ContinueAwait(step=step):
            body["step"] = step
        case TimerAwait(step=step, due=due) | RetryAwait(step=step, due=due):
            body.update(step=step, due=due)
        case CallbackAwait():
            body.update(step=awaiting.step, token=awaiting.token)
            if awaiting.heartbeat_seconds:
                body["heartbeatSeconds"] = awaiting.heartbeat_seconds
            if awaiting.heartbeat_due is not None:
                body["heartbeatDue"] = awaiting.heartbeat_due
        case FanInAwait():
            body.update(_fields(awaiting, "step", "total", "concurrency", "tolerated"))
            if awaiting.branches:
                body["branches"] = True
        case EventAwait():
            body.update(_fields(awaiting, "step", "pattern", "correlate", "count", "since"))
    return body


def _fields(awaiting: Awaiting, *names: str) -> dict[str, Any]:
    """The named fields of ``awaiting``, each stored under its own name."""
    return {name: getattr(awaiting, name) for name in names}


def awaiting_from_dict(body: dict[str, Any] | None) -> Awaiting | None:
    """The inverse of :func:`awaiting_to_dict`; ValueError for a shape it never writes."""
    if body is None:
        return None
    kind = body.get("kind")
    try:
        if kind == StartAwait.tag:
            return StartAwait()
        if kind == ContinueAwait.tag:
            return ContinueAwait(step=str(body["step"]))
        if kind == TimerAwait.tag:
            return TimerAwait(step=str(body["step"]), due=str(body["due"]))
        if kind == RetryAwait.tag:
            return RetryAwait(step=str(body["step"]), due=str(body["due"]))
        if kind == CallbackAwait.tag:
            seconds = body.get("heartbeatSeconds")
            return CallbackAwait(
                step=str(body["step"]),
                token=str(body.get("token", "")),
                heartbeat_seconds=int(seconds) if seconds else None,
                heartbeat_due=body.get("heartbeatDue"),
            )
        if kind == FanInAwait.tag:
            return FanInAwait(
                step=str(body["step"]),
                total=int(body["total"]),
                concurrency=int(body["concurrency"]),
                tolerated=int(body["tolerated"]),
                branches=bool(body.get("branches")),
            )
        if kind == EventAwait.tag:
            return EventAwait(
                step=str(body["step"]),
                pattern=dict(body["pattern"]),
                correlate=dict(body.get("correlate") or {}),
                count=int(body["count"]),
                since=str(body["since"]),
            )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not an awaited thing: {body!r}") from exc
    raise ValueError(f"unknown awaited kind {kind!r}")
