"""`sedo migrate-storage` against the emulator: a table in the layout from before per-execution
heads (issue 14) is copied into today's and reads exactly as before; with an unfinished old
execution it refuses and writes nothing (README, "Upgrading")."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sedo.adapters.aws import client
from sedo.adapters.dynamodb import all_items, layout
from sedo.adapters.dynamodb.headdoc import head_of
from sedo.adapters.dynamodb.migrate import classify
from sedo.config import Settings
from sedo.domain.language import load_text
from sedo.entrypoints.cli import main
from tests.integration.test_storage_layout import MAP, QUICK, drop_timers
from tests.support import Harness

pytestmark = pytest.mark.integration

T = "legacy"
WAITER = "id: waiter\nsteps:\n  - {id: pause, type: wait, seconds: 3600, end: true}"


def scan(settings: Settings) -> list[dict[str, Any]]:
    dynamodb = client("dynamodb", settings)
    return list(all_items(dynamodb.scan, TableName=settings.executions_table))


def old_item(item: dict[str, Any]) -> dict[str, Any] | None:
    """Today's item as the layout before issue 14 stored it (None: it had no such item)."""
    pk, sk = item["pk"]["S"], item["sk"]["S"]
    s = layout.s
    if sk == layout.HEAD_SK:
        head = head_of(item)
        rest = {k: v for k, v in item.items() if k not in ("pk", "sk")}
        if head.parent_key is None:
            return {**rest, "pk": s(head.tenant_id), "sk": s(head.key), "dpk": s(f"{T}#{head.definition_id}")}
        _, instance, index = head.key.rsplit(".", 2)
        return {**rest, "pk": s(f"{T}#{head.parent_key}"), "sk": s(f"{int(instance):010d}.{int(index):06d}")}
    if sk == layout.NAME_SK:
        _, _, definition_id, name = pk.split("#", 3)
        return {
            "pk": s(f"{T}#name"),
            "sk": s(f"{definition_id}#{name}"),
            "key": item["key"],
            "inputHash": item["inputHash"],
        }
    if sk.startswith("map#"):
        return {**item, "sk": s(f"{int(sk[4:])}#map")}
    if sk == layout.RESULT_SK:
        parent, instance, index = pk.split("#", 1)[1].rsplit(".", 2)
        return {**item, "pk": s(f"{T}#{parent}"), "sk": s(f"{instance}#r#{int(index):06d}")}
    if sk.startswith(("b#", "i#")):  # a bucket or inputs: in the parent's partition then
        parent, instance, shard = pk.split("#", 1)[1].rsplit("#", 2)
        return {**item, "pk": s(f"{T}#{parent}"), "sk": s(f"{instance}#{sk[0]}#{int(shard):02d}{sk[2:]}")}
    return None if sk.startswith(("c#", "page#", layout.CLOSED_SK)) or "#list#" in pk else item


def to_old_layout(settings: Settings) -> None:
    dynamodb = client("dynamodb", settings)
    for item in scan(settings):
        dynamodb.delete_item(TableName=settings.executions_table, Key={"pk": item["pk"], "sk": item["sk"]})
        old = old_item(item)
        if old is not None:
            dynamodb.put_item(TableName=settings.executions_table, Item=old)


def migrate(monkeypatch: pytest.MonkeyPatch, settings: Settings, *args: str) -> int:
    monkeypatch.setenv("SEDO_ENDPOINT_URL", settings.endpoint_url or "")
    monkeypatch.setenv("SEDO_REGION", settings.region)
    monkeypatch.setenv("SEDO_EXECUTIONS_TABLE", settings.executions_table)
    return main(["migrate-storage", *args])


def test_an_old_table_is_copied_into_the_new_layout_and_reads_as_before(
    stack: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    harness = Harness(stack)
    for text in (QUICK, MAP):
        harness.services.definitions.create(T, load_text(text))
    named, _ = harness.services.executions.start(T, "quick", {"a": 1}, name="order-7")
    harness.clock.advance(1)
    mapped, _ = harness.services.executions.start(T, "doubles", {"xs": [1, 2, 3, 4, 5]})
    harness.clock.advance(1)
    plain, _ = harness.services.executions.start(T, "quick", {})
    harness.drain()
    executions = harness.services.executions
    before = {
        "list": [i["id"] for i in executions.list(T, 50, None).items],
        "map": executions.get(T, mapped["id"]),
        "iterations": [i["iteration"]["index"] for i in executions.iterations(T, mapped["id"], 50, None).items],
        "quick": [i["id"] for i in executions.list(T, 50, None, definition_id="quick").items],
    }
    assert before["list"] == [plain["id"], mapped["id"], named["id"]] and before["iterations"] == [0, 1, 2, 3, 4]

    to_old_layout(stack)
    assert executions.list(T, 50, None).items == []  # the new code does not read the old layout
    assert {classify(i) for i in scan(stack)} >= {"head", "child", "name", "counter", "result", "fanout"}

    assert migrate(monkeypatch, stack, "--dry-run", "--json") == 0
    dry = json.loads(capsys.readouterr().out)
    assert (dry["heads"], dry["children"], dry["names"], dry["counters"], dry["results"]) == (3, 5, 1, 1, 5)
    assert executions.list(T, 50, None).items == []  # a dry run writes nothing

    assert migrate(monkeypatch, stack, "--delete-old") == 0
    assert "copied" in capsys.readouterr().out
    assert {classify(i) for i in scan(stack)} == {None}  # no old item is left
    assert [i["id"] for i in executions.list(T, 50, None).items] == before["list"]
    assert [i["id"] for i in executions.list(T, 50, None, definition_id="quick").items] == before["quick"]
    assert executions.get(T, mapped["id"]) == before["map"]
    iterations = executions.iterations(T, mapped["id"], 50, None).items
    assert [i["iteration"]["index"] for i in iterations] == before["iterations"]
    again, created = executions.start(T, "quick", {"a": 1}, name="order-7")
    assert not created and again["id"] == named["id"]  # the name still holds its execution


def test_migration_refuses_while_an_old_execution_runs_and_writes_nothing(
    stack: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    harness = Harness(stack)
    harness.services.definitions.create(T, load_text(WAITER))
    waiting, _ = harness.services.executions.start(T, "waiter", {})
    harness.drain(deliver=drop_timers)  # it waits
    to_old_layout(stack)
    stored = sorted(json.dumps(i, sort_keys=True, default=repr) for i in scan(stack))
    assert migrate(monkeypatch, stack) == 1
    message = " ".join(capsys.readouterr().err.split())
    assert "have not finished" in message and waiting["id"] in message and "nothing was written" in message
    assert sorted(json.dumps(i, sort_keys=True, default=repr) for i in scan(stack)) == stored
