"""The liveness matrix: ordinary inputs and AWS's failure modes, each on the emulator with the
local stack's limits on (tests/conftest.py installs them). Every execution ends, succeeded or
failed with a named error; none stays running; none is doubled.

Rows (issue 13): six 60 KB step outputs; a map with no maxConcurrency over 3,000 items (six fan-out
pages; tests/integration/test_fanout_pages.py runs 1,000, and 10,000 by hand);
a tenant's burst that throttles its partition; a map over S3 whose queue is purged while it
indexes and runs; a wake-up that can never be
processed (it reaches the DLQ); the execution queue purged while executions wait and run; a
Lambda timeout mid-batch. Each row prints what it saw.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest

from bench.workload import WORKLOADS_DIR, load, stage_s3
from sedo.adapters.aws import client
from sedo.config import Settings
from sedo.domain.execution import TERMINAL_STATES
from sedo.domain.language import load_text
from sedo.entrypoints.local.capacity import PartitionBuckets, Rates
from sedo.entrypoints.local.throughput import PartitionLimiter
from tests.definitions import echo_wait_echo, identity_map
from tests.support import Harness, events_of

pytestmark = pytest.mark.integration

T = "matrix"
FLOW = echo_wait_echo("flow", ("a", "nap", "b"), 30)
SIX = "id: six\nsteps:\n" + "".join(
    f"  - {{id: s{i}, type: transform, expression: \"join('', [input.s, '{i}'])\", resultPath: r{i}, "
    + (f"next: s{i + 1}}}\n" if i < 5 else "end: true}\n")
    for i in range(6)
)
UNBOUNDED = identity_map("unbounded")
#: Items of the unbounded map (no maxConcurrency), as issue 13 asks: six fan-out pages (500 each).
MAP_ITEMS = 3000
ASK = """
id: ask
steps:
  - {id: approve, type: callback, end: true}
"""


@dataclass
class Row:
    harness: Harness
    ids: list[str]
    expect: Callable[[dict[str, Any]], bool] = lambda execution: execution["state"] == "ExecutionSucceeded"
    #: What the row must have provoked (so it cannot pass without its fault).
    provoked: Callable[[], bool] = lambda: True


def _harness(stack: Settings) -> Harness:
    harness = Harness(replace(stack, durable_timers=True, sweep_grace_seconds=60))
    harness.services.definitions.create(T, load_text(FLOW))
    return harness


def _start(harness: Harness, count: int) -> list[str]:
    return [harness.services.executions.start(T, "flow", {"n": n})[0]["id"] for n in range(count)]


def _sweep_until_drained(harness: Harness, rounds: int = 20) -> None:
    """Deliver everything; whenever the queue is empty, let the sweeper look (past the grace)."""
    for _ in range(rounds):
        harness.drain()
        harness.clock.advance(120)
        if not harness.sweep().due:
            return
    raise AssertionError("the sweeper kept finding due executions")


def throttled_burst(stack: Settings) -> Row:
    """One tenant's burst against partitions that take 1 write unit a second (moto is slow): no
    key is shared by the tenant's executions any more, so each one's own head partition and
    its listing shard are what throttle."""
    harness = _harness(stack)
    limiter = PartitionLimiter(PartitionBuckets(Rates(wcu=1, rcu=60)))
    limiter.attach(harness.adapters.executions.client)  # type: ignore[attr-defined]
    ids = _start(harness, 20)
    _sweep_until_drained(harness)
    return Row(harness, ids, provoked=lambda: sum(limiter.throttled.values()) > 0)


def dead_letter(stack: Settings) -> Row:
    """A wake-up the processor can never apply reaches the DLQ, and fails its execution."""
    harness = _harness(stack)
    harness.services.definitions.create(T, load_text(ASK))
    victim = harness.services.executions.start(T, "ask", {})[0]["id"]
    ids = _start(harness, 3)
    harness.drain()  # the flows wait on their timers, the victim on its callback
    assert harness.services.executions.get(T, victim)["state"] == "StepStarted"
    _, _, key = victim.split(":")
    broken = {"tenantId": T, "key": key, "seq": 0, "kind": "sweep", "mid": "bad", "data": {}}  # no instance
    harness.sqs.send_message(QueueUrl=harness.queue_url, MessageBody=json.dumps(broken))
    _sweep_until_drained(harness)

    def expect(execution: dict[str, Any]) -> bool:
        if execution["id"] == victim:
            return execution["state"] == "ExecutionFailed" and execution["error"] == "States.Runtime"
        return execution["state"] == "ExecutionSucceeded"

    return Row(harness, [victim, *ids], expect)


def purged_queue(stack: Settings) -> Row:
    harness = _harness(stack)
    waiting = _start(harness, 4)
    harness.drain(stop_after=1)
    running = _start(harness, 3)
    harness.sqs.purge_queue(QueueUrl=harness.queue_url)
    harness.clock.advance(120)
    resent = harness.sweep().resent
    _sweep_until_drained(harness)
    return Row(harness, waiting + running, provoked=lambda: resent >= len(waiting + running))


def lambda_timeout_mid_batch(stack: Settings) -> Row:
    """The function is killed part way through its batches: some records committed, none acked."""
    harness = _harness(stack)
    harness.esm.function_timeout = 0.15  # type: ignore[attr-defined]
    ids = _start(harness, 20)
    for _ in range(40):
        harness.drain()
        harness.clock.advance(120)
        if not harness.sweep().due:
            break
    harness.esm.function_timeout = 0  # type: ignore[attr-defined]
    _sweep_until_drained(harness)
    return Row(harness, ids, provoked=lambda: harness.esm.timeouts > 0)  # type: ignore[attr-defined]


def six_large_outputs(stack: Settings) -> Row:
    """Six steps that each keep a 60 KB output: every one legal, together far over an item."""
    harness = _harness(stack)
    harness.services.definitions.create(T, load_text(SIX))
    ids = [harness.services.executions.start(T, "six", {"s": "x" * 60_000, "n": n})[0]["id"] for n in range(2)]
    _sweep_until_drained(harness)
    return Row(harness, ids)


def unbounded_map(stack: Settings) -> Row:
    """A map with no maxConcurrency: its children start in pages, within the function's time."""
    harness = _harness(stack)
    harness.services.definitions.create(T, load_text(UNBOUNDED))
    ids = [harness.services.executions.start(T, "unbounded", {"items": list(range(MAP_ITEMS))})[0]["id"]]
    _sweep_until_drained(harness)

    def expect(execution: dict[str, Any]) -> bool:
        return execution["state"] == "ExecutionSucceeded" and execution["output"] == list(range(MAP_ITEMS))

    return Row(harness, ids, expect)


