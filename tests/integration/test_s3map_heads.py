"""The head of a map-over-S3 child (issue 14, "the head small"): its input is referenced where it
is in the item source, so the head as stored in the emulator's DynamoDB stays under 1 KB (one
write unit to create it, one to commit it) while its batch alone is larger; the results, the
manifest and the child's input and history as the API shows them are the real values, and an
object changed under the map fails the step naming it instead of running on other data."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sedo.adapters.aws import client
from sedo.adapters.dynamodb import all_items, layout
from sedo.adapters.dynamodb.executions import head_item
from sedo.adapters.dynamodb.headdoc import head_of
from sedo.adapters.dynamodb.units import item_size
from sedo.domain import payloads
from sedo.domain.language import load_text
from tests.integration.test_s3map import bucket, written
from tests.support import Harness, events_of

pytestmark = pytest.mark.integration
T = "s3heads"
BATCH = 100
LINES = 300  # three children, as the bench's: {"id": i, "amount": i % 97}, ids near 100,000
FIRST_ID = 99_000

MAP = """
id: totals
steps:
  - id: total-all
    type: map
    itemReader: {{bucket: {source}, key: orders.jsonl, format: jsonl}}
    itemBatcher: {{maxItems: {batch}}}
    maxConcurrency: {concurrency}
    resultWriter: {{bucket: {results}, prefix: totals}}
    iterator:
      steps:
        - id: total
          type: transform
          expression: "{{orders: length(input.items), amount: sum(input.items[*].amount)}}"
          end: true
    end: true
"""


def orders(first: int = FIRST_ID) -> list[dict[str, int]]:
    return [{"id": i, "amount": i % 97} for i in range(first, first + LINES)]


def jsonl(items: list[dict[str, int]]) -> bytes:
    return b"".join(json.dumps(item).encode() + b"\n" for item in items)


@pytest.fixture
def harness(stack: Any) -> Harness:
    return Harness(stack)


@pytest.fixture
def s3(harness: Harness) -> Any:
    return client("s3", harness.settings)


def start(harness: Harness, s3: Any, concurrency: int = 10) -> tuple[str, str, str]:
    source, results = bucket(s3), bucket(s3)
    s3.put_object(Bucket=source, Key="orders.jsonl", Body=jsonl(orders()))
    text = MAP.format(source=source, results=results, batch=BATCH, concurrency=concurrency)
    harness.services.definitions.create(T, load_text(text))
    return harness.services.executions.start(T, "totals", {})[0]["id"], source, results


def child_items(harness: Harness) -> list[dict[str, Any]]:
    dynamodb = client("dynamodb", harness.settings)
    heads = [
        item
        for item in all_items(dynamodb.scan, TableName=harness.settings.executions_table)
        if item["sk"]["S"] == layout.HEAD_SK and item["pk"]["S"].startswith(f"{T}#")
    ]
    return sorted((i for i in heads if head_of(i).parent_key is not None), key=lambda i: head_of(i).index or 0)


def test_child_heads_stay_under_one_kb_and_the_results_are_the_real_ones_under_redelivery(
    harness: Harness, s3: Any
) -> None:
    execution_id, _, results = start(harness, s3)
    created: list[int] = []
    put_children = harness.adapters.iterations.put_children  # type: ignore[union-attr]

    def measured(heads: list[Any]) -> Any:  # the heads as the fan-out creates them
        created.extend(item_size(head_item(h)) for h in heads)
        return put_children(heads)

    harness.adapters.iterations.put_children = measured  # type: ignore[union-attr,method-assign]

    def deliver_twice(h: Harness, messages: list[dict[str, Any]]) -> None:  # at least once: every copy twice
        h.invoke(messages)
        h.invoke(messages)
        h.ack(messages)

    harness.drain(deliver_twice)
    execution = harness.services.executions.get(T, execution_id)
    assert execution["state"] == "ExecutionSucceeded", execution
    batches = [orders()[i : i + BATCH] for i in range(0, LINES, BATCH)]
    expected = [{"orders": BATCH, "amount": sum(o["amount"] for o in b)} for b in batches]
    manifest = execution["output"]
    assert (manifest["total"], manifest["succeeded"], manifest["failed"]) == (3, 3, 0)
    lines = written(s3, results, manifest)
    assert [(line["index"], line["status"], line["output"]) for line in lines] == [
        (i, "succeeded", e) for i, e in enumerate(expected)
    ]

    children = child_items(harness)
    assert len(children) == 3 and len(created) == 3
    for item, batch in zip(children, batches, strict=True):
        assert len(payloads.encode({"items": batch})) > 1024  # inline, the input alone would not fit 1 KB
        assert len(item["doc"]["B"]) < 1024 and item_size(item) < 1024  # one write unit
        head = head_of(item)
        assert payloads.as_ref(head.input) is not None and payloads.as_ref(head.input).source is not None  # type: ignore[union-attr]
        shown = harness.services.executions.get(T, head.id)
        assert shown["input"] == {"items": batch} and shown["output"] == expected[head.index or 0]
        history = events_of(harness, T, head.id)
        assert history[0]["type"] == "ExecutionSubmitted" and history[0]["input"] == {"items": batch}
    assert max(created) < 1024  # created: one write unit too


def test_an_object_changed_under_the_map_fails_the_step_naming_it(harness: Harness, s3: Any) -> None:
    execution_id, source, _ = start(harness, s3, concurrency=1)
    replaced = False

    def replacing(h: Harness, messages: list[dict[str, Any]]) -> None:
        nonlocal replaced
        starts = [b for b in h.bodies(messages) if b.get("kind") == "start" and str(b.get("key", "")).endswith(".0")]
        if starts and not replaced:  # the first child is created, not run yet: the object changes
            s3.put_object(Bucket=source, Key="orders.jsonl", Body=jsonl(orders(first=FIRST_ID + 1)))
            replaced = True
        result = h.invoke(messages)
        failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        h.ack([m for m in messages if m["MessageId"] not in failed])

    harness.drain(replacing)
    assert replaced
    execution = harness.services.executions.get(T, execution_id)
    assert (execution["state"], execution["error"]) == ("ExecutionFailed", "States.ItemReaderFailed"), execution
    assert f"s3://{source}/orders.jsonl" in execution["cause"]
    children = [head_of(i) for i in child_items(harness)]
    assert [(c.index, c.state, c.error) for c in children] == [(0, "ExecutionFailed", "States.ItemReaderFailed")]
