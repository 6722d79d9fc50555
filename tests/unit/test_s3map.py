"""Maps over S3 on the in-memory adapters: indexing in ranges, batches, the results and their
manifest, redelivery of every message, failures that name the line, and the bucket policy."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from sedo import bootstrap
from sedo.adapters.clock import FakeClock
from sedo.adapters.memory import MemoryQueue
from sedo.adapters.s3items import MemoryObjects
from sedo.domain.execution import FAILED, SUCCEEDED
from sedo.domain.language import load_text
from sedo.service_layer import itemsource
from sedo.service_layer.itemsource import BucketPolicy

MAP = """
id: s3map
steps:
  - id: each
    type: map
    {source}
    {extra}
    iterator:
      steps:
        - {{id: work, type: transform, expression: "{expression}", end: true}}
    resultPath: result
    {catch}
"""


class World:
    def __init__(self, definition: str, policy: BucketPolicy | None = None) -> None:
        adapters = bootstrap.memory_adapters(FakeClock())
        assert adapters.s3maps is not None
        if policy is not None:
            adapters = replace(adapters, s3maps=replace(adapters.s3maps, policy=policy))
        assert isinstance(adapters.queue, MemoryQueue) and adapters.s3maps is not None
        assert isinstance(adapters.s3maps.objects, MemoryObjects)
        self.adapters, self.queue, self.objects = adapters, adapters.queue, adapters.s3maps.objects
        self.objects.buckets |= {"items", "results"}
        self.api = bootstrap.api_services(adapters)
        self.api.definitions.create("t", load_text(definition))
        self.processor = bootstrap.processor(adapters)
        self.delivered: list[str] = []

    def run(self, input: Any = None, twice: bool = False) -> dict[str, Any]:
        """Start an execution and deliver every message (each twice with ``twice``) until none is left."""
        execution_id = self.api.executions.start("t", "s3map", input or {})[0]["id"]
        pool = self.queue.drain()
        while pool:
            message = pool.pop(0)
            self.delivered.append(message["kind"])
            for receive in range(2 if twice else 1):
                self.processor.process(message, receive + 1)
            pool.extend(self.queue.drain())
            assert len(self.delivered) < 10_000
        execution: dict[str, Any] = self.api.executions.get("t", execution_id)
        return execution

    def lines(self, key: str) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.objects.objects[("results", key)].decode().splitlines()]


def definition(source: str, extra: str = "", expression: str = "length(input.items)", catch: str = "") -> str:
    ending = f"{catch}\n    next: caught\n  - {{id: caught, type: succeed}}" if catch else "end: true"
    return MAP.format(source=source, extra=extra, expression=expression, catch=ending)


READER = "itemReader: {{bucket: items, key: {key}, format: {fmt}}}"
WRITER = "resultWriter: {bucket: results, prefix: out/runs}"


@pytest.fixture(autouse=True)
def small_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ranges, index items and results objects small enough that a few items need several."""
    monkeypatch.setattr(itemsource, "MAX_ITEM_READER_SCAN_BYTES", 48)
    monkeypatch.setattr(itemsource, "INDEX_CHUNK", 3)
    monkeypatch.setattr(itemsource, "MAX_RESULT_OBJECT_LINES", 2)
    monkeypatch.setattr(itemsource, "OBJECTS_PER_WAKEUP", 2)


@pytest.mark.parametrize("twice", [False, True])
def test_batches_from_json_lines_with_results_in_s3_survive_redelivery(twice: bool) -> None:
    extra = f"itemBatcher: {{maxItems: 4}}\n    maxConcurrency: 2\n    {WRITER}"
    world = World(definition(READER.format(key="in.jsonl", fmt="jsonl"), extra))
    world.objects.objects[("items", "in.jsonl")] = b"".join(b'{"n": %d}\n' % i for i in range(25))
    execution = world.run(twice=twice)
    assert execution["state"] == SUCCEEDED, execution
    manifest = execution["output"]
    assert {k: manifest[k] for k in ("total", "succeeded", "failed")} == {"total": 7, "succeeded": 7, "failed": 0}
    assert world.delivered.count("fanout") > 3  # the object was indexed in several ranges
    prefix = manifest["manifest"].removesuffix("manifest.json")
    assert prefix.startswith("out/runs/t/") and prefix.endswith("/each.3/")
    assert manifest["results"] == [f"{prefix}results-{n:05d}.jsonl" for n in range(4)]
    lines = [line for key in manifest["results"] for line in world.lines(key)]
    assert [line["index"] for line in lines] == list(range(7))  # one line per child, none twice
    assert [line["output"] for line in lines] == [4, 4, 4, 4, 4, 4, 1]
    assert {line["status"] for line in lines} == {"succeeded"} and {line["error"] for line in lines} == {None}
    stored = json.loads(world.objects.objects[("results", manifest["manifest"])])
    assert stored == manifest


def test_csv_items_reach_each_child_as_objects() -> None:
    world = World(definition(READER.format(key="in.csv", fmt="csv"), expression="input"))
    world.objects.objects[("items", "in.csv")] = b'id,name\r\n1,"a, ""b"""\r\n2,"multi\nline"\r\n'
    execution = world.run()
    assert execution["output"] == [{"id": "1", "name": 'a, "b"'}, {"id": "2", "name": "multi\nline"}]


