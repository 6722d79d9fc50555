"""The claim check on the emulator: large values live apart from the head, in items or S3.

DynamoDB (moto enforces its 400 KB item) holds the head and values up to 300 KiB; the
payload bucket the rest. Every value shows resolved through the API, and a redelivered
wake-up stores nothing twice and forks nothing.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from sedo.adapters.aws import client
from sedo.adapters.dynamodb import execution_key
from sedo.adapters.dynamodb.headdoc import document_of
from sedo.config import Settings
from sedo.domain import limits
from sedo.domain.language import load_text
from tests.support import Harness, api_client, events_of, serve_api

pytestmark = pytest.mark.integration

T = "claims"

SIX = """
id: six
steps:
""" + "".join(
    f"""  - id: s{i}
    type: transform
    expression: "join('', [input.s, '{i}'])"
    resultPath: r{i}
    {"next: s" + str(i + 1) if i < 5 else "end: true"}
"""
    for i in range(6)
)

CALLBACK = """
id: ask
steps:
  - {id: ask, type: callback, resultPath: answer, next: done}
  - {id: done, type: transform, expression: "{size: length(answer.blob), input: length(input.blob)}", end: true}
"""


def payload_items(settings: Settings, tenant: str) -> list[dict[str, Any]]:
    """Values kept apart in the executions table: ``pk=<tenant>#<key>#v``."""
    dynamodb = client("dynamodb", settings)
    items = []
    for page in dynamodb.get_paginator("scan").paginate(
        TableName=settings.executions_table,
        ConsistentRead=True,
        FilterExpression="begins_with(pk, :p)",
        ExpressionAttributeValues={":p": {"S": tenant + "#"}},
    ):
        items.extend(i for i in page["Items"] if i["pk"]["S"].endswith("#v"))
    return items


def payload_objects(settings: Settings, tenant: str) -> list[str]:
    s3 = client("s3", settings)
    listed = s3.list_objects_v2(Bucket=settings.payload_bucket, Prefix=tenant + "/")
    return sorted(o["Key"] for o in listed.get("Contents", []))


def head_item(settings: Settings, tenant: str, key: str) -> dict[str, Any]:
    dynamodb = client("dynamodb", settings)
    item = dynamodb.get_item(TableName=settings.executions_table, Key=execution_key(tenant, key), ConsistentRead=True)[
        "Item"
    ]
    return dict(item)


def test_six_steps_of_60_kb_each_succeed_with_a_small_head(stack: Settings) -> None:
    harness = Harness(stack)
    harness.services.definitions.create(T, load_text(SIX))
    execution_id = harness.services.executions.start(T, "six", {"s": "x" * 60_000})[0]["id"]
    harness.drain()
    described = harness.services.executions.get(T, execution_id)
    assert described["state"] == "ExecutionSucceeded", described.get("cause")
    assert described["output"] == "x" * 60_000 + "5"
    assert described["input"] == {"s": "x" * 60_000}
    key = execution_id.split(":")[2]
    assert len(json.dumps(document_of(head_item(stack, T, key)))) < 10 * 1024
    # the input once, six outputs: seven values, all items (none over 300 KiB)
    assert len(payload_items(stack, T)) == 7 and payload_objects(stack, T) == []
    outputs = [e["output"] for e in events_of(harness, T, execution_id) if e["type"] == "StepSucceeded"]
    assert outputs == ["x" * 60_000 + str(i) for i in range(6)]


