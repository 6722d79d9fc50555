"""What a step type is, and what running one can produce.

A step type is one module in this package exposing ``STEP``, an object with the
attributes of :class:`StepType`. Adding a step type touches that module, its
schema (inside it) and its tests, and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sedo.domain.definition import Step
from sedo.domain.errors import Problem
from sedo.domain.failures import RUNTIME
from sedo.domain.protocol import StepAwaiting, WakeKind


@dataclass(frozen=True)
class LanguageOptions:
    """Deployment facts the language checks against when a definition is stored."""

    #: Lambda function names (fnmatch patterns) invoke steps may name; None: not checked.
    allowed_functions: tuple[str, ...] | None = None
    #: S3 buckets a map may read items from and write results to; None: not checked.
    map_item_buckets: tuple[str, ...] | None = None
    map_result_buckets: tuple[str, ...] | None = None


@dataclass(frozen=True)
class CheckContext:
    """What the language hands a step type's :meth:`StepType.check`.

    ``nested(steps, path)`` validates a nested step list (a map's iterator, a parallel
    branch) as a definition of its own, with problems at paths below ``path``;
    ``schema(schema, path)`` checks a JSON Schema a step declares (a callback's answer) as
    a definition's ``inputSchema`` is checked. The language owns validation, so step types
    never import it.
    """

    options: LanguageOptions
    nested: Callable[[Any, str], list[Problem]]
    schema: Callable[[Any, str], list[Problem]]


@dataclass(frozen=True)
class InvokeRequest:
    """What an invoke step asks the outside world to do."""

    target: Mapping[str, Any]  # {"function": name} or {"http": {method, url, headers}}
    payload: Any
    idempotency_key: str
    timeout_seconds: float
    asynchronous: bool = False


@dataclass(frozen=True)
class InvokeResult:
    output: Any = None
    error: str | None = None
    cause: str | None = None


class Invoker(Protocol):
    """The port through which steps reach Lambda functions and HTTP services."""

    def invoke(self, request: InvokeRequest) -> InvokeResult: ...


class NoInvoker:
    def invoke(self, request: InvokeRequest) -> InvokeResult:
        return InvokeResult(error=RUNTIME, cause="this processor has no invoker configured")


@dataclass(frozen=True)
class StepContext:
    """What a step may look at and use. Its only door to the outside is ``invoker``."""

    now: datetime
    tenant_id: str
    execution_id: str
    stash: Mapping[str, Any]
    input: Any = None
    attempt: int = 1
    task_token: str = ""
    invoker: Invoker = field(default_factory=NoInvoker)


@dataclass(frozen=True)
class Done:
    """The step finished; ``next`` overrides the step's own ``next`` (choice)."""

    output: Any = None
    next: str | None = None
    log: str | None = None


@dataclass(frozen=True)
class Await:
    """The step waits: for a timer, a completion call (the engine adds the task token), or its fan-in."""

    what: StepAwaiting


@dataclass(frozen=True)
class Failed:
    error: str
    cause: str


@dataclass(frozen=True)
class End:
    """The step ends the execution itself (succeed / fail); not retried or caught."""

    succeeded: bool
    output: Any = None
    error: str | None = None
    cause: str | None = None


Outcome = Done | Await | Failed | End


@dataclass(frozen=True)
class Wake:
    """The part of a wake-up a step sees when it is resumed."""

    kind: WakeKind
    data: Mapping[str, Any] = field(default_factory=dict)


class StepType(Protocol):
    name: str
    #: JSON Schema ``properties`` for the fields this type adds to a step.
    properties: Mapping[str, Any]
    #: Fields this type requires.
    required: tuple[str, ...]
    #: True when the type decides its own successor (it needs no ``next``/``end``).
    decides_next: bool
    #: Common step fields this type does not accept.
    excluded_common: tuple[str, ...]
    #: Fields of this type that hold JMESPath expressions (JSON Pointers below the step).
    expressions: tuple[str, ...]

    def check(self, raw: Mapping[str, Any], path: str, ctx: CheckContext) -> list[Problem]:
        """Semantic checks beyond the schema (called only when the schema passed)."""
        ...

    def targets(self, raw: Mapping[str, Any], path: str) -> list[tuple[str, str]]:
        """Step ids this step can go to besides ``next``, with their paths."""
        ...

    def expression_fields(self, raw: Mapping[str, Any]) -> list[tuple[str, str]]:
        """(JSON Pointer below the step, expression) for every JMESPath field present."""
        ...

    def start(self, step: Step, ctx: StepContext) -> Outcome: ...

    def resume(self, step: Step, ctx: StepContext, wake: Wake) -> Outcome: ...


class SimpleStep:
    """Defaults for step types that need no extra checks and never await."""

    name = ""
    properties: Mapping[str, Any] = {}
    required: tuple[str, ...] = ()
    decides_next = False
    excluded_common: tuple[str, ...] = ()
    expressions: tuple[str, ...] = ()

    def check(self, raw: Mapping[str, Any], path: str, ctx: CheckContext) -> list[Problem]:
        return []

    def targets(self, raw: Mapping[str, Any], path: str) -> list[tuple[str, str]]:
        return []

    def expression_fields(self, raw: Mapping[str, Any]) -> list[tuple[str, str]]:
        return [(p, raw[p[1:]]) for p in self.expressions if isinstance(raw.get(p[1:]), str)]

    def start(self, step: Step, ctx: StepContext) -> Outcome:  # pragma: no cover
        raise NotImplementedError

    def resume(self, step: Step, ctx: StepContext, wake: Wake) -> Outcome:
        return Failed(RUNTIME, f"step type {self.name!r} does not await, got {wake.kind!r}")
