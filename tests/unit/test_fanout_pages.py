"""A fan-out's start in pages, over the in-memory adapters: page bounds, the cursor,
redelivery of a page, a crash between writing the heads and sending their starts, two
workers on one page, and the step ending while a page writes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from sedo import bootstrap
from sedo.adapters.clock import FakeClock
from sedo.adapters.memory import MemoryExecutionStore, MemoryIterationStore, MemoryQueue
from sedo.domain.execution import SUBMITTED, SUCCEEDED, Execution, split_execution_id
from sedo.domain.iterations import FAN_OUT_PAGE, next_page, start_page
from sedo.domain.language import load_text
from sedo.domain.timefmt import parse_ts
from sedo.service_layer.iterations import PAGE_LEASE_SECONDS, PageLeaseEnding
from sedo.service_layer.processing import Processed

MAP = """
id: doubles
steps:
  - id: each
    type: map
    items: "input.xs"
    {concurrency}
    iterator:
      steps:
        - {{id: double, type: transform, expression: "sum([input, input])", end: true}}
    end: true
"""


def test_pages_cover_the_first_wave_exactly() -> None:
    assert FAN_OUT_PAGE == 500
    assert start_page(1250, 1250, 0) == range(0, 500)
    assert start_page(1250, 1250, 1000) == range(1000, 1250)
    assert [next_page(1250, 1250, a) for a in (0, 500, 1000)] == [500, 1000, None]
    assert start_page(3000, 700, 500) == range(500, 700) and next_page(3000, 700, 500) is None
    assert start_page(10, 3, 0) == range(0, 3) and next_page(10, 3, 0) is None
    with pytest.raises(ValueError, match="multiple of 500"):
        start_page(1250, 1250, 499)


class MapWorld:
    """One execution of the definition ``text`` (id ``doubles``) over ``xs``, its messages in
    a pool, and the processor, all in memory (tests/unit/test_inline_iterations.py too)."""

    def __init__(self, text: str, xs: list[Any]) -> None:
        self.clock = FakeClock()
        self.adapters = bootstrap.memory_adapters(self.clock)
        self.api = bootstrap.api_services(self.adapters)
        self.api.definitions.create("t", load_text(text))
        self.id = self.api.executions.start("t", "doubles", {"xs": xs})[0]["id"]
        self.key = split_execution_id(self.id)[2]
        self.processor = bootstrap.processor(self.adapters)
        assert isinstance(self.adapters.queue, MemoryQueue)
        assert isinstance(self.adapters.executions, MemoryExecutionStore)
        assert isinstance(self.adapters.iterations, MemoryIterationStore)
        self.queue = self.adapters.queue
        self.executions = self.adapters.executions
        self.store = self.adapters.iterations
        self.pool: list[dict[str, Any]] = self.queue.drain()

    #: Each message in a Lambda invocation of its own with this many seconds left (its
    #: top-level flush at the invocation's end); None: outside any invocation.
    seconds_left: float | None = None

    def deliver(self, message: dict[str, Any], receive_count: int = 1) -> Processed:
        if message.get("due") and parse_ts(message["due"]) > self.clock.now():
            self.clock.moment = parse_ts(message["due"])
        if self.seconds_left is None:
            return self.processor.process(message, receive_count)
        self.processor.new_batch(self.seconds_left)
        try:
            return self.processor.process(message, receive_count)
        finally:
            self.processor.end_batch()

    def children(self) -> list[Any]:
        heads, _ = self.store.children("t", self.key, 3, 0, 100_000)
        return heads


class World(MapWorld):
    """One map execution of ``items`` doubled, at most ``concurrency`` at a time."""

    def __init__(self, items: int, concurrency: int | None = None) -> None:
        limit = f"maxConcurrency: {concurrency}" if concurrency is not None else ""
        super().__init__(MAP.format(concurrency=limit), list(range(items)))
        self.items = items
        self.starts: Counter[str] = Counter()  # child start messages sent, by child key

    def history(self, child: Execution) -> list[dict[str, Any]]:
        """A child's history as the API shows it (its last segment stays in its head)."""
        return list(self.api.executions.history("t", child.id, 10_000, None).items)

    def collect(self) -> list[dict[str, Any]]:
        sent = self.queue.drain()
        self.starts.update(m["key"] for m in sent if m["kind"] == "start" and "." in m["key"])
        self.pool.extend(sent)
        return sent

    def take(self, kind: str) -> dict[str, Any]:
        message = next(m for m in self.pool if m["kind"] == kind)
        self.pool.remove(message)
        return message

    def run(self) -> None:
        """Deliver every message (oldest first) until none is left."""
        rounds = 0
        while self.pool:
            self.deliver(self.pool.pop(0))
            self.collect()
            rounds += 1
            assert rounds < 100_000

    @contextmanager
    def replacing(self, method: str, around: Callable[..., Any]) -> Iterator[None]:
        """While the block runs, the iteration store's ``method`` calls ``around(own, *args)``
        instead (``own``: the store's own method)."""
        own = getattr(self.store, method)
        setattr(self.store, method, lambda *args: around(own, *args))
        try:
            yield
        finally:
            setattr(self.store, method, own)

    def assert_succeeded_once_each(self) -> None:
        execution = self.api.executions.get("t", self.id)
        assert execution["state"] == SUCCEEDED, execution
        assert execution["output"] == [2 * x for x in range(self.items)]
        children = self.children()
        assert [c.index for c in children] == list(range(self.items))
        assert all(c.state == SUCCEEDED for c in children)
        for child in children:  # each child ran once: one history, in order, submitted once
            events = self.history(child)
            assert [e["id"] for e in events] == list(range(1, len(events) + 1))
            assert [e["type"] for e in events].count("ExecutionSubmitted") == 1
        parent = [e["type"] for e in self.api.executions.history("t", self.id, 10_000, None).items]
        assert parent.count("StepSucceeded") == 1 and parent.count("ExecutionSucceeded") == 1


