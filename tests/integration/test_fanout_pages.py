"""A map without maxConcurrency on the emulator: its start goes a page per wake-up, batched,
and survives a crash between writing the heads and sending their starts, and duplicates."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import replace
from typing import Any

import pytest

from sedo.domain import iterations
from sedo.domain.execution import split_execution_id
from sedo.domain.iterations import FAN_OUT_PAGE
from sedo.domain.language import load_text
from sedo.domain.protocol import WakeKind
from tests.integration.test_fanout import FUNCTIONS, Counting, squares
from tests.support import Harness, events_of

pytestmark = pytest.mark.integration

T = "pages"


@pytest.fixture
def harness(stack: Any) -> Harness:
    return Harness(replace(stack, local_functions=FUNCTIONS))


class FanOuts:
    """Counts the fan-out wake-ups the processor handles and the AWS requests they make."""

    def __init__(self, harness: Harness) -> None:
        adapters = harness.adapters
        self.counter = Counting(adapters.executions.client, adapters.queue.client)  # type: ignore[attr-defined]
        self.wakeups = 0
        self.requests = 0
        handlers = harness.processor._handlers
        handle = handlers[WakeKind.FAN_OUT]

        def counted(delivery: Any) -> Any:
            before = self.counter.count
            try:
                return handle(delivery)
            finally:
                self.wakeups += 1
                self.requests += self.counter.count - before

        handlers[WakeKind.FAN_OUT] = counted


def start_map(harness: Harness, items: int) -> tuple[str, str]:
    text = squares().replace("id: squares", "id: unbounded").replace("maxConcurrency: 3", "")  # no maxConcurrency
    harness.services.definitions.create(T, load_text(text))
    execution_id = harness.services.executions.start(T, "unbounded", {"numbers": list(range(items))})[0]["id"]
    return execution_id, split_execution_id(execution_id)[2]


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> int:
    """Pages of 50 children, so that a map of a few hundred items has several."""
    monkeypatch.setattr(iterations, "FAN_OUT_PAGE", 50)
    return 50


def children_of(harness: Harness, key: str) -> list[Any]:
    found: list[Any] = []
    after: int | None = 0
    while after is not None:
        children, after = harness.adapters.iterations.children(T, key, 3, after, 1000)  # type: ignore[union-attr]
        found.extend(children)
    return found


def assert_every_child_ran_once(harness: Harness, execution_id: str, key: str, items: int, every: int = 1) -> None:
    execution = harness.services.executions.get(T, execution_id)
    assert execution["state"] == "ExecutionSucceeded", execution
    assert execution["output"] == list(range(items))
    children = children_of(harness, key)
    assert [c.index for c in children] == list(range(items))
    assert all(c.state == "ExecutionSucceeded" for c in children)
    for child in children[::every]:
        events = list(harness.services.executions.history(T, child.id, 1000, None).items)
        assert [e["id"] for e in events] == list(range(1, len(events) + 1))
        types = Counter(e["type"] for e in events)
        assert types["ExecutionSubmitted"] == types["ExecutionStarted"] == types["ExecutionSucceeded"] == 1
    parent = Counter(e["type"] for e in events_of(harness, T, execution_id))
    assert parent["StepSucceeded"] == 2 and parent["ExecutionSucceeded"] == 1  # the map step once, then done


@pytest.mark.slow
def test_a_map_without_max_concurrency_over_many_items(harness: Harness) -> None:
    """1,000 items by default (two pages); SEDO_FANOUT_ITEMS=10000 for the big run (the
    emulator takes ~10 requests per child, about half an hour for 10,000)."""
    items = int(os.environ.get("SEDO_FANOUT_ITEMS", "1000"))
    fanouts = FanOuts(harness)
    execution_id, key = start_map(harness, items)
    harness.drain()
    assert_every_child_ran_once(harness, execution_id, key, items, every=25)
    assert fanouts.wakeups == -(-items // FAN_OUT_PAGE)  # one wake-up per page, each sending the next's cursor
    per_child = fanouts.requests / items
    print(f"fan-out: {fanouts.wakeups} wake-ups, {per_child:.3f} AWS requests per child started")
    assert per_child < 0.25  # heads 1/25, history 1/25, starts 1/10, reads 1/100 (one at a time: 4)


class FailingSends:
    """The queue's SQS client, except that its ``at``-th SendMessageBatch of child starts fails."""

    def __init__(self, client: Any, at: int) -> None:
        self.client, self.at, self.calls = client, at, 0

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.client, name)
        if name != "send_message_batch":
            return method

        def send(**kwargs: Any) -> Any:
            if any('"kind":"start"' in e["MessageBody"] and '"key":"' in e["MessageBody"] for e in kwargs["Entries"]):
                self.calls += 1
                if self.calls == self.at:
                    raise ConnectionError("the connection dropped (or Lambda was killed) mid-page")
            return method(**kwargs)

        return send


def test_a_crash_between_writing_a_page_and_sending_its_starts(harness: Harness, small_pages: int) -> None:
    """The second page's heads and history are written and 2 of its 5 start batches sent when
    the processor dies; the redelivered page looks again after the lease, finds every head,
    writes none, and sends the starts of those not started. Every child runs once."""
    items = 2 * small_pages + 20
    queue = harness.adapters.queue
    failing = FailingSends(queue.client, at=8)  # type: ignore[attr-defined]
    queue.client = failing  # type: ignore[attr-defined]
    fanouts = FanOuts(harness)
    execution_id, key = start_map(harness, items)
    harness.drain()
    assert failing.calls > 8  # it failed once, and the page went on later
    assert fanouts.wakeups == 3 + 2  # three pages; the second failed, was looked at again later
    assert_every_child_ran_once(harness, execution_id, key, items)


def test_every_message_of_an_unbounded_map_delivered_twice(harness: Harness, small_pages: int) -> None:
    items = 2 * small_pages + 20
    execution_id, key = start_map(harness, items)

    def twice(h: Harness, messages: list[dict[str, Any]]) -> None:
        h.invoke(messages)
        h.invoke(messages)
        h.ack(messages)

    harness.drain(twice)
    assert_every_child_ran_once(harness, execution_id, key, items)