def s3_map_purged(stack: Settings) -> Row:
    """A map over S3 (bench/workloads/s3map-small.yaml) whose queue is purged as it starts its
    children, and whose messages are lost again as they run: the sweeper restarts what was lost."""
    harness = _harness(stack)
    workload = load(WORKLOADS_DIR / "s3map-small.yaml")
    stage_s3(client("s3", harness.settings), workload)
    harness.services.definitions.create(T, workload.document)
    ids = [harness.services.executions.start(T, workload.definition_id, {})[0]["id"] for _ in range(2)]
    harness.drain(stop_after=2)  # the starts, then the item source indexed and the children created
    harness.sqs.purge_queue(QueueUrl=harness.queue_url)
    harness.clock.advance(400)
    resent = harness.sweep().resent
    harness.drain(stop_after=2)
    while lost := harness.receive():  # SQS loses what is in flight now (once a minute: no purge)
        harness.ack(lost)
    harness.clock.advance(400)
    resent += harness.sweep().resent
    _sweep_until_drained(harness)

    def expect(execution: dict[str, Any]) -> bool:
        output = {"total": 4, "succeeded": 4, "failed": 0}
        return execution["state"] == "ExecutionSucceeded" and execution["output"] == output

    return Row(harness, ids, expect, provoked=lambda: resent > 0)


ROWS: dict[str, Callable[[Settings], Row]] = {
    "six-60kb-outputs": six_large_outputs,
    "unbounded-map": unbounded_map,
    "throttled-burst": throttled_burst,
    "dead-letter": dead_letter,
    "purged-queue": purged_queue,
    "lambda-timeout-mid-batch": lambda_timeout_mid_batch,
    "s3-map-purged": s3_map_purged,
}


@pytest.mark.parametrize("name", list(ROWS))
def test_every_execution_ends_exactly_once(stack: Settings, name: str) -> None:
    row = ROWS[name](stack)
    assert row.provoked(), f"{name}: the fault did not happen"
    states: dict[str, int] = {}
    for execution_id in row.ids:
        execution = row.harness.services.executions.get(T, execution_id)
        states[execution["state"]] = states.get(execution["state"], 0) + 1
        assert execution["state"] in TERMINAL_STATES, f"{name}: {execution_id} still {execution['state']}"
        assert row.expect(execution), (name, execution)
        events = events_of(row.harness, T, execution_id)
        assert [e["id"] for e in events] == list(range(1, len(events) + 1)), (name, events)
        assert sum(e["type"] in TERMINAL_STATES for e in events) == 1, (name, events)  # not doubled
    print(f"liveness {name}: {len(row.ids)} executions, {states}")