def test_a_json_array_source_without_writer_gives_the_outputs() -> None:
    world = World(definition(READER.format(key="in.json", fmt="json"), expression="input.v"))
    world.objects.objects[("items", "in.json")] = json.dumps([{"v": i, "pad": "x" * 10} for i in range(9)]).encode()
    assert world.run()["output"] == list(range(9))


@pytest.mark.parametrize("writer", [False, True])
def test_an_empty_file_is_an_empty_map(writer: bool) -> None:
    world = World(definition(READER.format(key="empty.csv", fmt="csv"), WRITER if writer else ""))
    world.objects.objects[("items", "empty.csv")] = b""
    execution = world.run()
    assert execution["state"] == SUCCEEDED
    result = execution["output"]
    if writer:
        assert (result["total"], result["results"]) == (0, [])
    else:
        assert result == []


def test_a_malformed_line_fails_the_step_naming_the_line_and_is_catchable() -> None:
    world = World(definition(READER.format(key="bad.jsonl", fmt="jsonl"), expression="input"))
    world.objects.objects[("items", "bad.jsonl")] = b'{"a": 1}\n{"a": 2}\n{"a": \n{"a": 4}\n'
    execution = world.run()
    assert execution["state"] == FAILED
    assert execution["error"] == "States.ItemReaderFailed"
    assert "s3://items/bad.jsonl, line 3: not JSON" in execution["cause"]
    caught = World(
        definition(
            READER.format(key="bad.jsonl", fmt="jsonl"),
            expression="input",
            catch="catch: [{errors: [States.ItemReaderFailed], next: caught, resultPath: why}]",
        )
    )
    caught.objects.objects = world.objects.objects
    assert caught.run()["state"] == SUCCEEDED


def test_a_missing_object_fails_the_step() -> None:
    execution = World(definition(READER.format(key="nothing.json", fmt="json"))).run()
    assert (execution["error"], execution["cause"]) == (
        "States.ItemReaderFailed",
        "s3://items/nothing.json: no such object",
    )


def test_buckets_outside_the_deployment_policy_fail_with_permissions() -> None:
    policy = BucketPolicy(read=("items",), write=("elsewhere",))
    world = World(definition(READER.format(key="in.jsonl", fmt="jsonl"), WRITER), policy)
    world.objects.objects[("items", "in.jsonl")] = b"1\n"
    execution = world.run()
    assert execution["error"] == "States.Permissions"
    assert "resultWriter bucket 'results' is not one this deployment may write (MapResultBuckets)" in execution["cause"]
    assert ("results", "out/runs") not in world.objects.objects and len(world.objects.objects) == 1


def test_jmespath_items_batch_and_write_results_with_failures_tolerated() -> None:
    extra = f"itemBatcher: {{maxItems: 2}}\n    toleratedFailureCount: 5\n    {WRITER}"
    world = World(definition('items: "input.xs"', extra, expression="sum(input.items)"))
    execution = world.run({"xs": [1, 2, 3, "x", 5]})
    assert execution["state"] == SUCCEEDED, execution
    manifest = execution["output"]
    assert (manifest["total"], manifest["succeeded"], manifest["failed"]) == (3, 2, 1)
    lines = [line for key in manifest["results"] for line in world.lines(key)]
    assert [line["status"] for line in lines] == ["succeeded", "failed", "succeeded"]
    assert [line["output"] for line in lines] == [3, None, 5] and lines[1]["error"] == "States.BadExpression"


def test_a_definition_naming_a_bucket_the_deployment_does_not_allow_is_refused_when_stored() -> None:
    from sedo.config import Settings
    from sedo.domain.errors import InvalidDefinition

    adapters = bootstrap.memory_adapters(FakeClock())
    settings = Settings(map_item_buckets=("items",), map_result_buckets=())
    api = bootstrap.api_services(adapters, settings)
    api.definitions.create("t", load_text(definition(READER.format(key="in.jsonl", fmt="jsonl"))))  # allowed
    with pytest.raises(InvalidDefinition) as refused:
        api.definitions.create("t", load_text(definition(READER.format(key="in.jsonl", fmt="jsonl"), WRITER)))
    assert "/steps/0/resultWriter/bucket: bucket 'results' is not one this deployment's maps may use" in str(
        refused.value
    )
    assert "(MapResultBuckets: none)" in str(refused.value)


def test_a_source_replaced_while_its_children_start_fails_the_step_with_the_cause() -> None:
    world = World(definition(READER.format(key="in.jsonl", fmt="jsonl"), "maxConcurrency: 1", expression="input"))
    world.objects.objects[("items", "in.jsonl")] = b"1\n2\n3\n"
    processor = world.processor.process

    def replacing(message: dict[str, Any], receive_count: int = 1) -> Any:
        if message["kind"] == "start" and message["key"].endswith(".0"):  # the first child runs
            world.objects.objects[("items", "in.jsonl")] = b"1\n2\n3\n4\n"
        return processor(message, receive_count)

    world.processor.process = replacing  # type: ignore[method-assign]
    execution = world.run()
    assert (execution["state"], execution["error"]) == (FAILED, "States.ItemReaderFailed")
    assert execution["cause"] == "s3://items/in.jsonl: the object changed since the map began reading it"
