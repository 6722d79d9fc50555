"""How a head is stored: compact, compressed when that is smaller, and old heads still load."""

from __future__ import annotations

import json

from sedo.adapters.dynamodb.executions import head_item
from sedo.adapters.dynamodb.headdoc import doc_value, document_of, head_of
from sedo.domain.execution import Execution, new_execution_key
from sedo.domain.protocol import StartAwait, TimerAwait
from sedo.entrypoints.local.capacity import item_size


def _head(**changes: object) -> Execution:
    head = Execution(
        tenant_id="acme",
        key=new_execution_key(1_800_000_000_000),
        definition_id="orders",
        definition_version=3,
        input={"order": {"id": "o-1", "total": 1200}},
        created_at="2027-01-15T08:00:00.000Z",
        stash={"input": {"order": {"id": "o-1", "total": 1200}}},
        awaiting=StartAwait(),
        nonce="0" * 32,
    )
    for name, value in changes.items():
        setattr(head, name, value)
    return head


def test_a_head_round_trips_through_its_item() -> None:
    head = _head(
        seq=4,
        state="StepStarted",
        step="cool-off",
        awaiting=TimerAwait(step="cool-off", due="2027-01-15T08:00:03.000Z"),
        pending_events=[{"id": 5, "type": "StepStarted", "timestamp": "2027-01-15T08:00:00.000Z", "seq": 4}],
        outbox=[{"tenantId": "acme", "key": "k", "seq": 4, "kind": "timer", "mid": "4.0", "delay": 3}],
        due_at=1_800_000_180,
        due_from=1_800_000_000.5,
    )
    item = head_item(head)
    assert "B" in item["doc"]  # compressed: smaller than its JSON
    assert head_of(item) == head


def test_the_stored_document_leaves_out_what_is_at_its_default_and_loads_it_back() -> None:
    head = _head()
    document = head.compact_document()
    for absent in ("error", "cause", "output", "parent_key", "scope", "timers", "ended_at", "seq", "attempt"):
        assert absent not in document
    for kept in ("tenant_id", "key", "definition_id", "definition_version", "input", "created_at", "awaiting"):
        assert kept in document
    assert Execution.from_document(document) == head
    assert Execution.from_document(head.to_document()) == head


def test_compression_keeps_the_readme_example_head_within_one_write_unit() -> None:
    head = _head(
        seq=1,
        state="StepStarted",
        pending_events=[
            {"id": i, "type": "StepSucceeded", "timestamp": "2027-01-15T08:00:00.000Z", "stepId": "echo", "seq": 1}
            for i in range(2, 7)
        ],
    )
    plain = len(json.dumps(head.to_document(), separators=(",", ":")))
    assert plain > 1024
    assert item_size(head_item(head)) < 1024


def test_a_head_written_before_compression_still_loads() -> None:
    head = _head()
    old = {"doc": {"S": json.dumps(head.to_document())}}
    assert head_of(old) == head


def test_an_incompressible_document_is_kept_as_text() -> None:
    document = {"x": ""}
    value = doc_value(document)
    assert value == {"S": '{"x":""}'}
    assert document_of({"doc": value}) == document