def fanned_out(items: int, concurrency: int | None = None) -> tuple[World, dict[str, Any]]:
    """A world of ``items`` whose parent's start is delivered; with its fan-out wake-up."""
    world = World(items, concurrency)
    world.deliver(world.take("start"))
    world.collect()
    return world, world.take("fanout")


def test_a_map_without_max_concurrency_starts_a_page_per_wake_up() -> None:
    world, fanout = fanned_out(1250)
    assert world.deliver(fanout) == Processed.FANNED_OUT
    sent = world.collect()
    assert len(world.children()) == FAN_OUT_PAGE  # one page, no more
    assert sorted(world.starts) == sorted(f"{world.key}.3.{i}" for i in range(FAN_OUT_PAGE))
    cursors = [m for m in sent if m["kind"] == "fanout"]
    assert [c["data"] for c in cursors] == [{"instance": 3, "after": 500}]
    world.pool.remove(cursors[0])
    world.deliver(cursors[0])
    [cursor] = [m for m in world.collect() if m["kind"] == "fanout"]
    assert cursor["data"]["after"] == 1000 and len(world.children()) == 1000
    world.pool.remove(cursor)
    world.deliver(cursor)
    assert not [m for m in world.collect() if m["kind"] == "fanout"]  # the last page
    assert len(world.children()) == 1250 and set(world.starts.values()) == {1}
    world.run()
    world.assert_succeeded_once_each()


def test_with_max_concurrency_the_pages_start_the_first_wave_and_completions_the_rest() -> None:
    world, fanout = fanned_out(1600, concurrency=700)
    world.deliver(fanout)
    world.collect()
    cursor = world.take("fanout")
    assert cursor["data"]["after"] == 500
    world.deliver(cursor)
    world.collect()
    assert [c.index for c in world.children()] == list(range(700))  # the first wave: pages 0 and 500
    assert not [m for m in world.pool if m["kind"] == "fanout"]
    peak = 0
    while world.pool:
        world.deliver(world.pool.pop(0))
        world.collect()
        counter = world.store.counter("t", world.key, 3)
        peak = max(peak, len(world.starts) - counter.done)  # started, not yet counted: at least those running
    assert peak <= 700
    world.assert_succeeded_once_each()


def test_a_redelivered_page_starts_nothing_twice() -> None:
    world, fanout = fanned_out(800)
    world.deliver(fanout)
    first = world.collect()
    world.deliver(fanout, receive_count=2)  # a redelivery after the page finished: done
    assert world.collect() == []
    cursor = next(m for m in first if m["kind"] == "fanout")
    world.deliver(cursor)
    world.deliver(cursor, receive_count=1)  # a duplicate cursor (the page before ran twice)
    world.collect()
    world.run()
    assert set(world.starts.values()) == {1}
    world.assert_succeeded_once_each()


