"""Maps in ``mode: inline`` over the in-memory adapters (docs/DESIGN.md, *Inline iterations*):
iterations that need no waiting leave no execution behind, the ones that wait become
children, the per-wake-up budget hands the rest to children, and redeliveries, crashes and
failures count each result exactly once."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from sedo.domain.execution import FAILED, SUCCEEDED
from sedo.domain.iterations import INLINE_FAN_OUT_PAGE
from sedo.service_layer.inline import INLINE_ITERATIONS
from tests.unit.test_fanout_pages import MapWorld

#: Items are doubled; items of 100 and more wait a second first (they become children);
#: an item of -1 fails.
MAP = """
id: doubles
steps:
  - id: each
    type: map
    items: "input.xs"
    mode: inline
    {extra}
    iterator:
      steps:
        - id: which
          type: choice
          choices:
            - {{when: "input == `-1`", next: broken}}
            - {{when: "input >= `100`", next: later}}
          default: double
        - {{id: later, type: wait, seconds: 1, next: double}}
        - {{id: double, type: transform, expression: "sum([input, input])", end: true}}
        - {{id: broken, type: fail, error: Broken, cause: "item -1"}}
    end: true
"""


class World(MapWorld):
    """One inline map execution over ``xs`` (``extra``: more of the map step's fields)."""

    def __init__(self, xs: list[int], extra: str = "") -> None:
        super().__init__(MAP.format(extra=extra), xs)
        self.xs = xs

    def run(self, duplicate: float = 0.0, seed: int = 7) -> None:
        """Deliver every message (oldest first, timers when due) until none is left; with
        ``duplicate``, that share of them twice (an SQS redelivery after a lost delete)."""
        rng = random.Random(seed)
        rounds = 0
        while self.pool:
            self.pool.sort(key=lambda m: m.get("due") or "")
            message = self.pool.pop(0)
            self.deliver(message)
            if rng.random() < duplicate:
                self.deliver(message, receive_count=2)
            self.pool.extend(self.queue.drain())
            rounds += 1
            assert rounds < 100_000

    def execution(self) -> dict[str, Any]:
        return self.api.executions.get("t", self.id)

    def assert_each_counted_once(self) -> None:
        counter = self.store.counter("t", self.key, 3)
        assert counter is not None and counter.done == len(self.xs)
        results = self.store.results("t", self.key, 3)
        assert [r["index"] for r in results] == list(range(len(self.xs)))


@pytest.mark.parametrize("extra", ["", "maxConcurrency: 3"])
def test_iterations_that_need_no_waiting_leave_no_execution(extra: str) -> None:
    world = World([0, 2, 4, 6, 8, 10, 12], extra)
    world.run()
    execution = world.execution()
    assert execution["state"] == SUCCEEDED, execution
    assert execution["output"] == [0, 4, 8, 12, 16, 20, 24]
    assert world.children() == []  # no child execution, no head
    assert len(world.executions.heads) == 1
    world.assert_each_counted_once()


def test_iterations_that_wait_become_children_in_the_state_their_first_segment_left() -> None:
    xs = [i + 100 * (i % 2) for i in range(9)]
    world = World(xs, "maxConcurrency: 4")
    world.run()
    execution = world.execution()
    assert execution["state"] == SUCCEEDED, execution
    assert execution["output"] == [2 * x for x in xs]
    children = world.children()
    assert [c.index for c in children] == [1, 3, 5, 7]  # the odd ones waited
    for child in children:
        assert child.state == SUCCEEDED
        events = [e["type"] for e in world.api.executions.history("t", child.id, 100, None).items]
        assert events.count("ExecutionSubmitted") == 1 and events[-1] == "ExecutionSucceeded"
        assert events.count("StepStarted") == 3  # which, later, double: the first segment ran once
    world.assert_each_counted_once()


def test_past_the_budget_iterations_start_as_children() -> None:
    total = 2 * INLINE_ITERATIONS + 50
    xs = [i % 50 for i in range(total)]
    world = World(xs, "maxConcurrency: 1")  # one lane: the page runs the first 100, a child each next 100
    world.run()
    assert world.execution()["output"] == [2 * x for x in xs]
    # a child runs itself in its own wake-up, then the next 100 inline
    assert [c.index for c in world.children()] == [INLINE_ITERATIONS, 2 * INLINE_ITERATIONS + 1]
    world.assert_each_counted_once()


def test_a_large_map_runs_in_pages_that_send_the_next_one_first() -> None:
    total = 3 * INLINE_FAN_OUT_PAGE + 20
    xs = [i % 50 for i in range(total)]
    world = World(xs)
    world.deliver(world.pool.pop(0))  # the parent's start
    [fanout] = world.queue.drain()
    world.deliver(fanout)
    sent = world.queue.drain()
    assert sent[0]["kind"] == "fanout" and sent[0]["data"]["after"] == INLINE_FAN_OUT_PAGE
    world.pool.extend(sent)
    world.run()
    assert world.execution()["output"] == [2 * x for x in xs]
    assert world.children() == []
    world.assert_each_counted_once()


def test_redeliveries_count_each_result_once() -> None:
    xs = [i % 7 + 100 * (i % 3 == 0) for i in range(60)]
    world = World(xs, "maxConcurrency: 5")
    world.run(duplicate=0.5)
    execution = world.execution()
    assert execution["state"] == SUCCEEDED, execution
    assert execution["output"] == [2 * x for x in xs]
    world.assert_each_counted_once()


def _failing_once(world: World, method: str, after: int) -> Callable[[], None]:
    """Make the iteration store's ``method`` raise on its call number ``after`` (once)."""
    own = getattr(world.store, method)
    calls = {"n": 0}

    def wrapped(*args: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == after:
            raise RuntimeError("injected")
        return own(*args)

    setattr(world.store, method, wrapped)
    return lambda: setattr(world.store, method, own)


@pytest.mark.parametrize("method", ["record", "results_page"])
@pytest.mark.parametrize("after", [1, 4, 9])
def test_a_crash_mid_chain_is_finished_by_the_redelivery(method: str, after: int) -> None:
    xs = [2 * i + 100 * (i % 5 == 0) for i in range(20)]
    world = World(xs, "maxConcurrency: 2")
    restore = _failing_once(world, method, after)
    rounds = 0
    while world.pool:
        message = world.pool.pop(0)
        try:
            world.deliver(message)
        except RuntimeError:
            world.deliver(message, receive_count=2)  # SQS delivers it again
        world.pool.extend(world.queue.drain())
        rounds += 1
        assert rounds < 10_000
    restore()
    assert world.execution()["output"] == [2 * x for x in xs]
    world.assert_each_counted_once()


def test_a_failing_iteration_fails_the_map_past_its_tolerance() -> None:
    world = World([0, 2, -1, 4], "toleratedFailureCount: 0")
    world.run()
    execution = world.execution()
    assert execution["state"] == FAILED
    assert execution["error"] == "States.ItemsFailed" and "Broken" in execution["cause"]


def test_a_tolerated_failure_is_null_in_the_output() -> None:
    world = World([0, -1, 4], "toleratedFailureCount: 1")
    world.run()
    execution = world.execution()
    assert execution["state"] == SUCCEEDED, execution
    assert execution["output"] == [0, None, 8]


def test_an_invocation_with_little_time_left_runs_nothing_inline() -> None:
    xs = [0, 2, 4, 6]
    world = World(xs)
    world.seconds_left = 0.0  # half of nothing left: every iteration starts as a child
    world.run()
    assert world.execution()["output"] == [2 * x for x in xs]
    assert [c.index for c in world.children()] == [0, 1, 2, 3]
    world.assert_each_counted_once()
