"""The execution model: the head record, wake-up messages and history events.

The head is the single item a wake-up reads and conditionally rewrites. Besides the
state it carries the *outbox* (messages this transition must send) and the history
events of the last segment, so a crash anywhere after the commit is repaired by
re-flushing both when the message that produced the head is delivered again.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any

from sedo.domain.apinames import api_fields
from sedo.domain.protocol import (
    Awaiting,
    CallbackAwait,
    EventAwait,
    RetryAwait,
    TimerAwait,
    WakeKind,
    awaiting_from_dict,
    awaiting_to_dict,
)

SUBMITTED = "ExecutionSubmitted"
STARTED = "ExecutionStarted"
STEP_STARTED = "StepStarted"
STEP_SUCCEEDED = "StepSucceeded"
STEP_FAILED = "StepFailed"
SUCCEEDED = "ExecutionSucceeded"
FAILED = "ExecutionFailed"
CANCELLED = "ExecutionCancelled"
# Operating an execution (sedo/domain/operate.py): the state a pause, a resume and a redrive leave.
PAUSED = "ExecutionPaused"
RESUMED = "ExecutionResumed"
REDRIVEN = "ExecutionRedriven"

STATES = (
    SUBMITTED,
    STARTED,
    STEP_STARTED,
    STEP_SUCCEEDED,
    STEP_FAILED,
    SUCCEEDED,
    FAILED,
    CANCELLED,
    PAUSED,
    RESUMED,
    REDRIVEN,
)
TERMINAL_STATES = frozenset({SUCCEEDED, FAILED, CANCELLED})

_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"


def new_execution_key(now_ms: int | None = None) -> str:
    """A unique key that sorts by start time: 48-bit milliseconds + 40 random bits, base32."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    value = (ms << 40) | secrets.randbits(40)
    chars = []
    for _ in range(18):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def history_in_head(head: Execution) -> bool:
    """Whether a head's pending events stay in the head rather than in a history item of their
    own: before its first commit (its ExecutionSubmitted goes into the first segment's item)
    and once it finished (the head holds its last segment for as long as its history lives).
    Readers of a history add the head's pending events (ExecutionService.history)."""
    return head.seq == 0 or head.finished


def execution_id(tenant_id: str, definition_id: str, key: str) -> str:
    return f"{tenant_id}:{definition_id}:{key}"


def split_execution_id(value: str) -> tuple[str, str, str]:
    """``tenant:definition:key`` -> parts; ValueError when it is not of that shape."""
    parts = value.split(":")
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"not an execution id: {value!r}")
    return parts[0], parts[1], parts[2]


