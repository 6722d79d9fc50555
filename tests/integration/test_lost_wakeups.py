"""Lost wake-ups the sweeper must find and re-send (docs/DESIGN.md §5): a map iteration's
timer, and a callback's completion that the API accepted."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from sedo.config import Settings
from sedo.domain.language import load_text
from tests.support import Harness, events_of

pytestmark = pytest.mark.integration

T = "lost"
MAP = """
id: each
steps:
  - id: each-item
    type: map
    items: input.items
    maxConcurrency: 2
    iterator:
      steps:
        - {id: settle, type: wait, seconds: 1, next: reshape}
        - {id: reshape, type: pass, input: "{item: input}", end: true}
    end: true
"""


def _harness(stack: Settings) -> Harness:
    return Harness(replace(stack, durable_timers=True, sweep_grace_seconds=60))


def _drop_first(harness: Harness, wanted: Any) -> dict[str, Any]:
    """Deliver messages until one ``wanted(body)`` arrives; delete it unprocessed (lost)."""
    for _ in range(1000):
        messages = harness.receive()
        for message in messages:
            body: dict[str, Any] = json.loads(message["Body"])
            if wanted(body):
                harness.ack([message])
                others = [m for m in messages if m is not message]
                if others:
                    harness.invoke(others)
                    harness.ack(others)
                return body
        if messages:
            harness.invoke(messages)
            harness.ack(messages)
    raise AssertionError("the wanted message never came")


def _sweep_until_drained(harness: Harness) -> int:
    resent = 0
    for _ in range(20):
        harness.drain()
        harness.clock.advance(120)
        report = harness.sweep()
        resent += int(report.resent)
        if not report.due:
            return resent
    raise AssertionError("the sweeper kept finding due executions")


def test_a_map_iterations_lost_timer_is_resent_and_the_map_completes(stack: Settings) -> None:
    harness = _harness(stack)
    harness.services.definitions.create(T, load_text(MAP))
    execution_id = harness.services.executions.start(T, "each", {"items": list(range(5))})[0]["id"]
    lost = _drop_first(harness, lambda b: b["kind"] == "timer" and "." in b["key"])
    assert lost["key"].startswith(execution_id.split(":")[2] + ".")
    harness.drain()
    assert harness.services.executions.get(T, execution_id)["state"] == "StepStarted"  # the map waits
    assert _sweep_until_drained(harness) >= 1
    execution = harness.services.executions.get(T, execution_id)
    assert execution["state"] == "ExecutionSucceeded", execution
    assert execution["output"] == [{"item": i} for i in range(5)]
    events = events_of(harness, T, execution_id)
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))


ASK = """
id: ask
steps:
  - {id: approve, type: callback, timeoutSeconds: 86400, end: true}
"""


def _at_callback(stack: Settings, text: str) -> tuple[Harness, str, str]:
    """A harness, an execution of ``text`` waiting at its callback, and the task token."""
    harness = _harness(stack)
    document = load_text(text)
    harness.services.definitions.create(T, document)
    execution_id = harness.services.executions.start(T, str(document["id"]), {})[0]["id"]
    harness.drain()  # to the callback (timers an hour or more away are the sweeper's)
    return harness, execution_id, harness.services.executions.get(T, execution_id)["awaiting"]["taskToken"]


def test_a_callback_completion_whose_message_is_lost_is_resent(stack: Settings) -> None:
    harness, execution_id, token = _at_callback(stack, ASK)
    answer = {"approved": True, "note": "n" * 5000}  # kept apart: the head records a reference
    harness.services.executions.signal(T, execution_id, "approve", "complete", token, {"output": answer})  # type: ignore[arg-type]
    [message] = harness.receive()
    harness.ack([message])  # the completion's message is lost (a purge, a bug)
    assert json.loads(message["Body"])["kind"] == "complete"
    assert harness.sweep().due == 0  # within the grace period: nothing is re-sent
    assert _sweep_until_drained(harness) == 1
    execution = harness.services.executions.get(T, execution_id)
    assert execution["state"] == "ExecutionSucceeded", execution
    assert execution["output"] == answer
    events = events_of(harness, T, execution_id)
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    assert [e["type"] for e in events].count("StepSucceeded") == 1  # completed once


BEAT = """
id: beat
steps:
  - {id: approve, type: callback, heartbeatSeconds: 3600, end: true}
"""


def test_a_callback_call_recorded_while_a_wake_up_commits_does_not_drop_that_wake_up(stack: Settings) -> None:
    harness, execution_id, token = _at_callback(stack, BEAT)
    signal = harness.services.executions.signal
    signal(T, execution_id, "approve", "complete", token, {"output": {"ok": True}})  # type: ignore[arg-type]
    store = harness.processor.executions
    commit = store.commit
    raced: list[bool] = []

    def commit_after_a_heartbeat(head: Any, expected_seq: int, *, listing: bool = True) -> bool:
        if not raced:  # the processor read the head; a heartbeat call is recorded before it commits
            raced.append(True)
            signal(T, execution_id, "approve", "heartbeat", token, {})  # type: ignore[arg-type]
        return commit(head, expected_seq, listing=listing)

    store.commit = commit_after_a_heartbeat  # type: ignore[method-assign]
    harness.drain()
    assert raced
    execution = harness.services.executions.get(T, execution_id)
    assert execution["state"] == "ExecutionSucceeded", execution  # the completion was not dropped
    assert execution["output"] == {"ok": True}
