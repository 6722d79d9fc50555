"""Maps in ``mode: inline`` through the real processor and emulator (docs/DESIGN.md, *Inline
iterations*): the same outputs as child executions give, far fewer AWS requests, no
execution for an iteration that needs no waiting, one for each that waits (listed by the
API), and exactly-once counts through duplicated deliveries and crashes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from sedo.domain.execution import split_execution_id
from sedo.domain.language import load_text
from sedo.service_layer import inline
from tests.integration.test_fanout import Counting, CrashingClient, squares
from tests.support import Harness, events_of

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ROOT / "definitions" / "functions" / "local.yaml"
T = "inline"

#: Items of 100 and more wait a second before they are doubled: those become children.
WAITING = """
id: some-wait
steps:
  - id: each
    type: map
    items: "input.xs"
    mode: inline
    maxConcurrency: 3
    iterator:
      steps:
        - id: which
          type: choice
          choices:
            - {when: "input >= `100`", next: later}
          default: double
        - {id: later, type: wait, seconds: 1, next: double}
        - {id: double, type: transform, expression: "sum([input, input])", end: true}
    end: true
"""


@pytest.fixture
def harness(stack: Any, monkeypatch: pytest.MonkeyPatch) -> Harness:
    # Only the count bounds a wake-up's inline iterations here, so what runs inline does not
    # depend on how fast the emulator answers on a busy machine.
    monkeypatch.setattr(inline, "INLINE_SECONDS", 600.0)
    return Harness(replace(stack, local_functions=FUNCTIONS))


def define(harness: Harness, text: str) -> None:
    harness.services.definitions.create(T, load_text(text))


def inline_squares(concurrency: int) -> str:
    return (
        squares(concurrency)
        .replace("id: squares", "id: inline-squares")
        .replace("    items:", "    mode: inline\n    items:", 1)
    )


def children_of(harness: Harness, execution_id: str) -> list[Any]:
    _, _, key = split_execution_id(execution_id)
    started = [e for e in events_of(harness, T, execution_id) if e["type"] == "StepStarted" and e["stepId"] == "each"]
    store = harness.adapters.iterations
    assert store is not None
    children, _ = store.children(T, key, started[0]["id"], 0, 10_000)
    return children


def test_inline_iterations_give_the_same_output_for_a_fraction_of_the_requests(harness: Harness) -> None:
    define(harness, squares(concurrency=10))
    define(harness, inline_squares(concurrency=10))
    adapters = harness.adapters
    counter = Counting(adapters.executions.client, adapters.queue.client, harness.sqs)  # type: ignore[attr-defined]
    numbers = list(range(300))
    requests = {}
    for definition in ("squares", "inline-squares"):
        before = counter.count
        execution_id = harness.services.executions.start(T, definition, {"numbers": numbers})[0]["id"]
        harness.drain()
        execution = harness.services.executions.get(T, execution_id)
        assert execution["state"] == "ExecutionSucceeded", execution
        assert execution["output"] == numbers
        requests[definition] = counter.count - before
    print("AWS requests per item:", {k: v / len(numbers) for k, v in requests.items()})
    # None needed an execution; a wake-up runs INLINE_ITERATIONS inline, so the fan-out page
    # (10 lanes of 30) hands at most each lane's next one to a child, which runs the rest.
    assert len(children_of(harness, execution_id)) <= 10
    assert requests["inline-squares"] * 2 < requests["squares"]


def test_iterations_that_wait_are_children_the_api_lists(harness: Harness) -> None:
    define(harness, WAITING)
    xs = [i + 100 * (i % 4 == 1) for i in range(12)]
    execution_id = harness.services.executions.start(T, "some-wait", {"xs": xs})[0]["id"]
    harness.drain()
    execution = harness.services.executions.get(T, execution_id)
    assert execution["state"] == "ExecutionSucceeded", execution
    assert execution["output"] == [2 * x for x in xs]
    children = children_of(harness, execution_id)
    assert [c.index for c in children] == [1, 5, 9]
    for child in children:
        events = [e["type"] for e in harness.services.executions.history(T, child.id, 100, None).items]
        assert events[0] == "ExecutionSubmitted" and events.count("ExecutionSubmitted") == 1
        assert events.count("StepStarted") == 3 and events[-1] == "ExecutionSucceeded"
    listed = harness.services.executions.iterations(T, execution_id, 100, None)
    assert [item["iteration"]["index"] for item in listed.items] == [1, 5, 9]


def test_every_message_delivered_twice_still_counts_each_iteration_once(harness: Harness) -> None:
    define(harness, WAITING)
    xs = [i + 100 * (i % 5 == 0) for i in range(20)]
    ids = [harness.services.executions.start(T, "some-wait", {"xs": xs})[0]["id"] for _ in range(2)]

    def twice(h: Harness, messages: list[dict[str, Any]]) -> None:
        h.invoke(messages)
        h.invoke(messages)
        h.ack(messages)

    harness.drain(twice)
    for execution_id in ids:
        execution = harness.services.executions.get(T, execution_id)
        assert execution["output"] == [2 * x for x in xs]
        events = events_of(harness, T, execution_id)
        assert [e["id"] for e in events] == list(range(1, len(events) + 1))
        assert [e["type"] for e in events].count("ExecutionSucceeded") == 1


@pytest.mark.parametrize("at", [2, 5, 11])
@pytest.mark.parametrize("landed", [False, True])
def test_a_crash_at_any_write_of_an_inline_chain_is_finished_by_the_redelivery(
    harness: Harness, at: int, landed: bool
) -> None:
    """The processor's DynamoDB client crashes once, on its ``at``-th write, before or after
    it lands; SQS delivers the message again."""
    from sedo.adapters.dynamodb import DynamoIterationStore

    define(harness, inline_squares(concurrency=2))
    numbers = list(range(15))
    execution_id = harness.services.executions.start(T, "inline-squares", {"numbers": numbers})[0]["id"]
    store = harness.adapters.iterations
    assert isinstance(store, DynamoIterationStore)
    crashing = CrashingClient(store.client, at, landed)
    store.client = crashing
    try:
        harness.drain()
    finally:
        store.client = crashing.client
    harness.drain()
    execution = harness.services.executions.get(T, execution_id)
    assert execution["state"] == "ExecutionSucceeded", execution
    assert execution["output"] == numbers
    _, _, key = split_execution_id(execution_id)
    instance = children_instance(harness, execution_id)
    counter = store.counter(T, key, instance)
    assert counter is not None and (counter.done, counter.succeeded) == (15, 15)


def children_instance(harness: Harness, execution_id: str) -> int:
    started = [e for e in events_of(harness, T, execution_id) if e["type"] == "StepStarted" and e["stepId"] == "each"]
    return int(started[0]["id"])


def test_a_page_of_results_counts_once_with_a_write_per_bucket_through_crashes(harness: Harness) -> None:
    """record_many (a page's inline results): crash it at a random write, before or after the
    write lands, then deliver the page again (the same results, found or not): every count exact."""
    import json
    import random

    from sedo.adapters.dynamodb import DynamoIterationStore
    from sedo.service_layer.ports import IterationCounter

    store = harness.adapters.iterations
    assert isinstance(store, DynamoIterationStore)
    total, parent, instance = 300, "parent-pages", 4
    rng = random.Random(99)
    failing = set(rng.sample(range(total), 20))
    store.create(T, parent, instance, IterationCounter(total=total, concurrency=total, tolerated=total), [0] * total)

    def result(index: int) -> dict[str, Any]:
        if index in failing:
            return {"index": index, "succeeded": False, "error": "Boom", "cause": f"item {index}"}
        return {"index": index, "succeeded": True, "output": {"n": index}}

    latest = None
    for start in range(0, total, 100):  # three pages of 100
        page = [result(i) for i in range(start, start + 100)]
        crashing = DynamoIterationStore(
            CrashingClient(store.client, rng.randint(1, 60), rng.random() < 0.5), store.table
        )
        try:
            crashing.record_many(T, parent, instance, page, total)
        except Exception as exc:
            assert "write" in str(exc)
        latest = store.record_many(T, parent, instance, page, total) or latest  # the redelivered page
        store.record_many(T, parent, instance, page[:30], total)  # and a stray duplicate of part of it
    counter = store.counter(T, parent, instance)
    assert counter is not None and latest is not None and latest.done == total
    documents = [json.dumps(result(i), separators=(",", ":")) for i in range(total)]
    assert (counter.done, counter.succeeded, counter.failed) == (total, total - len(failing), len(failing))
    assert counter.bytes == sum(len(d) for d in documents)
    assert store.results(T, parent, instance) == [result(i) for i in range(total)]
    failed = store.results(T, parent, instance, failed_only=True)
    assert [r["index"] for r in failed] == sorted(failing)
