"""Liveness in the pure core: when a head is due for the sweeper, and what a sweep re-sends."""

from __future__ import annotations

import math
from datetime import timedelta

from sedo import bootstrap
from sedo.adapters.clock import FakeClock
from sedo.domain import engine, liveness
from sedo.domain.engine import Budget, Commit
from sedo.domain.execution import Execution, WakeUp
from sedo.domain.language import load_definition, load_text
from sedo.domain.protocol import TimerAwait, WakeKind
from sedo.service_layer.flush import flush
from sedo.service_layer.sweeper import Sweeper

YEAR = 365 * 24 * 3600
DURABLE = Budget(durable_timers=True, sweep_grace_seconds=120)


def waiting(seconds: int, budget: Budget = DURABLE) -> tuple[Commit, FakeClock]:
    definition = load_definition(
        load_text(f"id: w\nsteps:\n  - {{id: nap, type: wait, seconds: {seconds}, end: true}}")
    )
    clock = FakeClock()
    head = engine.start_execution(tenant_id="t", definition=definition, input={}, key="k", now=clock.now())
    decision = engine.advance(definition, head, WakeUp.from_body(head.outbox[0]), clock.now(), budget)
    assert isinstance(decision, Commit)
    return decision, clock


def test_a_new_execution_is_due_a_grace_period_after_its_start() -> None:
    clock = FakeClock()
    definition = load_definition(load_text("id: e\nsteps:\n  - {id: a, type: echo, message: hi, end: true}"))
    head = engine.start_execution(tenant_id="t", definition=definition, input={}, key="k", now=clock.now())
    start = clock.now().timestamp()
    assert head.due_at is not None and start + 120 <= head.due_at < start + 120 + 60
    assert head.due_at % 60 == 0  # rounded up to the minute: commits within a minute keep the index entry


def test_a_year_long_wait_is_deferred_to_the_sweeper_and_due_ten_minutes_before() -> None:
    decision, clock = waiting(YEAR)
    head = decision.head
    [timer] = head.outbox
    assert timer["kind"] == "timer" and timer["deferred"] is True
    due = clock.now().timestamp() + YEAR
    assert head.due_at is not None and due - liveness.ARM_LEAD_SECONDS <= head.due_at < due - 540
    assert isinstance(head.awaiting, TimerAwait)


def test_flush_sends_no_deferred_timer() -> None:
    decision, _ = waiting(YEAR)
    adapters = bootstrap.memory_adapters()
    flush(decision.head, adapters.executions, adapters.queue)
    assert adapters.queue.sent == []  # type: ignore[attr-defined]


def test_short_waits_and_the_old_behaviour_are_not_deferred() -> None:
    decision, clock = waiting(45)
    [timer] = decision.head.outbox
    assert "deferred" not in timer and timer["delay"] == 45
    assert decision.head.due_at is not None and decision.head.due_at >= clock.now().timestamp() + 45 + 120
    rearmed, _ = waiting(YEAR, Budget())  # no sweeper: re-armed in 900 s chunks as before
    [chunk] = rearmed.head.outbox
    assert "deferred" not in chunk and chunk["delay"] == 900


def test_the_plan_arms_a_deferred_timer_once_it_is_within_reach() -> None:
    decision, clock = waiting(YEAR)
    head = decision.head
    messages = liveness.live_messages(head.outbox, head.timers)
    assert head.due_from is not None
    early = liveness.plan(messages, head.awaiting, head.due_from, clock.now() + timedelta(days=1), 120, 900)
    assert early.send == []  # still out of reach
    arm_at = clock.now() + timedelta(seconds=YEAR - 590)
    armed = liveness.plan(messages, head.awaiting, head.due_from, arm_at, 120, 900)
    [timer] = armed.send
    assert timer["kind"] == "timer" and 580 <= timer["delay"] <= 590
    assert armed.next_due is not None and armed.next_due >= arm_at.timestamp() + 590 + 120


def test_the_plan_resends_a_lost_message_only_after_the_grace_period() -> None:
    decision, clock = waiting(45)
    head = decision.head
    messages = liveness.live_messages(head.outbox, head.timers)
    assert head.due_from is not None
    on_time = liveness.plan(messages, head.awaiting, head.due_from, clock.now() + timedelta(seconds=100), 120, 900)
    assert on_time.send == []
    late = liveness.plan(messages, head.awaiting, head.due_from, clock.now() + timedelta(seconds=200), 120, 900)
    [again] = late.send
    assert again["kind"] == WakeKind.TIMER and again["delay"] == 0 and again["mid"] == head.outbox[0]["mid"]


