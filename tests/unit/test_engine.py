"""The pure engine and the processing use case over in-memory fakes.

Property tests drive many executions through adversarial delivery schedules
(duplicates, re-ordering, lost acks, crashes between commit and send) and check the
protocol's invariants: every execution ends exactly once, with the complete,
duplicate-free history it would have had under perfect delivery.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sedo import bootstrap
from sedo.adapters.clock import FakeClock
from sedo.domain import engine
from sedo.domain.engine import Budget, Commit, FutureMessage, Rearm, Stale
from sedo.domain.execution import CANCELLED, SUCCEEDED, WakeUp
from sedo.domain.language import load_definition, load_text
from sedo.domain.timefmt import parse_ts
from sedo.service_layer.processing import Processed

DEFINITION = load_definition(
    load_text(
        """
id: flow
steps:
  - {id: a, type: echo, message: one, next: w}
  - {id: w, type: wait, seconds: 1200, next: b}
  - {id: b, type: echo, message: two, next: c}
  - {id: c, type: wait, seconds: 5, next: d}
  - {id: d, type: echo, message: three, end: true}
"""
    ),
    version=1,
)
EXPECTED_TYPES = [
    "ExecutionSubmitted",
    "ExecutionStarted",
    "StepStarted",
    "StepSucceeded",
    "StepStarted",
    "StepSucceeded",
    "StepStarted",
    "StepSucceeded",
    "StepStarted",
    "StepSucceeded",
    "StepStarted",
    "StepSucceeded",
    "ExecutionSucceeded",
]


def start(clock: FakeClock, key: str = "k1") -> Any:
    return engine.start_execution(tenant_id="t", definition=DEFINITION, input={"x": 1}, key=key, now=clock.now())


def test_start_puts_submitted_head_with_first_wakeup() -> None:
    head = start(FakeClock())
    assert head.seq == 0 and head.state == "ExecutionSubmitted"
    assert head.outbox == [{"tenantId": "t", "key": "k1", "seq": 0, "kind": "start", "mid": "0.0"}]
    assert [e["type"] for e in head.pending_events] == ["ExecutionSubmitted"]


def test_runs_until_await_point_then_one_commit() -> None:
    clock = FakeClock()
    head = start(clock)
    decision = engine.advance(DEFINITION, head, WakeUp.from_body(head.outbox[0]), clock.now())
    assert isinstance(decision, Commit)
    new = decision.head
    assert (new.seq, new.state, new.step) == (1, "StepStarted", "w")
    assert decision.expected_seq == 0
    [timer] = new.outbox
    assert timer["kind"] == "timer" and timer["seq"] == 1
    assert timer["delay"] == 900  # SQS's longest timer; the rest is re-armed
    assert parse_ts(timer["due"]) == clock.now() + timedelta(seconds=1200)


def test_long_wait_rearms_without_state_change() -> None:
    clock = FakeClock()
    head = start(clock)
    head = engine.advance(DEFINITION, head, WakeUp.from_body(head.outbox[0]), clock.now()).head  # type: ignore[union-attr]
    timer = WakeUp.from_body(head.outbox[0])
    clock.advance(900)
    decision = engine.advance(DEFINITION, head, timer, clock.now())
    assert isinstance(decision, Rearm)
    assert decision.message.delay == 300 and decision.message.seq == head.seq and decision.message.mid == timer.mid
    clock.advance(300)
    decision = engine.advance(DEFINITION, head, decision.message, clock.now())
    assert isinstance(decision, Commit) and decision.head.step == "c"


def test_stale_and_future_messages() -> None:
    clock = FakeClock()
    head = start(clock)
    first = WakeUp.from_body(head.outbox[0])
    new = engine.advance(DEFINITION, head, first, clock.now()).head  # type: ignore[union-attr]
    again = engine.advance(DEFINITION, new, first, clock.now())
    assert isinstance(again, Stale) and again.reflush  # the producer of the head: re-flush
    unrelated = WakeUp("t", "k1", 0, "start", "0.9")
    stale = engine.advance(DEFINITION, new, unrelated, clock.now())
    assert isinstance(stale, Stale) and not stale.reflush
    with pytest.raises(FutureMessage):
        engine.advance(DEFINITION, new, WakeUp("t", "k1", 7, "timer", "7.0"), clock.now())


def test_wrong_kind_for_the_await_is_stale() -> None:
    clock = FakeClock()
    head = start(clock)
    decision = engine.advance(DEFINITION, head, WakeUp("t", "k1", 0, "timer", "0.0"), clock.now())
    assert isinstance(decision, Stale)


def test_step_budget_yields_with_a_continue_message() -> None:
    steps = "\n".join(f"  - {{id: s{i}, type: echo, message: m{i}, next: s{i + 1}}}" for i in range(12))
    definition = load_definition(
        load_text(f"id: long\nsteps:\n{steps}\n  - {{id: s12, type: echo, message: end, end: true}}")
    )
    clock = FakeClock()
    head = engine.start_execution(tenant_id="t", definition=definition, input={}, key="k", now=clock.now())
    budget = Budget(max_steps_per_wakeup=5)
    wakeups = 0
    message = head.outbox[0]
    while True:
        decision = engine.advance(definition, head, WakeUp.from_body(message), clock.now(), budget)
        assert isinstance(decision, Commit)
        head = decision.head
        wakeups += 1
        if head.finished:
            break
        [message] = head.outbox
        assert message["kind"] == "continue" and message.get("delay", 0) == 0
    assert wakeups == 3 and head.state == SUCCEEDED


def test_wait_until_in_the_past_does_not_wait() -> None:
    definition = load_definition(
        load_text("id: p\nsteps:\n  - {id: w, type: wait, until: '2000-01-01T00:00:00Z', end: true}")
    )
    clock = FakeClock()
    head = engine.start_execution(tenant_id="t", definition=definition, input={}, key="k", now=clock.now())
    decision = engine.advance(definition, head, WakeUp.from_body(head.outbox[0]), clock.now())
    assert isinstance(decision, Commit) and decision.head.state == SUCCEEDED and decision.head.outbox == []


def test_cancel_makes_pending_timer_stale() -> None:
    clock = FakeClock()
    head = start(clock)
    head = engine.advance(DEFINITION, head, WakeUp.from_body(head.outbox[0]), clock.now()).head  # type: ignore[union-attr]
    timer = WakeUp.from_body(head.outbox[0])
    cancelled = engine.cancel(head, clock.now(), "no longer needed").head
    assert cancelled.state == CANCELLED and cancelled.seq == head.seq + 1 and cancelled.outbox == []
    clock.advance(1200)
    assert isinstance(engine.advance(DEFINITION, cancelled, timer, clock.now()), Stale)


# --- the processing use case over in-memory fakes, under adversarial delivery ----------


class World:
    """Executions, a pool of in-flight messages, and a processor, all in memory."""

    def __init__(self, executions: int) -> None:
        self.clock = FakeClock()
        self.adapters = bootstrap.memory_adapters(self.clock)
        api = bootstrap.api_services(self.adapters)
        api.definitions.create("t", dict(DEFINITION.document))
        self.ids = [api.executions.start("t", "flow", {"n": i})[0]["id"] for i in range(executions)]
        self.api = api
        self.processor = bootstrap.processor(self.adapters)
        self.queue: Any = self.adapters.queue
        self.pool: list[dict[str, Any]] = self.queue.drain()
        self.receives: dict[int, int] = {}

    def deliver(self, index: int, action: str) -> None:
        """Deliver pool[index]; ``action`` says what goes wrong."""
        message = self.pool[index]
        receives = self.receives[id(message)] = self.receives.get(id(message), 0) + 1
        if message.get("due"):
            due = parse_ts(message["due"])
            if due > self.clock.now():
                self.clock.moment = due
        if action == "crash-before-send":
            self.queue.fail_next = 1
        try:
            self.processor.process(message, receives)
            acked = action not in ("lose-ack",)
        except RuntimeError:
            acked = False  # the crash: SQS will redeliver
        if action == "crash-after-send":
            acked = False
        if action == "duplicate":
            self.processor.process(message, 1)  # a duplicate send: a distinct message
        if acked:
            self.pool.pop(index)
        self.pool.extend(self.queue.drain())


ACTIONS = st.sampled_from(["ok", "ok", "ok", "duplicate", "lose-ack", "crash-before-send", "crash-after-send"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schedule=st.lists(st.tuples(st.integers(min_value=0, max_value=10_000), ACTIONS), max_size=400))
def test_any_delivery_schedule_ends_every_execution_exactly_once(schedule: list[tuple[int, str]]) -> None:
    world = World(executions=3)
    for position, action in schedule:
        if not world.pool:
            break
        world.deliver(position % len(world.pool), action)
    rounds = 0
    while world.pool:  # then deliver the rest cleanly, oldest first
        world.deliver(0, "ok")
        rounds += 1
        assert rounds < 10_000
    store: Any = world.adapters.executions
    for execution_id in world.ids:
        execution = world.api.executions.get("t", execution_id)
        assert execution["state"] == SUCCEEDED
        key = execution_id.split(":")[2]
        events = list(world.api.executions.history("t", execution_id, 10_000, None).items)
        assert [e["id"] for e in events] == list(range(1, len(EXPECTED_TYPES) + 1))
        assert [e["type"] for e in events] == EXPECTED_TYPES
        # exactly one commit per transition: start + 2 timers ... never more
        assert store.get("t", key).seq == 3


def test_process_outcomes() -> None:
    world = World(executions=1)
    [start_message] = world.pool
    assert world.processor.process(start_message) == Processed.COMMITTED
    assert world.processor.process(start_message, 1) == Processed.STALE  # a duplicate send
    assert world.processor.process(start_message, 2) == "reflushed"  # a redelivery
    [timer] = world.queue.drain()[:1]
    world.clock.advance(600)
    assert world.processor.process(timer) == Processed.REARMED
    world.clock.advance(600)
    assert world.processor.process(timer) == Processed.COMMITTED
    assert world.processor.process({**timer, "mid": "x"}) == Processed.STALE