def test_a_1_mb_input_and_a_400_kb_callback_output_end_to_end_through_the_api(stack: Settings) -> None:
    harness = Harness(stack)
    big_input = {"blob": "i" * 1_000_000}
    output = {"blob": "o" * 400_000}
    with serve_api(stack) as base_url, api_client(base_url, tenant=T, role="author") as http:
        created = http.post(f"/sedo/tenants/{T}/definitions", json=load_text(CALLBACK))
        assert created.status_code == 201, created.text
        started = http.post(f"/sedo/tenants/{T}/definitions/ask/execute", json={"input": big_input})
        assert started.status_code in (200, 201, 202), started.text
        execution_id = started.json()["id"]
        harness.drain(stop_after=1)
        path = f"/sedo/tenants/{T}/executions/{execution_id}"
        waiting = http.get(path).json()
        assert waiting["input"] == big_input and waiting["state"] == "StepStarted"
        token = waiting["awaiting"]["taskToken"]
        completed = http.post(f"{path}/steps/ask/complete", json={"taskToken": token, "output": output})
        assert completed.status_code in (200, 202), completed.text
        harness.drain()
        described = http.get(path).json()
        assert described["state"] == "ExecutionSucceeded", described
        assert described["output"] == {"size": 400_000, "input": 1_000_000}
        assert described["input"] == big_input
        history = http.get(f"{path}/history", params={"limit": 100}).json()
    submitted = next(e for e in history if e["type"] == "ExecutionSubmitted")
    assert submitted["input"] == big_input
    callback = next(e for e in history if e["type"] == "StepSucceeded" and e["stepId"] == "ask")
    assert callback["output"] == output
    assert "sedo:ref" not in json.dumps(history)
    # both values are larger than an item holds: objects in the payload bucket, one each
    key = execution_id.split(":")[2]
    assert len(payload_objects(stack, T)) == 2
    assert all(o.startswith(f"{T}/{key}/") for o in payload_objects(stack, T))
    assert len(json.dumps(document_of(head_item(stack, T, key)))) < 10 * 1024


def test_a_redelivered_wake_up_stores_nothing_twice_and_forks_nothing(stack: Settings) -> None:
    harness = Harness(stack)
    harness.services.definitions.create(T, load_text(SIX))
    execution_id = harness.services.executions.start(T, "six", {"s": "y" * 60_000})[0]["id"]
    key = execution_id.split(":")[2]
    [start] = harness.receive()
    harness.invoke([start])  # processed, but the ack is lost
    items = sorted(json.dumps(i, sort_keys=True) for i in payload_items(stack, T))
    head = head_item(stack, T, key)
    events = events_of(harness, T, execution_id)
    harness.invoke([start])  # SQS delivers it again (the same message, received twice)
    harness.ack([start])
    assert sorted(json.dumps(i, sort_keys=True) for i in payload_items(stack, T)) == items
    assert head_item(stack, T, key) == head
    assert events_of(harness, T, execution_id) == events
    harness.drain()
    described = harness.services.executions.get(T, execution_id)
    assert described["state"] == "ExecutionSucceeded" and described["output"] == "y" * 60_000 + "5"
    assert [e["id"] for e in events_of(harness, T, execution_id)] == list(range(1, len(events) + 1))
    assert len(payload_items(stack, T)) == 7


FAN = """
id: fan
steps:
  - id: each
    type: map
    items: input.parts
    maxConcurrency: 2
    iterator:
      steps:
        - {id: grow, type: transform, expression: "join('', [input, input])", end: true}
    end: true
"""

BLOWUP = """
id: blowup
steps:
  - id: grow
    type: transform
    expression: "[input.s, input.s, input.s, input.s, input.s, input.s, input.s, input.s, input.s, input.s, input.s]"
    catch: [{errors: [States.PayloadTooLarge], next: small}]
    next: done
  - {id: small, type: transform, expression: "error.error", end: true}
  - {id: done, type: succeed}
"""


def test_a_map_over_large_items_shows_its_results(stack: Settings) -> None:
    """A child's output too large for its fan-out result item (300 KiB) is referenced where the
    child keeps it; the map's results show resolved."""
    harness = Harness(stack)
    harness.services.definitions.create(T, load_text(FAN))
    parts = ["a" * 90_000, "b" * 160_000, "c" * 10]
    execution_id = harness.services.executions.start(T, "fan", {"parts": parts})[0]["id"]
    harness.drain()
    described = harness.services.executions.get(T, execution_id)
    assert described["state"] == "ExecutionSucceeded", described.get("cause")
    assert described["output"] == [p + p for p in parts]
    child = f"{T}/{execution_id.split(':')[2]}."
    assert [o for o in payload_objects(stack, T) if o.startswith(child)] != []  # the 320 KB output


def test_a_step_result_over_the_value_limit_fails_its_step_catchably(stack: Settings) -> None:
    harness = Harness(stack)
    harness.services.definitions.create(T, load_text(BLOWUP))
    execution_id = harness.services.executions.start(T, "blowup", {"s": "x" * (limits.MAX_STASH_VALUE_BYTES // 10)})[0][
        "id"
    ]
    harness.drain()
    described = harness.services.executions.get(T, execution_id)
    assert (described["state"], described["output"]) == ("ExecutionSucceeded", "States.PayloadTooLarge")