def test_a_step_timeout_outlives_a_heartbeat_commit_and_a_finished_head_is_never_due() -> None:
    text = "id: cb\nsteps:\n  - {id: ask, type: callback, timeoutSeconds: 3600, heartbeatSeconds: 60, end: true}"
    definition = load_definition(load_text(text))
    clock = FakeClock()
    head = engine.start_execution(tenant_id="t", definition=definition, input={}, key="k", now=clock.now())
    started = engine.advance(definition, head, WakeUp.from_body(head.outbox[0]), clock.now(), DURABLE)
    assert isinstance(started, Commit)
    assert [t["kind"] for t in started.head.timers] == ["timeout"]
    awaiting = started.head.awaiting
    assert awaiting is not None and hasattr(awaiting, "token")
    beat = WakeUp("t", "k", started.head.seq, WakeKind.HEARTBEAT, "api-1", data={"token": awaiting.token})
    after = engine.advance(definition, started.head, beat, clock.now(), DURABLE)
    assert isinstance(after, Commit)
    assert [m["kind"] for m in after.head.outbox] == ["heartbeat-timeout"]
    assert [t["kind"] for t in after.head.timers] == ["timeout"]  # still re-sendable
    done = WakeUp("t", "k", after.head.seq, WakeKind.COMPLETE, "api-2", data={"token": awaiting.token})
    finished = engine.advance(definition, after.head, done, clock.now(), DURABLE)
    assert isinstance(finished, Commit) and finished.head.finished
    assert finished.head.due_at is None and finished.head.timers == []


def test_the_arm_lead_and_the_due_resolution_scale_down_for_the_benchmark() -> None:
    """A scaled long wait (as the benchmark's, bench/README.md): a 20 s wait beyond a 5 s reach,
    due for the sweeper 3 s before its time at a 1 s resolution, armed with the rest."""
    scaled = Budget(
        durable_timers=True, max_delay_seconds=5, sweep_grace_seconds=120, arm_lead_seconds=3, due_resolution_seconds=1
    )
    decision, clock = waiting(20, scaled)
    head = decision.head
    [timer] = head.outbox
    assert timer["deferred"] is True  # 20 s is beyond the 5 s reach: the same path as a year
    start = clock.now().timestamp()
    assert head.due_at == math.ceil(start + 20 - 3)  # not ten minutes before, nor a minute's rounding
    adapters = bootstrap.memory_adapters(clock=clock)
    assert adapters.executions.create(head)
    sweeper = Sweeper(
        adapters.executions,
        adapters.queue,
        clock,
        None,
        grace_seconds=120,
        max_delay_seconds=5,
        arm_lead_seconds=3,
        due_resolution_seconds=1,
    )
    clock.advance(16)
    assert sweeper.sweep().due == 0  # not yet due: 4 s before its time
    clock.advance(1)
    report = sweeper.sweep()
    assert report.due == 1 and report.armed == 1 and report.resent == 0
    [sent] = adapters.queue.sent  # type: ignore[attr-defined]
    assert sent["kind"] == "timer" and sent["delay"] == 3 and "deferred" not in sent
    swept = adapters.executions.get("t", "k")
    assert swept is not None and swept.due_at == math.ceil(start + 20 - 3)  # kept: the arm wrote nothing
    assert report.kept == 1 and report.rescheduled == 0
    # looked at again only once the armed timer would be overdue: its due time + the grace period
    clock.advance(3 + 119)
    assert sweeper.sweep().due == 0
    clock.advance(1)
    lost = sweeper.sweep()
    assert lost.due == 1 and lost.resent == 1 and lost.rescheduled == 1
    # the defaults are the deployment's: ten minutes before, rounded up to the minute
    # and never due by the decision itself (here the lead would put it in the past): a minute on
    assert liveness.due_at(head.outbox, start, 120, 5) == start + 60


def test_a_delay_is_the_whole_second_nearest_the_due_time_within_reach() -> None:
    assert liveness.delay_to(100.0, 97.6, 900) == 2  # visible 0.4 s early: on time
    assert liveness.delay_to(100.0, 97.4, 900) == 3  # 0.4 s late rather than 0.6 s early
    assert liveness.delay_to(100.0, 120.0, 900) == 0 and liveness.delay_to(5000.0, 0.0, 900) == 900


def test_a_timer_less_than_half_a_second_early_is_on_time_and_one_earlier_is_re_armed() -> None:
    decision, clock = waiting(45)
    head = decision.head
    definition = load_definition(load_text("id: w\nsteps:\n  - {id: nap, type: wait, seconds: 45, end: true}"))
    timer = WakeUp.from_body(head.outbox[0])
    due = clock.now() + timedelta(seconds=45)
    on_time = engine.advance(definition, head, timer, due - timedelta(seconds=0.4), DURABLE)
    assert isinstance(on_time, Commit) and on_time.head.finished
    early = engine.advance(definition, head, timer, due - timedelta(seconds=0.6), DURABLE)
    assert isinstance(early, engine.Rearm) and early.message.delay == 1


def test_an_entry_a_complete_run_saw_is_read_again_only_once_its_armed_timer_is_overdue() -> None:
    assert liveness.visit(100, None, None)  # no run completed yet: everything due is read
    assert liveness.visit(100, 99, 0)  # due after the last complete run: new
    assert not liveness.visit(100, 100, 99)  # seen by that run, left in place: not read
    assert liveness.visit(100, 100, 100)  # due by now minus the recheck: an armed timer was lost
    assert liveness.recheck_seconds(120) == liveness.ARM_LEAD_SECONDS + 120


