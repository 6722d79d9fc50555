"""References to a value where it is in a map's item source (issue 14): a child of a map over
S3 keeps its input as a reference to its byte range, read again and checked by digest."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sedo.adapters.clock import FakeClock
from sedo.adapters.memory import MemoryPayloadStore
from sedo.adapters.s3items import MemoryObjects
from sedo.domain import engine, payloads
from sedo.domain.definition import parse_definition
from sedo.domain.execution import Execution
from sedo.domain.payloads import Claims, Ref, Source
from sedo.service_layer.payloads import PayloadService, SourceChanged

DEFINITION = parse_definition(
    {"id": "flow", "steps": [{"id": "a", "type": "transform", "expression": "input", "end": True}]}, 1
)
ITEMS = [{"id": i, "amount": i % 97} for i in range(1, 31)]
LINES = b"".join(json.dumps(item).encode() + b"\n" for item in ITEMS)
BATCH = {"items": ITEMS}


def child_head(input: Any) -> Execution:
    return engine.start_execution(
        tenant_id="t", definition=DEFINITION, input=input, key="p.1.0", now=FakeClock().now(), parent_key="p", index=0
    )


def source(etag: str = '"e"', header: tuple[str, ...] | None = None) -> Source:
    return Source("items", "in.jsonl", etag, "jsonl", header, True, 0, len(LINES), 1, len(ITEMS))


def ref_to(value: Any, where: Source) -> Ref:
    text = payloads.encode(value)
    return Ref(payloads.digest(text), len(text), source=where)


def test_a_source_reference_round_trips_through_its_stored_form() -> None:
    for where in (source(), source(header=("a", "b,c"))):
        ref = ref_to(BATCH, where)
        stored = payloads.decode(payloads.encode(ref.to_value()))
        assert payloads.as_ref(stored) == ref
        assert stored["sedo:ref"]["source"]["range"] == [0, len(LINES), 1, len(ITEMS)]
    assert payloads.as_ref(Ref("a" * 64, 5).to_value()) == Ref("a" * 64, 5)  # no source: as before


@pytest.mark.parametrize(
    "body",
    [
        {"bucket": "b", "key": "k", "etag": "e", "format": "jsonl", "range": [0, 1, 1]},  # three numbers
        {"bucket": "b", "key": "k", "etag": "e", "format": "jsonl", "range": [0, -1, 1, 1]},
        {"bucket": "b", "key": "k", "etag": "e", "format": "jsonl", "range": [0, True, 1, 1]},
        {"bucket": 1, "key": "k", "etag": "e", "format": "jsonl", "range": [0, 1, 1, 1]},
        {"bucket": "b", "key": "k", "etag": "e", "format": "jsonl", "header": "a,b", "range": [0, 1, 1, 1]},
        "s3://b/k",
    ],
)
def test_a_user_value_shaped_like_a_source_reference_stays_a_value(body: Any) -> None:
    value = {"sedo:ref": {"sha256": "0" * 64, "bytes": 3, "source": body}}
    assert payloads.as_ref(value) is None
    stored, new = payloads.dehydrate(child_head(value))
    assert stored.input != value and list(new.values()) == [payloads.encode(value)]  # kept apart, as it was
    texts = {(stored.key, sha): text for sha, text in new.items()}
    assert payloads.hydrate(stored, texts, Claims()).input == value


def test_a_well_formed_user_source_reference_comes_back_as_the_users_value() -> None:
    value = ref_to(BATCH, source()).to_value()  # a value of the user that is exactly such a reference
    stored, new = payloads.dehydrate(child_head(value))
    assert payloads.as_ref(stored.input) == Ref(payloads.digest(payloads.encode(value)), len(payloads.encode(value)))
    texts = {(stored.key, sha): text for sha, text in new.items()}
    assert payloads.hydrate(stored, texts, Claims()).input == value


def test_dehydrate_references_a_claimed_input_at_its_source_whatever_its_size_and_writes_nothing() -> None:
    head = child_head(BATCH)  # far below the claim threshold
    stored, new = payloads.dehydrate(head, Claims.at_source(BATCH, source(), head.key))
    reference = ref_to(BATCH, source()).to_value()
    assert stored.input == stored.stash["input"] == stored.pending_events[0]["input"] == reference
    assert stored.stash["index"] == 0 and new == {}
    # read again (as the service would), run, stored again: the reference stays, nothing is written
    claims = Claims()
    hydrated = payloads.hydrate(
        stored, {(head.key, payloads.digest(payloads.encode(BATCH))): json.dumps(BATCH)}, claims
    )
    assert hydrated.input == BATCH and hydrated.stash["input"] is hydrated.input
    again, written = payloads.dehydrate(hydrated, claims)
    assert again.input == again.stash["input"] == reference and written == {}


def test_a_large_value_equal_to_one_read_from_a_source_is_referenced_there_not_stored() -> None:
    batch = {"items": [{"text": "x" * 100, "n": i} for i in range(60)]}  # over the 4 KiB threshold
    head = child_head(batch)
    claims = Claims.at_source(batch, source(), head.key)
    head.output = json.loads(json.dumps(batch))  # equal, another object
    stored, new = payloads.dehydrate(head, claims)
    assert stored.output == ref_to(batch, source()).to_value() and new == {}


def service(body: bytes = LINES) -> tuple[PayloadService, MemoryObjects, Source]:
    objects = MemoryObjects()
    objects.buckets.add("items")
    objects.put("items", "in.jsonl", body, "application/x-ndjson")
    _, etag = objects.head("items", "in.jsonl")
    return PayloadService(MemoryPayloadStore(), objects), objects, source(etag)


def test_the_service_reads_a_source_reference_from_its_range_and_checks_it() -> None:
    payload_service, _, where = service()
    stored = payload_service.dehydrate(child_head(BATCH), Claims.at_source(BATCH, where, "p.1.0"))
    hydrated, _ = payload_service.hydrate(stored)
    assert hydrated.input == hydrated.stash["input"] == BATCH
    events = payload_service.resolve_events("t", stored.key, stored.pending_events)
    assert events[0]["input"] == BATCH
    assert payload_service.resolve("t", stored.key, stored.input) == BATCH


def test_a_source_replaced_or_other_bytes_under_the_same_range_are_a_clear_error() -> None:
    payload_service, objects, where = service()
    stored = payload_service.dehydrate(child_head(BATCH), Claims.at_source(BATCH, where, "p.1.0"))
    objects.put("items", "in.jsonl", LINES.replace(b"2", b"7"), "application/x-ndjson")  # a new ETag
    with pytest.raises(SourceChanged, match=r"s3://items/in\.jsonl: the object changed"):
        payload_service.hydrate(stored)
    wrong = Ref("f" * 64, len(payloads.encode(BATCH)), source=where)  # the ETag holds, the digest does not
    payload_service, _, where = service()
    with pytest.raises(SourceChanged, match=r"s3://items/in\.jsonl bytes 0-\d+: the items changed since the map"):
        payload_service.resolve("t", "p.1.0", Ref(wrong.sha256, wrong.bytes, source=where).to_value())
    with pytest.raises(SourceChanged, match="no S3 access"):
        PayloadService(MemoryPayloadStore()).resolve("t", "p.1.0", wrong.to_value())


def test_a_source_reference_costs_the_head_what_it_weighs() -> None:
    header = tuple(f"column{i}" for i in range(500))  # a wide CSV header travels in the reference
    value = ref_to(BATCH, source(header=header)).to_value()
    assert payloads.position_cost(value) == len(payloads.encode(value)) > 5000
    assert payloads.position_cost(Ref("a" * 64, 10).to_value()) == payloads.REF_BYTES


@pytest.mark.parametrize("item", [0, None, True, "a line"])
def test_an_input_that_is_no_object_or_array_stays_inline(item: Any) -> None:
    head = child_head(item)  # stash.index is 0: an identical object must not become a reference
    stored, new = payloads.dehydrate(head, Claims.at_source(item, source(), head.key))
    assert stored.input == stored.stash["input"] == item and stored.stash["index"] == 0 and new == {}


def test_a_small_object_is_referenced_at_its_source_too() -> None:
    head = child_head({"n": 1})
    stored, new = payloads.dehydrate(head, Claims.at_source(head.input, source(), head.key))
    assert payloads.as_ref(stored.input) == ref_to({"n": 1}, source()) and new == {}
