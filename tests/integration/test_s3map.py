"""Maps over S3 through the real processor and the emulator (S3, DynamoDB, SQS over HTTP):
JSON, JSON Lines and CSV sources read in ranges, batches, results and their manifest written
to S3 surviving the redelivery of every message, and failures that name the line."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from sedo.adapters.aws import client
from sedo.domain.language import load_text
from sedo.service_layer import itemsource
from tests.support import Harness

pytestmark = pytest.mark.integration
T = "s3"

MAP = """
id: over-s3
steps:
  - id: each
    type: map
    itemReader: {{bucket: {bucket}, key: {key}, format: {fmt}}}
    {extra}
    iterator:
      steps:
        - {{id: work, type: transform, expression: "{expression}", end: true}}
    end: true
"""


@pytest.fixture
def harness(stack: Any, monkeypatch: pytest.MonkeyPatch) -> Harness:
    monkeypatch.setattr(itemsource, "MAX_ITEM_READER_SCAN_BYTES", 256)  # several ranges per object
    monkeypatch.setattr(itemsource, "MAX_RESULT_OBJECT_LINES", 4)
    return Harness(stack)


@pytest.fixture
def s3(harness: Harness) -> Any:
    return client("s3", harness.settings)


def bucket(s3: Any) -> str:
    name = f"sedo-test-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


def run(harness: Harness, s3: Any, fmt: str, body: bytes, extra: str = "", expression: str = "input", twice: bool = False) -> dict[str, Any]:  # fmt: skip
    source = bucket(s3)
    s3.put_object(Bucket=source, Key=f"in.{fmt}", Body=body)
    text = MAP.format(bucket=source, key=f"in.{fmt}", fmt=fmt, extra=extra, expression=expression)
    harness.services.definitions.create(T, load_text(text))
    execution_id = harness.services.executions.start(T, "over-s3", {})[0]["id"]

    def deliver_twice(h: Harness, messages: list[dict[str, Any]]) -> None:
        h.invoke(messages)
        h.invoke(messages)
        h.ack(messages)

    harness.drain(deliver_twice if twice else None)
    execution: dict[str, Any] = harness.services.executions.get(T, execution_id)
    return execution


def test_a_json_array_is_read_in_ranges(harness: Harness, s3: Any) -> None:
    items = [{"n": i, "text": f'item, [{i}] "quoted"'} for i in range(30)]
    execution = run(harness, s3, "json", json.dumps(items, indent=1).encode(), expression="input.n")
    assert execution["state"] == "ExecutionSucceeded", execution
    assert execution["output"] == list(range(30))


def test_json_lines_in_batches(harness: Harness, s3: Any) -> None:
    body = b"".join(b'{"n": %d}\n' % i for i in range(23))
    execution = run(harness, s3, "jsonl", body, "itemBatcher: {maxItems: 5}", expression="input.items[*].n")
    assert execution["output"] == [list(range(i, min(i + 5, 23))) for i in range(0, 23, 5)]


def test_csv_with_a_header_and_rfc4180_quoting(harness: Harness, s3: Any) -> None:
    body = b'sku,title,qty\r\nA1,"Bolt, 5 mm",3\r\nB2,"The ""big"" one",1\r\nC3,"two\r\nlines",7\r\n'
    execution = run(harness, s3, "csv", body)
    assert execution["output"] == [
        {"sku": "A1", "title": "Bolt, 5 mm", "qty": "3"},
        {"sku": "B2", "title": 'The "big" one', "qty": "1"},
        {"sku": "C3", "title": "two\r\nlines", "qty": "7"},
    ]


def test_an_empty_file_is_an_empty_map(harness: Harness, s3: Any) -> None:
    execution = run(harness, s3, "jsonl", b"")
    assert (execution["state"], execution["output"]) == ("ExecutionSucceeded", [])


def test_a_malformed_line_fails_the_step_naming_it(harness: Harness, s3: Any) -> None:
    body = b"".join(b"%d,x\n" % i for i in range(40)).replace(b"17,x\n", b'17,"x\n')
    execution = run(harness, s3, "csv", b"id,v\n" + body)
    assert execution["state"] == "ExecutionFailed"
    assert execution["error"] == "States.ItemReaderFailed"
    assert "line 19: a quoted field is not closed" in execution["cause"]


def test_results_and_manifest_in_s3_survive_redelivery_without_double_counting(harness: Harness, s3: Any) -> None:
    results = bucket(s3)
    extra = (
        f"itemBatcher: {{maxItems: 3}}\n    maxConcurrency: 2\n    resultWriter: {{bucket: {results}, prefix: runs}}"
    )
    body = b"".join(b"%d\n" % i for i in range(20))
    execution = run(harness, s3, "jsonl", body, extra, expression="sum(input.items)", twice=True)
    assert execution["state"] == "ExecutionSucceeded", execution
    manifest = execution["output"]
    assert (manifest["total"], manifest["succeeded"], manifest["failed"]) == (7, 7, 0)
    lines = written(s3, results, manifest)
    assert [line["index"] for line in lines] == list(range(7))
    assert [line["output"] for line in lines] == [sum(range(i, min(i + 3, 20))) for i in range(0, 20, 3)]
    listed = s3.list_objects_v2(Bucket=results, Prefix="runs/")["Contents"]
    assert sorted(o["Key"] for o in listed) == sorted([*manifest["results"], manifest["manifest"]])


def written(s3: Any, results: str, manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The result lines a map wrote to S3, once its stored manifest is checked to be its output."""
    stored = json.loads(s3.get_object(Bucket=results, Key=manifest["manifest"])["Body"].read())
    assert stored == manifest
    return [
        json.loads(line)
        for key in manifest["results"]
        for line in s3.get_object(Bucket=results, Key=key)["Body"].read().decode().splitlines()
    ]
