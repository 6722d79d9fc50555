"""Liveness on the emulator: the sweeper finds executions whose messages are gone and re-sends
them; long waits are carried by its durable timers, not 15-minute re-arms."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from sedo.config import Settings
from sedo.domain.language import load_text
from sedo.domain.timefmt import parse_ts
from tests.support import Harness, events_of

pytestmark = pytest.mark.integration

T = "live"
YEAR = 365 * 24 * 3600


def durable(stack: Settings) -> Harness:
    return Harness(replace(stack, durable_timers=True, sweep_grace_seconds=120))


def define(harness: Harness, text: str) -> str:
    document = load_text(text)
    harness.services.definitions.create(T, document)
    return str(document["id"])


def purge(harness: Harness) -> None:
    for message in harness.receive(10):
        harness.ack([message])
    while harness.depth():
        messages = harness.receive(10)
        if messages:
            harness.ack(messages)


def test_a_purged_queue_loses_nothing_the_sweeper_resends_what_was_waited_for(stack: Settings) -> None:
    harness = durable(stack)
    define(
        harness,
        "id: flow\nsteps:\n  - {id: a, type: echo, message: a, next: nap}\n"
        "  - {id: nap, type: wait, seconds: 60, next: b}\n  - {id: b, type: echo, message: b, end: true}",
    )
    waiting = [harness.services.executions.start(T, "flow", {"n": n})[0]["id"] for n in range(3)]
    harness.drain(stop_after=1)  # some reach their wait, some are still to start
    running = [harness.services.executions.start(T, "flow", {"n": n})[0]["id"] for n in range(3, 5)]
    purge(harness)  # every message is gone: starts, timers
    assert harness.sweep().due == 0  # nothing is overdue yet: no duplicate sends
    harness.clock.advance(300)  # past the grace period (and the 60 s waits)
    report = harness.sweep()
    assert report.due == 5 and report.resent >= 5
    harness.drain()
    for execution_id in waiting + running:
        execution = harness.services.executions.get(T, execution_id)
        assert execution["state"] == "ExecutionSucceeded", execution
        events = events_of(harness, T, execution_id)
        assert [e["id"] for e in events] == list(range(1, len(events) + 1))
        assert sum(e["type"] == "ExecutionSucceeded" for e in events) == 1  # not doubled
    assert harness.sweep().due == 0  # finished executions leave the index


def test_a_year_long_wait_sends_one_timer_when_it_comes_within_reach(stack: Settings) -> None:
    harness = durable(stack)
    define(harness, f"id: year\nsteps:\n  - {{id: nap, type: wait, seconds: {YEAR}, end: true}}")
    execution_id = harness.services.executions.start(T, "year", {})[0]["id"]
    harness.drain()  # start: runs to the wait; the timer is deferred, so the queue is empty
    assert harness.services.executions.get(T, execution_id)["state"] == "StepStarted"
    for _ in range(12):  # a sweep a month: nothing to send until ten minutes before it is due
        harness.clock.advance(YEAR // 12 - 3600)
        assert harness.sweep().armed == 0 and harness.depth() == 0
    due = parse_ts(harness.services.executions.get(T, execution_id)["waitingUntil"])
    harness.clock.moment = due - timedelta(seconds=590)
    report = harness.sweep()
    assert report.armed == 1 and report.resent == 0
    messages = harness.receive()
    bodies: list[dict[str, Any]] = [json.loads(m["Body"]) for m in messages]
    assert [b["kind"] for b in bodies] == ["timer"] and 580 <= bodies[0]["delay"] <= 590
    harness.ack(messages)
    harness.clock.moment = due  # SQS delivers it at its due time
    harness.invoke(messages)
    harness.drain()
    assert harness.services.executions.get(T, execution_id)["state"] == "ExecutionSucceeded"
    assert harness.sweep().due == 0
