"""The claim check: large values of a head kept apart by content, the head within one item."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sedo import bootstrap
from sedo.adapters.clock import FakeClock
from sedo.adapters.memory import MemoryPayloadStore
from sedo.domain import engine, limits, payloads
from sedo.domain.definition import parse_definition
from sedo.domain.execution import FAILED, STEP_FAILED, SUCCEEDED, Execution
from sedo.domain.payloads import Claims, Ref
from sedo.service_layer.payloads import PayloadService

DEFINITION = parse_definition(
    {"id": "flow", "steps": [{"id": "a", "type": "transform", "expression": "input", "end": True}]}, 1
)


def new_head(input: Any) -> Execution:
    return engine.start_execution(
        tenant_id="t", definition=DEFINITION, input=input, key="k1", now=FakeClock().now(), nonce="n"
    )


def big(n: int = 10_000, fill: str = "x") -> dict[str, Any]:
    return {"blob": fill * n}


def test_values_over_the_threshold_are_kept_apart_and_the_input_is_stored_once() -> None:
    head = new_head(big())
    stored, new = payloads.dehydrate(head)
    text = payloads.encode(big())
    sha = hashlib.sha256(text.encode()).hexdigest()
    reference = {"sedo:ref": {"sha256": sha, "bytes": len(text)}}
    # input, stash.input and the submitted event's input: one value, one reference
    assert stored.input == reference and stored.stash["input"] == reference
    assert stored.pending_events[0]["input"] == reference
    assert new == {sha: text}
    assert payloads.stored_head_bytes(stored) < 2_000


def test_round_trip_gives_back_every_value() -> None:
    head = new_head(big())
    head.stash["small"] = {"n": 1}
    head.stash["large"] = [big(5000, "y")] * 3
    head.output = "z" * 8000
    stored, new = payloads.dehydrate(head)
    texts = {(head.key, sha): text for sha, text in new.items()}
    hydrated = payloads.hydrate(stored, texts, Claims())
    assert hydrated.input == head.input and hydrated.stash == head.stash and hydrated.output == head.output
    assert stored.stash["small"] == {"n": 1}  # small values stay in the head
    events = payloads.hydrate_events(head.key, stored.pending_events, texts)
    assert events == head.pending_events


def test_the_threshold_is_the_compact_json_size() -> None:
    at = "x" * (limits.CLAIM_THRESHOLD_BYTES - 2)  # two quotes: exactly the threshold
    over = at + "x"
    assert len(payloads.encode(at)) == limits.CLAIM_THRESHOLD_BYTES
    assert not payloads.stored_apart(at)
    assert payloads.stored_apart(over)
    escaped = "é" * (limits.CLAIM_THRESHOLD_BYTES // 6 + 1)  # \\u00e9: six bytes each as stored
    assert payloads.stored_apart(escaped)
    assert not payloads.stored_apart(12345) and not payloads.stored_apart(None)


def test_content_addressing_same_value_same_key_other_value_other_key() -> None:
    first, new_first = payloads.dehydrate(new_head(big()))
    again, new_again = payloads.dehydrate(new_head(json.loads(json.dumps(big()))))  # equal, not identical
    other, new_other = payloads.dehydrate(new_head(big(fill="w")))
    assert first.input == again.input and new_first == new_again
    assert other.input != first.input and set(new_other).isdisjoint(new_first)
    (sha,) = new_first
    assert sha == payloads.digest(new_first[sha]) and payloads.as_ref(first.input) == Ref(sha, len(new_first[sha]))


def test_a_value_shaped_like_a_reference_is_kept_apart_and_comes_back_as_it_was() -> None:
    lookalike = {"sedo:ref": {"sha256": "0" * 64, "bytes": 3}}
    head = new_head(lookalike)
    stored, new = payloads.dehydrate(head)
    assert payloads.as_ref(stored.input) != payloads.as_ref(lookalike)
    texts = {(head.key, sha): text for sha, text in new.items()}
    assert payloads.hydrate(stored, texts, Claims()).input == lookalike


def test_unchanged_values_keep_their_reference_without_a_write() -> None:
    service = PayloadService(MemoryPayloadStore())
    stored = service.dehydrate(new_head(big()))
    store: Any = service.store
    assert store.writes == 1
    hydrated, claims = service.hydrate(stored)
    assert hydrated.input == big()
    hydrated.stash["copy"] = hydrated.stash["input"]  # the same object under another key
    hydrated.stash["new"] = big(fill="n")
    again = service.dehydrate(hydrated, claims)
    assert again.stash["copy"] == again.input == stored.input
    assert store.writes == 2  # only the new value


def test_a_head_without_references_is_not_read() -> None:
    class Refusing(MemoryPayloadStore):
        def get(self, tenant_id: str, wanted: Any) -> Any:
            raise AssertionError("a small head must cost no read")

    service = PayloadService(Refusing())
    head = new_head({"small": True})
    hydrated, _ = service.hydrate(service.dehydrate(head))
    assert hydrated.input == {"small": True}


# --- through the processor, in memory --------------------------------------------------


def run(document: dict[str, Any], input: Any) -> tuple[Any, dict[str, Any], list[int]]:
    """Run an execution to its end; the API's view of it and the size of every stored head."""
    clock = FakeClock()
    adapters = bootstrap.memory_adapters(clock)
    sizes: list[int] = []
    executions: Any = adapters.executions
    commit = executions.commit

    def measured(head: Execution, expected: int, *, listing: bool = True) -> bool:
        sizes.append(payloads.stored_head_bytes(head))
        return bool(commit(head, expected, listing=listing))

    executions.commit = measured
    api = bootstrap.api_services(adapters)
    api.definitions.create("t", document)
    execution_id = api.executions.start("t", document["id"], input)[0]["id"]
    processor = bootstrap.processor(adapters)
    queue: Any = adapters.queue
    for _ in range(1000):
        messages = queue.drain()
        if not messages:
            break
        for message in messages:
            processor.process(message, 1)
    return api, api.executions.get("t", execution_id), sizes