@dataclass(frozen=True)
class WakeUp:
    """An SQS message that asks the processor to look at an execution.

    ``seq`` is the head sequence number the message is valid for; ``mid`` names the
    message uniquely within its execution (the commit that produced it and an index).
    """

    tenant_id: str
    key: str
    seq: int
    kind: WakeKind
    mid: str
    due: str | None = None
    delay: int = 0
    data: dict[str, Any] = field(default_factory=dict)

    def to_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "tenantId": self.tenant_id,
            "key": self.key,
            "seq": self.seq,
            "kind": str(self.kind),
            "mid": self.mid,
        }
        if self.due is not None:
            body["due"] = self.due
        if self.delay:
            body["delay"] = self.delay
        if self.data:
            body["data"] = self.data
        return body

    @classmethod
    def from_body(cls, body: Any) -> WakeUp:
        if not isinstance(body, dict):
            raise ValueError("a wake-up must be a JSON object")
        try:
            wake = cls(
                tenant_id=str(body["tenantId"]),
                key=str(body["key"]),
                seq=int(body["seq"]),
                kind=WakeKind(body["kind"]),
                mid=str(body["mid"]),
                due=body.get("due"),
                delay=int(body.get("delay", 0)),
                data=dict(body.get("data") or {}),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a wake-up message: {exc}") from exc
        return wake


@dataclass
class Execution:
    """The execution head."""

    tenant_id: str
    key: str
    definition_id: str
    definition_version: int
    input: Any
    created_at: str
    seq: int = 0
    state: str = SUBMITTED
    step: str | None = None
    stash: dict[str, Any] = field(default_factory=dict)
    #: What the execution waits for (see sedo.domain.protocol); None once it finished.
    awaiting: Awaiting | None = None
    attempt: int = 1
    #: Id of the current step's StepStarted event: names this attempt of this step, so
    #: its timeout timer is dropped as stale once the step has moved on.
    instance: int = 0
    #: A per-execution secret from which task tokens are derived.
    nonce: str = ""
    #: Children of a map/parallel step: the parent's key, the nested definition's scope
    #: (see definition.scoped) and the iteration's index.
    parent_key: str | None = None
    scope: list[str] = field(default_factory=list)
    index: int | None = None
    #: A child's fan-out as its completion needs it (``total``, ``concurrency``,
    #: ``tolerated``), so finishing reads no shared counter; None for a top-level execution
    #: (and for children stored before this field: their completion reads the counter).
    fan: dict[str, int] | None = None
    event_count: int = 0
    output: Any = None
    error: str | None = None
    cause: str | None = None
    updated_at: str | None = None
    ended_at: str | None = None
    name: str | None = None
    #: Messages the last transition must send, and its history events (flushed after commit).
    outbox: list[dict[str, Any]] = field(default_factory=list)
    pending_events: list[dict[str, Any]] = field(default_factory=list)
    #: ``mid`` of the message whose processing produced this head; and the SQS message id
    #: of that delivery (an older receipt of the same SQS message must re-flush too).
    produced_by: str | None = None
    produced_by_message: str | None = None
    #: Timer messages that outlive the commit that sent them (the execution's and the
    #: current step attempt's timeouts): kept so a sweeper can re-send them (liveness.py).
    timers: list[dict[str, Any]] = field(default_factory=list)
    #: When a sweeper must look at this head if nothing happened (epoch seconds), and the
    #: moment that was decided; None once finished.
    due_at: int | None = None
    due_from: float | None = None
    #: Set when a dead-lettered wake-up failed the execution: what a redrive of that message
    #: restores (sedo/domain/deadletters.py).
    dead_letter: dict[str, Any] | None = None
    # -- operating it (sedo/domain/operate.py) ------------------------------------------
    #: Held at its next await point; since when; the wake-ups it holds meanwhile.
    paused: bool = False
    paused_at: str | None = None
    held: list[dict[str, Any]] = field(default_factory=list)
    #: Raised by each resume and redrive: timeouts armed before it are stale.
    epoch: int = 0
    redrive_count: int = 0
    #: A redriven map/parallel step: the failed attempt (``instance``) whose succeeded
    #: iterations the new attempt (``next``, its StepStarted id) takes over instead of re-running.
    replay: dict[str, int] | None = None
    #: The alias it was started through, and its search attributes as indexed.
    alias: str | None = None
    search: dict[str, Any] | None = None

    @property
    def id(self) -> str:
        return execution_id(self.tenant_id, self.definition_id, self.key)

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL_STATES

    def to_document(self) -> dict[str, Any]:
        """The head as a JSON object. Shallow: its lists and dicts are the head's own (every
        caller serialises or copies it; ``asdict``'s deep copy cost each commit three copies)."""
        document = {name: getattr(self, name) for name in _FIELDS}
        document["awaiting"] = awaiting_to_dict(self.awaiting)
        return document

    def compact_document(self) -> dict[str, Any]:
        """:meth:`to_document` without the fields still at their defaults (``from_document``
        puts them back): what a head is stored as, so that it weighs only what it holds."""
        return {k: v for k, v in self.to_document().items() if k in _REQUIRED or v != _DEFAULTS.get(k, _ABSENT)}

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Execution:
        return cls(**{**document, "awaiting": awaiting_from_dict(document.get("awaiting"))})

    def summary(self) -> dict[str, Any]:
        """What the API shows in a list."""
        body = api_fields(self, "id", "tenant_id", "definition_id", "definition_version", "state", "step", "created_at")
        body["updatedAt"] = self.updated_at or self.created_at
        body["endedAt"] = self.ended_at
        if self.parent_key is not None:
            body["iteration"] = self.iteration()
        return body

    def iteration(self) -> dict[str, Any]:
        """Which fan-out step attempt of which execution this child is an iteration of."""
        assert self.parent_key is not None
        step = self.scope[-1] if self.scope else ""
        return {
            "parentId": execution_id(self.tenant_id, self.definition_id, self.parent_key),
            "stepId": step.split("#", 1)[0],
            "index": self.index,
        }

    def describe(self) -> dict[str, Any]:
        """What the API shows for one execution."""
        body = self.summary()
        body["input"] = self.input
        if self.name is not None:
            body["name"] = self.name
        awaiting = self.awaiting
        if isinstance(awaiting, TimerAwait | RetryAwait) and awaiting.due:
            body["waitingUntil"] = awaiting.due
        if isinstance(awaiting, CallbackAwait) and not self.finished:
            body["awaiting"] = {
                "stepId": awaiting.step,
                "taskToken": awaiting.token,
                "heartbeatDue": awaiting.heartbeat_due,
            }
        if isinstance(awaiting, EventAwait) and not self.finished:  # events (issue 15)
            body["awaitingEvents"] = {"stepId": awaiting.step, "count": awaiting.count, "correlate": awaiting.correlate}
        body.update(self.operations())
        if self.state == SUCCEEDED:
            body["output"] = self.output
        if self.error is not None:
            body["error"] = self.error
        if self.error is not None or self.cause is not None:
            body["cause"] = self.cause
        return body

    def operations(self) -> dict[str, Any]:
        """What operating the execution left on it: pause, redrives, alias, search attributes."""
        body: dict[str, Any] = {}
        if self.paused and not self.finished:
            body["paused"] = True
            body["pausedAt"] = self.paused_at
        if self.redrive_count:
            body["redriveCount"] = self.redrive_count
        if self.alias is not None:
            body["alias"] = self.alias
        if self.search:
            body["searchAttributes"] = self.search
        return body


_ABSENT = object()


#: Each optional field's default (a factory's value for lists and dicts): left out of a document.
def _default(f: Field[Any]) -> Any:
    return f.default_factory() if callable(f.default_factory) else f.default


_DEFAULTS: dict[str, Any] = {
    f.name: _default(f) for f in fields(Execution) if f.default is not MISSING or f.default_factory is not MISSING
}
_REQUIRED = frozenset(f.name for f in fields(Execution) if f.name not in _DEFAULTS)
_FIELDS = tuple(f.name for f in fields(Execution))
