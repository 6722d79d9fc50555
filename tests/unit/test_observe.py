"""The processor's observer seam (sedo/service_layer/observe.py) over in-memory fakes."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from sedo import bootstrap
from sedo.adapters.clock import FakeClock
from sedo.domain.engine import Commit
from sedo.domain.steps.base import InvokeRequest, InvokeResult
from sedo.service_layer.observe import ERROR, TimedInvoker, WakeReport
from sedo.service_layer.processing import PoisonMessage, Processed, WakeUpProcessor

DEFINITION = {
    "id": "observed",
    "steps": [
        {"id": "greet", "type": "echo", "message": "hello", "next": "pause"},
        {"id": "pause", "type": "wait", "seconds": 5, "next": "charge"},
        {"id": "charge", "type": "invoke", "function": "pay", "next": "done"},
        {"id": "done", "type": "succeed"},
    ],
}


class Recording:
    def __init__(self) -> None:
        self.reports: list[WakeReport] = []

    def wake_up(self, report: WakeReport) -> None:
        self.reports.append(report)


class Pay:
    def __init__(self) -> None:
        self.requests: list[InvokeRequest] = []

    def invoke(self, request: InvokeRequest) -> InvokeResult:
        self.requests.append(request)
        return InvokeResult(output={"paid": True})


def world(observer: Recording | None) -> tuple[WakeUpProcessor, Any, FakeClock, Pay]:
    clock = FakeClock()
    pay = Pay()
    adapters = bootstrap.memory_adapters(clock, invoker=pay)
    api = bootstrap.api_services(adapters)
    api.definitions.create("t", DEFINITION)
    api.executions.start("t", "observed", {})
    # composition: the timing decorator goes in through the adapters
    adapters = replace(adapters, invoker=TimedInvoker(pay))
    return bootstrap.processor(adapters, observer=observer), adapters.queue, clock, pay


def test_one_report_per_wake_up_with_decision_timings_and_lateness() -> None:
    observer = Recording()
    processor, queue, clock, pay = world(observer)
    [start] = queue.drain()
    assert processor.process(start) == Processed.COMMITTED
    [timer] = queue.drain()
    clock.advance(5 + 7)  # the timer runs 7 s after its due time
    assert processor.process(timer) == Processed.COMMITTED

    first, second = observer.reports
    assert (first.kind, first.result, first.body) == ("start", Processed.COMMITTED, start)
    assert isinstance(first.decision, Commit) and first.decision.head.step == "pause"
    assert first.lateness is None and first.error is None
    assert first.timings.invoke == 0.0  # no invoke step ran
    assert first.timings.total >= first.timings.engine >= 0.0

    assert (second.kind, second.result) == ("timer", Processed.COMMITTED)
    assert isinstance(second.decision, Commit) and second.decision.head.finished
    assert second.lateness == 7.0
    assert len(pay.requests) == 1
    assert second.timings.invoke > 0.0  # the synchronous invoke, apart from engine compute
    assert second.timings.total >= second.timings.engine + second.timings.invoke


def test_wake_ups_that_never_reach_the_engine_and_errors_are_reported() -> None:
    observer = Recording()
    processor, _, _, _ = world(observer)
    missing = {"tenantId": "t", "key": "nope", "seq": 0, "kind": "start", "mid": "m"}
    assert processor.process(missing) == Processed.MISSING
    with pytest.raises(PoisonMessage):
        processor.process({"kind": "start"})
    reached, failed = observer.reports
    assert (reached.result, reached.decision) == (Processed.MISSING, None)
    assert failed.result == ERROR and isinstance(failed.error, PoisonMessage) and failed.kind == "start"


def test_without_an_observer_the_processor_works_the_same() -> None:
    processor, queue, clock, pay = world(None)
    [start] = queue.drain()
    assert processor.process(start) == Processed.COMMITTED
    [timer] = queue.drain()
    clock.advance(5)
    assert processor.process(timer) == Processed.COMMITTED
    assert len(pay.requests) == 1
