"""What a step type is, and what running one can produce.

A step type is one module in this package exposing ``STEP``, an object with the
attributes of :class:`StepType`. Adding a step type touches that module, its
schema (inside it) and its tests, and nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sedo.domain.definition import Step
from sedo.domain.errors import Problem


@dataclass(frozen=True)
class StepContext:
    """What a step may look at. Pure data; no clients, no clock calls."""

    now: datetime
    tenant_id: str
    execution_id: str
    stash: Mapping[str, Any]
    attempt: int = 1


@dataclass(frozen=True)
class Done:
    """The step finished; ``next`` overrides the step's own ``next`` (choice)."""

    output: Any = None
    next: str | None = None
    log: str | None = None


@dataclass(frozen=True)
class Await:
    """The step waits: for a timer (``due``) or for an outside event."""

    kind: str
    due: datetime | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Failed:
    error: str
    cause: str


Outcome = Done | Await | Failed


@dataclass(frozen=True)
class Wake:
    """The part of a wake-up a step sees when it is resumed."""

    kind: str
    data: Mapping[str, Any] = field(default_factory=dict)


class StepType(Protocol):
    name: str
    #: JSON Schema ``properties`` for the fields this type adds to a step.
    properties: Mapping[str, Any]
    #: Fields this type requires.
    required: tuple[str, ...]
    #: True when the type decides its own successor (it needs no ``next``/``end``).
    decides_next: bool

    def check(self, raw: Mapping[str, Any], path: str) -> list[Problem]:
        """Semantic checks beyond the schema (called only when the schema passed)."""
        ...

    def targets(self, raw: Mapping[str, Any], path: str) -> list[tuple[str, str]]:
        """Step ids this step can go to besides ``next``, with their paths."""
        ...

    def start(self, step: Step, ctx: StepContext) -> Outcome: ...

    def resume(self, step: Step, ctx: StepContext, wake: Wake) -> Outcome: ...


class SimpleStep:
    """Defaults for step types that need no extra checks and never await."""

    name = ""
    properties: Mapping[str, Any] = {}
    required: tuple[str, ...] = ()
    decides_next = False

    def check(self, raw: Mapping[str, Any], path: str) -> list[Problem]:
        return []

    def targets(self, raw: Mapping[str, Any], path: str) -> list[tuple[str, str]]:
        return []

    def start(self, step: Step, ctx: StepContext) -> Outcome:  # pragma: no cover
        raise NotImplementedError

    def resume(self, step: Step, ctx: StepContext, wake: Wake) -> Outcome:
        return Failed("States.Runtime", f"step type {self.name!r} does not await, got {wake.kind!r}")