def test_arming_keeps_the_entry_and_a_lost_message_moves_it() -> None:
    decision, clock = waiting(YEAR)
    head = decision.head
    messages = liveness.live_messages(head.outbox, head.timers)
    assert head.due_from is not None and head.due_at is not None
    arm_at = clock.now() + timedelta(seconds=YEAR - 590)
    armed = liveness.plan(messages, head.awaiting, head.due_from, arm_at, 120, 900, entry_due=head.due_at)
    assert armed.keep and armed.overdue == frozenset()  # the revisit of the kept entry is early enough
    assert armed.next_due is not None and head.due_at + liveness.recheck_seconds(120) <= armed.next_due
    lost_at = clock.now() + timedelta(seconds=YEAR + 200)
    lost = liveness.plan(messages, head.awaiting, head.due_from, lost_at, 120, 900, entry_due=head.due_at)
    assert not lost.keep and lost.overdue == {head.outbox[0]["mid"]} and lost.send[0]["delay"] == 0


class CountingQueue:
    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.batches: list[list[dict[str, object]]] = []

    def send(self, messages: list[dict[str, object]]) -> None:
        self.batches.append(list(messages))
        self.clock.advance(0.7)  # sending takes time: the next batch's delays count from later


def test_a_sweep_sends_in_full_batches_across_shards_with_delays_from_when_they_are_sent() -> None:
    adapters = bootstrap.memory_adapters()
    clock = FakeClock()
    definition = load_definition(load_text(f"id: w\nsteps:\n  - {{id: nap, type: wait, seconds: {YEAR}, end: true}}"))
    for n in range(12):
        head = engine.start_execution(tenant_id="t", definition=definition, input={}, key=f"k{n}", now=clock.now())
        decision = engine.advance(definition, head, WakeUp.from_body(head.outbox[0]), clock.now(), DURABLE)
        assert isinstance(decision, Commit) and adapters.executions.create(decision.head)
    queue = CountingQueue(clock)
    sweeper = Sweeper(adapters.executions, queue, clock, None)  # type: ignore[arg-type]
    clock.advance(YEAR - 590)
    report = sweeper.sweep()
    assert report.armed == 12 and report.kept == 12 and report.rescheduled == 0
    assert [len(b) for b in queue.batches] == [10, 2]  # not one request per head
    first, second = queue.batches
    assert {m["delay"] for m in first} == {590} and {m["delay"] for m in second} == {589}
    assert sweeper.sweep().due == 0  # the next run reads none of them


def test_a_stored_head_leaves_out_its_empty_fields_and_reads_back_the_same() -> None:
    decision, _ = waiting(YEAR)
    document = decision.head.compact_document()
    assert "parent_key" not in document and "error" not in document and "timers" not in document
    assert document["seq"] == 1 and document["outbox"]
    assert Execution.from_document(document) == decision.head


def test_a_message_due_within_a_minute_is_sent_without_waiting_for_a_fuller_batch() -> None:
    scaled = Budget(durable_timers=True, max_delay_seconds=5, arm_lead_seconds=3, due_resolution_seconds=1)
    adapters = bootstrap.memory_adapters()
    clock = FakeClock()
    definition = load_definition(load_text("id: w\nsteps:\n  - {id: nap, type: wait, seconds: 20, end: true}"))
    for n in range(3):
        head = engine.start_execution(tenant_id="t", definition=definition, input={}, key=f"k{n}", now=clock.now())
        decision = engine.advance(definition, head, WakeUp.from_body(head.outbox[0]), clock.now(), scaled)
        assert isinstance(decision, Commit) and adapters.executions.create(decision.head)
    queue = CountingQueue(clock)
    sweeper = Sweeper(adapters.executions, queue, clock, None, max_delay_seconds=5, arm_lead_seconds=3)  # type: ignore[arg-type]
    clock.advance(17)
    assert sweeper.sweep().armed == 3
    assert len(queue.batches) == len({liveness.shard_of("t", f"k{n}") for n in range(3)})  # one per shard page


def test_only_a_run_that_keeps_an_entry_stores_its_mark() -> None:
    adapters = bootstrap.memory_adapters()
    decision, clock = waiting(YEAR)
    assert adapters.executions.create(decision.head)
    sweeper = Sweeper(adapters.executions, CountingQueue(clock), clock, None)  # type: ignore[arg-type]
    clock.advance(3600)
    assert sweeper.sweep().due == 0 and adapters.executions.sweep_mark() is None  # nothing due: no write
    clock.advance(YEAR - 3600 - 590)
    assert sweeper.sweep().kept == 1
    mark = adapters.executions.sweep_mark()
    assert mark == int(clock.now().timestamp())
    clock.advance(60)
    assert sweeper.sweep().due == 0 and adapters.executions.sweep_mark() == mark  # skipped, by the stored mark
