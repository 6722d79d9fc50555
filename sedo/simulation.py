"""Run one execution of a definition offline: the real engine, in-memory adapters, a fake clock.

Driven through the service layer's public API, as the API and the processor use it:
:class:`~sedo.service_layer.executions.ExecutionService` starts the execution and
answers callbacks, :meth:`WakeUpProcessor.process` applies each message the
:class:`~sedo.adapters.memory.MemoryQueue` holds, earliest due first, with the
:class:`~sedo.adapters.clock.FakeClock` moved to its due time (so waits and retry
back-offs take no time). ``invoke`` steps and callbacks are answered by mocks
(default: echo the step's input), or by local Python functions.

The stores are metered: every write and read is counted in DynamoDB's units (from the
item's JSON size), every queue request in SQS's, every processed message is a
processor invocation timed on this machine. That is what the estimate prices.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sedo import bootstrap, pricing
from sedo.adapters.clock import FakeClock
from sedo.domain.steps.base import InvokeRequest, InvokeResult
from sedo.domain.timefmt import parse_ts

TENANT = "simulation"
KB = 1024


@dataclass(frozen=True)
class Answer:
    """One mocked attempt: an output, or an error (with its cause)."""

    output: Any = None
    error: str | None = None
    cause: str | None = None

    @classmethod
    def parse(cls, value: Any) -> Answer:
        """``{"$error": "Name", "$cause": "..."}`` fails the attempt; anything else is its output."""
        if isinstance(value, dict) and "$error" in value and set(value) <= {"$error", "$cause"}:
            return cls(error=str(value["$error"]), cause=str(value.get("$cause") or f"mocked {value['$error']}"))
        return cls(output=value)


class Mocks:
    """Answers per step id, one per attempt (the last one repeats); no mock: echo the input."""

    def __init__(self, answers: Mapping[str, list[Answer]], functions: Mapping[str, Callable[..., Any]] | None = None):
        self.answers = {step: list(values) for step, values in answers.items()}
        self.functions = dict(functions or {})
        self.calls: dict[str, int] = {}

    def answer(self, step_id: str, payload: Any) -> Answer:
        count = self.calls[step_id] = self.calls.get(step_id, 0) + 1
        values = self.answers.get(step_id)
        if values:
            answer = values[min(count, len(values)) - 1]
            return replace(answer, output=_copy(answer.output))
        return Answer(output=_copy(payload))  # a copy: the payload may be the execution's own state


class MockInvoker:
    """The invoker port: mocks first, then local functions (if given), else an echo."""

    def __init__(self, mocks: Mocks) -> None:
        from sedo.adapters.invokers import LocalInvoker

        self.mocks = mocks
        self.local = LocalInvoker(mocks.functions, workers=1) if mocks.functions else None

    def invoke(self, request: InvokeRequest) -> InvokeResult:
        if request.asynchronous:  # started; the completion comes as a callback (answered by the driver)
            return InvokeResult(output=None)
        step_id = request.idempotency_key.rsplit("/", 2)[-2]  # executionId/stepId/attempt
        name = str(request.target.get("function", "")).split(":", 1)[0]
        if step_id not in self.mocks.answers and self.local is not None and name in self.mocks.functions:
            self.mocks.calls[step_id] = self.mocks.calls.get(step_id, 0) + 1
            return self.local.invoke(request)
        answer = self.mocks.answer(step_id, request.payload)
        return InvokeResult(output=answer.output, error=answer.error, cause=answer.cause)


def _copy(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _size(value: Any) -> int:
    return len(json.dumps(value, default=str, separators=(",", ":")))


@dataclass
class Meter:
    write_units: float = 0.0
    read_units: float = 0.0
    sqs_requests: int = 0
    messages: int = 0
    invocations: list[float] = field(default_factory=list)
    api_calls: list[float] = field(default_factory=list)
    log_bytes: int = 0

    def write(self, value: Any) -> None:
        self.write_units += max(1, math.ceil(_size(value) / KB))

    def read(self, value: Any, consistent: bool = True) -> None:
        units = max(1, math.ceil(_size(value) / (4 * KB)))
        self.read_units += units if consistent else units / 2


class _Metered:
    """A store or queue whose calls are counted: names in ``writes`` bill their arguments, ``reads`` their result."""

    def __init__(self, target: Any, meter: Meter, writes: set[str], reads: set[str], queries: set[str] = frozenset()):  # type: ignore[assignment]
        self._target, self._meter = target, meter
        self._writes, self._reads, self._queries = writes, reads, queries

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._target, name)
        if not callable(attribute) or name not in self._writes | self._reads | self._queries:
            return attribute

        def metered(*args: Any, **kwargs: Any) -> Any:
            result = attribute(*args, **kwargs)
            if name in self._writes:
                self._meter.write([_document(a) for a in args])
            else:
                self._meter.read(_document(result), consistent=name not in self._queries)
            return result

        return metered


def _document(value: Any) -> Any:
    if hasattr(value, "to_document"):
        return value.to_document()
    if hasattr(value, "__dataclass_fields__"):
        from dataclasses import asdict

        return asdict(value)
    if hasattr(value, "items") and hasattr(value, "next_token"):  # a Page
        return [_document(v) for v in value.items]
    return value


class _MeteredQueue:
    """SQS: a send of up to 10 messages is one request per 64 KB of payload."""

    def __init__(self, queue: Any, meter: Meter) -> None:
        self.queue, self.meter = queue, meter

    def send(self, messages: Any) -> None:
        messages = list(messages)
        for start in range(0, len(messages), 10):
            self.meter.sqs_requests += max(1, math.ceil(_size(messages[start : start + 10]) / (64 * KB)))
        self.queue.send(messages)

    def drain(self) -> list[dict[str, Any]]:
        return list(self.queue.drain())


class _LogMeter(logging.Handler):
    def __init__(self, meter: Meter) -> None:
        super().__init__(logging.DEBUG)
        self.meter = meter

    def emit(self, record: logging.LogRecord) -> None:
        extra = {
            k: v for k, v in record.__dict__.items() if k not in logging.LogRecord("", 0, "", 0, "", (), None).__dict__
        }
        self.meter.log_bytes += _size({"level": record.levelname, "message": record.getMessage(), **extra}) + 60


@dataclass
class Entered:
    """One step entered: its attempt, and how it ended (output or error), from the history."""

    step: str
    attempt: int
    output: Any = None
    error: str | None = None
    cause: str | None = None
    ended: bool = False
    iterations: int = 0


@dataclass
class Report:
    execution: dict[str, Any]
    path: list[Entered]
    events: list[dict[str, Any]]
    transitions: int
    counts: pricing.Counts
    cost: dict[str, float]
    step_functions_cost: float
    sizing: pricing.LambdaSizing
    answered: dict[str, int]


class SimulationError(Exception):
    pass


def simulate(
    document: Mapping[str, Any],
    input: Any,
    mocks: Mocks,
    *,
    max_messages: int = 100_000,
    prices: dict[str, Any] | None = None,
) -> Report:
    """Run ``document`` on ``input`` to its end; InvalidDefinition / InvalidInput as the API raises them."""
    clock = FakeClock()
    meter = Meter()
    plain = bootstrap.memory_adapters(clock, MockInvoker(mocks))
    adapters = replace(
        plain,
        definitions=_Metered(plain.definitions, meter, {"put_version", "mark_deleted"}, {"get_head", "get_version"}),
        executions=_Metered(
            plain.executions,
            meter,
            {"create", "commit", "put_history", "delete_unstarted", "claim_name"},
            {"get"},
            {"list_executions", "list_iterations", "history", "events"},
        ),
        queue=(queue := _MeteredQueue(plain.queue, meter)),
        iterations=_Metered(
            plain.iterations,
            meter,
            {"create", "record", "close"},
            {"counter", "item", "progress"},
            {"results", "children"},
        ),
    )
    logger = logging.getLogger(f"sedo.simulation.{id(meter)}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(_LogMeter(meter))
    services = bootstrap.api_services(adapters)
    processor = bootstrap.processor(adapters, logger=logger)

    services.definitions.create(TENANT, json.loads(json.dumps(document)))
    definition_id = str(document["id"])
    for name in ("write_units", "read_units", "sqs_requests", "log_bytes"):  # storing it is not the execution's cost
        setattr(meter, name, type(getattr(meter, name))(0))

    started_at = time.perf_counter()
    execution_id = services.executions.start(TENANT, definition_id, input)[0]["id"]
    meter.api_calls.append(time.perf_counter() - started_at)

    pending: list[dict[str, Any]] = list(queue.drain())
    while True:
        if not pending:
            if not _answer_callbacks(services, execution_id, mocks, meter):
                break
            pending = list(queue.drain())
            continue
        if meter.messages >= max_messages:
            raise SimulationError(f"stopped after {max_messages} messages: does the definition loop forever?")
        pending.sort(key=lambda m: m.get("due") or "")
        message = pending.pop(0)
        if message.get("due"):
            due = parse_ts(message["due"])
            if due > clock.now():
                clock.moment = due  # the wait passes at once
        began = time.perf_counter()
        processor.process(message, 1)
        meter.invocations.append(time.perf_counter() - began)
        meter.messages += 1
        meter.sqs_requests += 2  # Lambda's event source mapping receives it and deletes it
        pending.extend(queue.drain())

    execution = services.executions.get(TENANT, execution_id)
    events = services.executions.history(TENANT, execution_id, 10_000, None).items
    children = services.executions.iterations(TENANT, execution_id, 10_000, None).items
    child_events = [
        e for child in children for e in services.executions.history(TENANT, child["id"], 10_000, None).items
    ]
    transitions = sum(1 for e in [*events, *child_events] if e["type"] == "StepStarted")
    prices = prices or pricing.load_prices()
    sizing = pricing.lambda_sizing(prices)
    counts = pricing.Counts(
        write_units=meter.write_units,
        read_units=meter.read_units,
        sqs_requests=meter.sqs_requests,
        processor_invocations=meter.messages,
        processor_billed_ms=pricing.billed_ms(meter.invocations),
        api_requests=len(meter.api_calls),
        api_billed_ms=pricing.billed_ms(meter.api_calls),
        log_bytes=meter.log_bytes,
        events_put=len(getattr(plain.bus, "events", [])),  # its status-change events
    )
    return Report(
        execution=execution,
        path=_path(list(events), list(children)),
        events=list(events),
        transitions=transitions,
        counts=counts,
        cost=pricing.cost(counts, prices, sizing),
        step_functions_cost=pricing.step_functions_cost(transitions, prices),
        sizing=sizing,
        answered=dict(mocks.calls),
    )


def _answer_callbacks(services: Any, execution_id: str, mocks: Mocks, meter: Meter) -> bool:
    """Complete (or fail) every step waiting for a callback, with its mock; False when none waits."""
    waiting = [services.executions.get(TENANT, execution_id)]
    if waiting[0]["state"] in ("ExecutionSucceeded", "ExecutionFailed", "ExecutionCancelled"):
        return False
    children = services.executions.iterations(TENANT, execution_id, 10_000, None).items
    waiting += [services.executions.get(TENANT, c["id"]) for c in children if not c.get("endedAt")]
    answered = False
    for execution in waiting:
        awaiting = execution.get("awaiting")
        if not awaiting:
            continue
        step = str(awaiting["stepId"])
        answer = mocks.answer(step, _step_input(services, execution))
        kind, data = (
            ("complete", {"output": answer.output})
            if answer.error is None
            else ("fail", {"error": answer.error, "cause": answer.cause})
        )
        began = time.perf_counter()
        services.executions.signal(TENANT, execution["id"], step, kind, str(awaiting["taskToken"]), data)
        meter.api_calls.append(time.perf_counter() - began)
        answered = True
    return answered


def _step_input(services: Any, execution: dict[str, Any]) -> Any:
    """What the waiting step was given: the execution's input (the echo a callback mock defaults to)."""
    return execution.get("input")


def _path(events: list[dict[str, Any]], children: list[dict[str, Any]]) -> list[Entered]:
    path: list[Entered] = []
    per_step: dict[str, int] = {}
    for child in children:
        step = str((child.get("iteration") or {}).get("stepId"))
        per_step[step] = per_step.get(step, 0) + 1
    for event in events:
        if event["type"] == "StepStarted":
            step = str(event["stepId"])
            path.append(Entered(step, int(event.get("attempt", 1)), iterations=per_step.get(step, 0)))
        elif event["type"] in ("StepSucceeded", "StepFailed") and path and path[-1].step == event.get("stepId"):
            entered = path[-1]
            entered.ended = True
            entered.output = event.get("output")
            entered.error = event.get("error")
            entered.cause = event.get("cause")
    return path


def load_functions(path: Path) -> dict[str, Callable[..., Any]]:
    """Local Python functions for invoke steps (the file `make run` uses, definitions/functions/local.yaml)."""
    from sedo.adapters.invokers import load_local_functions

    return dict(load_local_functions(path))