def test_six_steps_of_60_kb_each_succeed_and_every_head_stays_small() -> None:
    steps = [
        {"id": f"s{i}", "type": "transform", "expression": f"join('', [input.s, '{i}'])", "resultPath": f"r{i}"}
        for i in range(6)
    ]
    steps[-1]["end"] = True
    for i in range(5):
        steps[i]["next"] = f"s{i + 1}"
    api, described, sizes = run({"id": "six", "steps": steps}, {"s": "x" * 60_000})
    assert described["state"] == SUCCEEDED
    assert described["output"] == "x" * 60_000 + "5" and described["input"] == {"s": "x" * 60_000}
    assert max(sizes) < 10 * 1024
    events = api.executions.history("t", described["id"], 1000, None).items
    assert [e["output"] for e in events if e["type"] == "StepSucceeded"] == ["x" * 60_000 + str(i) for i in range(6)]


def many_keys(count: int, caught: bool) -> dict[str, Any]:
    steps: list[dict[str, Any]] = []
    for i in range(count):
        step: dict[str, Any] = {"id": f"s{i}", "type": "transform", "expression": "input.s", "resultPath": f"k{i}"}
        step["next"] = f"s{i + 1}" if i + 1 < count else "done"
        if caught:
            step["catch"] = [{"errors": ["States.PayloadTooLarge"], "next": "handled", "resultPath": "k0"}]
        steps.append(step)
    steps.append({"id": "done", "type": "succeed"})
    if caught:
        steps.append({"id": "handled", "type": "transform", "expression": "k0", "end": True})
    return {"id": "many", "steps": steps}


@pytest.mark.parametrize("caught", [True, False])
def test_a_head_too_large_even_with_references_fails_its_step_catchably(caught: bool) -> None:
    value = "v" * (limits.CLAIM_THRESHOLD_BYTES - 100)  # kept in the head: just under the threshold
    api, described, sizes = run(many_keys(100, caught), {"s": value})
    assert max(sizes) <= limits.MAX_HEAD_BYTES  # never a commit DynamoDB would refuse
    events = api.executions.history("t", described["id"], 10_000, None).items
    failed = [e for e in events if e["type"] == STEP_FAILED]
    assert failed and failed[0]["error"] == "States.PayloadTooLarge"
    assert "k" in failed[0]["cause"] and "KiB" in failed[0]["cause"]
    if caught:
        assert described["state"] == SUCCEEDED
        assert described["output"] == {"error": "States.PayloadTooLarge", "cause": failed[0]["cause"]}
    else:
        assert (described["state"], described["error"]) == (FAILED, "States.PayloadTooLarge")


def test_a_segment_with_many_events_goes_on_in_a_continue_instead_of_growing() -> None:
    steps = [{"id": f"s{i}", "type": "transform", "expression": "input.s", "next": f"s{i + 1}"} for i in range(40)]
    steps.append({"id": "s40", "type": "succeed"})
    value = "e" * (limits.CLAIM_THRESHOLD_BYTES - 100)  # each event's output stays in the head
    _, described, sizes = run({"id": "events", "steps": steps}, {"s": value})
    assert described["state"] == SUCCEEDED
    bound = limits.MAX_SEGMENT_EVENTS_BYTES + limits.MAX_STEP_SLACK_BYTES + 20 * 1024
    assert max(sizes) < bound
    assert len(sizes) >= 3  # it went on in continue wake-ups: one segment would be one commit


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(_json_values)
def test_measure_is_the_compact_json_size(value: Any) -> None:
    """limits.measure walks a value without serialising it: its size is json.dumps's, compact,
    whatever the strings (escapes, non-ASCII, control characters) and numbers (NaN, huge ints)."""
    assert limits.measure(value, 10**9, max_depth=100) == len(json.dumps(value, separators=(",", ":")))