def test_a_crash_between_writing_the_heads_and_sending_their_starts() -> None:
    world, fanout = fanned_out(700)
    world.queue.fail_next = 1  # the heads and their history are written, the sends fail
    with pytest.raises(RuntimeError, match="injected"):
        world.deliver(fanout)
    assert world.collect() == []
    children = world.children()
    assert len(children) == FAN_OUT_PAGE and all(c.state == SUBMITTED and c.seq == 0 for c in children)
    # Redelivered before the lease ends (a short visibility timeout): the page is looked at
    # again after the lease, nothing is written meanwhile.
    assert world.deliver(fanout, receive_count=2) == Processed.FANNED_OUT
    [later] = world.collect()
    assert later["kind"] == "fanout" and later["data"] == {"instance": 3, "after": 0} and later["delay"] > 0
    assert world.starts == Counter()
    world.pool.remove(later)
    world.deliver(later)  # past the lease: the heads are there, unstarted; their starts go out
    world.collect()
    assert sorted(world.starts) == sorted(c.key for c in children) and set(world.starts.values()) == {1}
    world.run()
    world.assert_succeeded_once_each()


def test_a_page_taken_over_after_a_crash_never_overwrites_a_started_child() -> None:
    world, fanout = fanned_out(600)

    def killed(finish: Callable[..., None], *args: Any) -> None:
        raise RuntimeError("killed")

    with world.replacing("finish_page", killed), pytest.raises(RuntimeError, match="killed"):
        world.deliver(fanout)  # crashed after sending: done never marked
    world.collect()
    for _ in range(50):  # some children start and advance
        world.deliver(world.take("start"))
        world.collect()
    advanced = {c.key: c.seq for c in world.children() if c.seq > 0}
    assert len(advanced) == 50
    world.clock.advance(PAGE_LEASE_SECONDS + 1)
    world.deliver(fanout, receive_count=2)  # the lease ended: this delivery takes over
    world.collect()
    current = {c.key: c.seq for c in world.children()}
    assert all(current[key] == seq for key, seq in advanced.items())  # none written over
    assert all(world.starts[key] == 1 for key in advanced)  # ... nor started again
    world.run()
    world.assert_succeeded_once_each()


def test_a_second_worker_on_a_page_being_written_writes_nothing() -> None:
    world, fanout = fanned_out(300)
    meanwhile: list[Processed] = []

    def put_while_another_delivery_runs(put: Callable[[Any], None], heads: Any) -> None:
        if not meanwhile:
            meanwhile.append(world.deliver(fanout))  # the same page, at the same time
            assert world.children() == []  # it wrote no head
        put(heads)

    with world.replacing("put_children", put_while_another_delivery_runs):
        world.deliver(fanout)
    sent = world.collect()
    later = [m for m in sent if m["kind"] == "fanout"]
    assert len(later) == 1 and later[0]["due"]  # the second looks again after the lease
    world.run()  # ... and then finds the page done
    assert set(world.starts.values()) == {1}
    world.assert_succeeded_once_each()


def test_a_page_whose_lease_runs_out_stops_writing() -> None:
    world, fanout = fanned_out(450)
    calls: list[int] = []

    def slow_put(put: Callable[[Any], None], heads: Any) -> None:
        calls.append(len(heads))
        put(heads)
        world.clock.advance(40)  # a slow (throttled) write: the first page's writes take 40 s

    with world.replacing("put_children", slow_put), pytest.raises(PageLeaseEnding):
        world.deliver(fanout)
    assert calls == [25]  # one BatchWriteItem's worth, then the lease check stopped it
    world.clock.advance(PAGE_LEASE_SECONDS)
    world.deliver(fanout, receive_count=2)
    world.collect()
    world.run()
    world.assert_succeeded_once_each()


def test_a_step_that_ends_while_a_page_writes_starts_none_of_it() -> None:
    """The parent is cancelled and its sweep runs after the page wrote 100 of its 500 heads:
    the sweep cancels those, the page sees the closed counter and sweeps the rest."""
    world, fanout = fanned_out(600)

    def put_then_cancel(put: Callable[[Any], None], heads: Any) -> None:
        put(heads)
        if len(world.children()) == 100:
            world.api.executions.cancel("t", world.id, "stop")
            sweeps = [m for m in world.collect() if m["kind"] == "sweep"]
            assert sweeps
            for sweep in sweeps:
                world.pool.remove(sweep)
                world.deliver(sweep)
            assert sum(c.state == "ExecutionCancelled" for c in world.children()) == 100

    with world.replacing("put_children", put_then_cancel):
        world.deliver(fanout)
    sent = world.collect()
    assert world.starts == Counter() and not [m for m in sent if m["kind"] == "fanout"]
    assert [m["kind"] for m in sent] == ["sweep"]
    world.run()
    assert world.api.executions.get("t", world.id)["state"] == "ExecutionCancelled"
    children = world.children()
    assert len(children) == FAN_OUT_PAGE and all(c.state == "ExecutionCancelled" for c in children)
    assert world.starts == Counter()  # none of them ever started
    for child in (children[0], children[-1]):
        assert [e["type"] for e in world.history(child)] == [
            "ExecutionSubmitted",
            "ExecutionCancelled",
        ]
