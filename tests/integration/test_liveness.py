"""Liveness on the emulator: the sweeper finds executions whose messages are gone and re-sends
them; long waits are carried by its durable timers, not 15-minute re-arms."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from itertools import pairwise
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


class Calls:
    """Every request the harness's DynamoDB and SQS clients make: (operation, parameters)."""

    def __init__(self, harness: Harness) -> None:
        self.made: list[tuple[str, dict[str, Any]]] = []
        for target in (harness.adapters.executions, harness.adapters.queue):
            events = target.client.meta.events  # type: ignore[attr-defined]
            events.register("provide-client-params", self._note)

    def _note(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.made.append((model.name, dict(params)))

    def ops(self, *names: str, since: int = 0) -> list[dict[str, Any]]:
        return [params for op, params in self.made[since:] if op in names]

    def items_put(self, table: str) -> list[dict[str, Any]]:
        """The items put in ``table``, by PutItem or in a BatchWriteItem (a Lambda batch's flush)."""
        items = [p["Item"] for p in self.ops("PutItem") if p["TableName"] == table]
        for batch in self.ops("BatchWriteItem"):
            items.extend(r["PutRequest"]["Item"] for r in batch["RequestItems"].get(table, []) if "PutRequest" in r)
        return items

    def head_writes(self) -> list[dict[str, Any]]:
        """The items of every head write (a head is the item with a ``doc``)."""
        return [p["Item"] for p in self.ops("PutItem") if "doc" in p["Item"]]


def index_writes(heads: list[dict[str, Any]]) -> int:
    """Writes of the ``byDue`` index over one head's successive items, as DynamoDB bills them:
    one to add or remove an entry, two (delete and put) to move it."""
    keys = [(h["dueShard"]["S"], h["dueAt"]["N"]) if "dueAt" in h else None for h in [{}, *heads, {}]]
    return sum((a is not None) + (b is not None) for a, b in pairwise(keys) if a != b)


WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")


def test_a_deferred_timer_is_armed_once_by_a_sweep_that_writes_only_its_mark(stack: Settings) -> None:
    """docs/DESIGN.md §5, Long waits without re-arms: over a year-long wait the head is written
    three times (start, the wait's commit, the end), its index entry four times (added, moved
    once, removed), one history item; the sweeps write nothing but the arm sweep's mark."""
    harness = durable(stack)
    define(harness, f"id: year\nsteps:\n  - {{id: nap, type: wait, seconds: {YEAR}, end: true}}")
    calls = Calls(harness)
    execution_id = harness.services.executions.start(T, "year", {})[0]["id"]
    harness.drain()  # runs to the wait: nothing sent
    due = parse_ts(harness.services.executions.get(T, execution_id)["waitingUntil"])
    before = len(calls.made)
    for _ in range(3):  # sweeps that find nothing due write nothing, not even a mark
        harness.clock.advance(YEAR // 4)
        assert harness.sweep().due == 0
    assert calls.ops(*WRITES, since=before) == []

    harness.clock.moment = due - timedelta(seconds=590)
    before = len(calls.made)
    report = harness.sweep()
    assert report.armed == 1 and report.kept == 1 and report.rescheduled == 0
    writes = calls.ops(*WRITES, since=before)
    assert [w["Item"]["pk"]["S"] for w in writes] == ["#sweeper"]  # the run's mark; no head rewritten
    [batch] = calls.ops("SendMessageBatch", since=before)
    [entry] = batch["Entries"]
    assert json.loads(entry["MessageBody"])["kind"] == "timer"
    assert json.loads(entry["MessageBody"])["delay"] == 590  # the harness's queue sends it at once

    # the sweeps until the armed timer would be overdue do not read the head, nor send it again
    for _ in range(3):
        harness.clock.advance(60)
        before = len(calls.made)
        assert harness.sweep().due == 0
        assert calls.ops("BatchGetItem", "SendMessageBatch", *WRITES, since=before) == []

    messages = harness.receive()
    assert [b["kind"] for b in harness.bodies(messages)] == ["timer"]  # the one timer, armed once
    harness.clock.moment = due
    harness.invoke(messages)
    harness.ack(messages)
    harness.drain()
    assert harness.services.executions.get(T, execution_id)["state"] == "ExecutionSucceeded"
    # the head's index entry over the whole run: set at the start, moved once by the commit at
    # the wait (to ten minutes before the timer), removed at the end; the sweeper moved nothing
    heads = calls.head_writes()
    assert [h["seq"]["N"] for h in heads] == ["0", "1", "2"]  # start, the wait's commit, the end
    start, waiting, end = (int(h["dueAt"]["N"]) if "dueAt" in h else None for h in heads)
    assert start is not None and waiting == int((due - timedelta(seconds=600)).timestamp()) and end is None
    assert index_writes(heads) == 4
    assert len(calls.items_put(stack.history_table)) == 1
    assert harness.sweep().due == 0


def test_an_armed_timer_that_is_lost_is_sent_again_once_overdue(stack: Settings) -> None:
    harness = durable(stack)
    define(harness, f"id: year\nsteps:\n  - {{id: nap, type: wait, seconds: {YEAR}, end: true}}")
    execution_id = harness.services.executions.start(T, "year", {})[0]["id"]
    harness.drain()
    due = parse_ts(harness.services.executions.get(T, execution_id)["waitingUntil"])
    harness.clock.moment = due - timedelta(seconds=590)
    assert harness.sweep().armed == 1
    purge(harness)  # the armed timer is lost
    harness.clock.moment = due + timedelta(seconds=60)
    assert harness.sweep().due == 0  # not overdue yet: within the grace period
    harness.clock.moment = due + timedelta(seconds=180)
    report = harness.sweep()
    assert report.due == 1 and report.resent == 1 and report.rescheduled == 1
    harness.drain()
    assert harness.services.executions.get(T, execution_id)["state"] == "ExecutionSucceeded"
