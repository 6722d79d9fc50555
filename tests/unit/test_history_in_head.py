"""An execution's first and last events stay in its head: ExecutionSubmitted goes into the
first segment's history item, the last segment is never written apart, and the history the
API shows is complete and in order all along."""

from __future__ import annotations

from typing import Any

from sedo import bootstrap
from sedo.adapters.clock import FakeClock
from sedo.domain.execution import history_in_head
from sedo.domain.language import load_text
from sedo.domain.timefmt import parse_ts
from tests.definitions import echo_wait_echo

DEFINITION = load_text(echo_wait_echo("three", ("first", "pause", "last"), 5, ("one", "two")))


def _world() -> tuple[Any, Any, Any, FakeClock]:
    clock = FakeClock()
    adapters = bootstrap.memory_adapters(clock)
    services = bootstrap.api_services(adapters)
    services.definitions.create("t", DEFINITION)
    return adapters, services, bootstrap.processor(adapters), clock


def _types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


def test_the_first_and_last_events_stay_in_the_head_and_the_history_is_whole() -> None:
    adapters, services, processor, clock = _world()
    execution_id = services.executions.start("t", "three", {"x": 1})[0]["id"]
    key = execution_id.rsplit(":", 1)[-1]
    store = adapters.executions
    assert store.events("t", key) == []  # nothing written apart before the first commit
    assert _types(services.executions.history("t", execution_id, 100, None).items) == ["ExecutionSubmitted"]

    [start] = adapters.queue.drain()
    processor.process(start, 1)
    written = store.events("t", key)  # one item: the submission and the first segment
    assert _types(written) == ["ExecutionSubmitted", "ExecutionStarted", "StepStarted", "StepSucceeded", "StepStarted"]
    assert [e["seq"] for e in written] == [0, 1, 1, 1, 1]
    assert len(store.segments[("t", key)]) == 1

    [timer] = adapters.queue.drain()
    clock.moment = parse_ts(timer["due"])
    processor.process(timer, 1)
    head = store.get("t", key)
    assert head.finished and history_in_head(head)
    assert store.events("t", key) == written  # the last segment stays in the head
    shown = services.executions.history("t", execution_id, 100, None).items
    assert [e["id"] for e in shown] == list(range(1, len(shown) + 1))
    assert _types(shown)[-1] == "ExecutionSucceeded"
    assert _types(shown).count("StepStarted") == 3


def test_a_redelivered_last_message_writes_no_history_and_changes_nothing() -> None:
    adapters, services, processor, clock = _world()
    execution_id = services.executions.start("t", "three", {})[0]["id"]
    key = execution_id.rsplit(":", 1)[-1]
    processor.process(adapters.queue.drain()[0], 1)
    [timer] = adapters.queue.drain()
    clock.moment = parse_ts(timer["due"])
    processor.process(timer, 1)
    before = services.executions.history("t", execution_id, 100, None).items
    processor.process(timer, 2)  # the producer of the finished head, delivered again
    assert len(adapters.executions.segments[("t", key)]) == 1
    assert services.executions.history("t", execution_id, 100, None).items == before


def test_cancelling_an_unstarted_execution_keeps_its_submission_in_its_history() -> None:
    _, services, _, _ = _world()
    execution_id = services.executions.start("t", "three", {})[0]["id"]
    services.executions.cancel("t", execution_id)
    shown = _types(services.executions.history("t", execution_id, 100, None).items)
    assert shown == ["ExecutionSubmitted", "ExecutionCancelled"]
