"""Copy an executions table written before per-execution heads (issue 14) into today's layout.

Before, every top-level head of a tenant lived in ``pk=<tenant>`` (``sk=<key>``, with
``dpk=<tenant>#<definitionId>`` for the ``byDefinition`` index), a map's children and its
records in ``pk=<tenant>#<parent>`` (children ``sk=<instance, 10 digits>.<index, 6
digits>``, the counter ``<instance>#map``, results ``<instance>#r#<index>``, buckets, inputs
and page leases), and names in ``pk=<tenant>#name`` (``sk=<definitionId>#<name>``). The
history table, the values kept apart (``<tenant>#<key>#v``) and the payload bucket did not
change.

The migration copies what a finished execution is read by: its head and list item (or a
child's head and index entry), its name, its fan-outs' counters and results. The inputs,
buckets and page leases of a fan-out matter only while it runs, so they are left. It copies
only finished executions: it refuses, before writing anything, while any old head has not
finished (an old execution cannot go on under the new layout: drain first, README "Upgrading").
Copies are plain puts of items derived from the old ones, so it can be run again; with
``delete_old`` it then deletes the old items it copied or left.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

from sedo.adapters.dynamodb import layout
from sedo.adapters.dynamodb.common import all_items, batch_write
from sedo.adapters.dynamodb.executions import child_index_item, head_item
from sedo.adapters.dynamodb.headdoc import head_of
from sedo.domain.iterations import child_key

_CHILD = re.compile(r"^\d{10}\.\d{6}$")
_COUNTER = re.compile(r"^(\d+)#map$")
_RESULT = re.compile(r"^(\d+)#r#(\d{6})$")
_FAN_OUT_RECORD = re.compile(r"^\d+#[bif]#\d+$")  # buckets, inputs, page leases: not copied
#: Old items are listed with their ids in a refusal, up to this many.
SHOWN = 10


class MigrationRefused(RuntimeError):
    """The table holds executions of the old layout that have not finished."""


#: What a migration copied, by kind (``notCopied``: old fan-out records not needed once
#: finished; ``deleted``: old items removed with ``delete_old``).
COUNTED = ("heads", "children", "names", "counters", "results", "notCopied", "deleted")
_KINDS = {"head": "heads", "child": "children", "name": "names", "counter": "counters", "result": "results"}


def classify(item: dict[str, Any]) -> str | None:
    """What an item of the old layout is (``head``, ``child``, ``name``, ``counter``,
    ``result``, ``fanout``), or None for an item of today's layout or one that did not move."""
    pk, sk = item["pk"]["S"], item["sk"]["S"]
    if "#" not in pk:
        return "head" if "doc" in item else None
    if pk.endswith("#v"):
        return None
    if pk.split("#", 1)[1] == "name" and sk != layout.NAME_SK:
        return "name"
    if _CHILD.match(sk) and "doc" in item:
        return "child"
    if _COUNTER.match(sk):
        return "counter"
    if _RESULT.match(sk):
        return "result"
    if _FAN_OUT_RECORD.match(sk):
        return "fanout"
    return None


def old_items(client: Any, table: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for item in all_items(client.scan, TableName=table):
        kind = classify(item)
        if kind is not None:
            yield kind, item


def _kept(item: dict[str, Any]) -> dict[str, Any]:
    return {"expiresAt": item["expiresAt"]} if "expiresAt" in item else {}


def copies(kind: str, item: dict[str, Any]) -> list[dict[str, Any]]:
    """The items of today's layout an old item becomes."""
    pk, sk = item["pk"]["S"], item["sk"]["S"]
    if kind in ("head", "child"):
        head = head_of(item)
        new = {**head_item(head), **_kept(item)}
        if kind == "child":
            return [child_index_item(head), new]
        listed = layout.list_item(head.tenant_id, head.definition_id, head.key, head.state)
        return [{**listed, **_kept(item)}, new]
    tenant, parent = pk.split("#", 1)
    if kind == "name":
        definition_id, name = sk.split("#", 1)
        return [{**layout.name_key(tenant, definition_id, name), "key": item["key"], "inputHash": item["inputHash"]}]
    if kind == "counter":
        match = _COUNTER.match(sk)
        assert match is not None
        rest = {k: v for k, v in item.items() if k not in ("pk", "sk")}
        return [{**rest, **layout.counter_key(tenant, parent, int(match.group(1)))}]
    if kind == "result":
        match = _RESULT.match(sk)
        assert match is not None
        key = child_key(parent, int(match.group(1)), int(match.group(2)))
        return [{**layout.result_key(tenant, key), "ok": item["ok"], "doc": item["doc"]}]
    return []


def unfinished(client: Any, table: str) -> list[str]:
    """The ids of the old layout's executions that have not finished."""
    heads = (head_of(item) for kind, item in old_items(client, table) if kind in ("head", "child"))
    return [head.id for head in heads if not head.finished]


def migrate(client: Any, table: str, delete_old: bool = False, dry_run: bool = False) -> dict[str, int]:
    """Copy the old layout's items of ``table`` into today's (see the module's docstring);
    returns what it copied, by kind (:data:`COUNTED`)."""
    running = unfinished(client, table)
    if running:
        shown = ", ".join(running[:SHOWN]) + (" ..." if len(running) > SHOWN else "")
        raise MigrationRefused(
            f"{len(running)} execution(s) stored before this version have not finished ({shown}): "
            "they cannot go on under the new storage layout. Let them finish or cancel them with the "
            "version that started them, then migrate; nothing was written"
        )
    report = Counter(dict.fromkeys(COUNTED, 0))
    puts: list[dict[str, Any]] = []
    deletes: list[dict[str, Any]] = []
    for kind, item in old_items(client, table):
        made = copies(kind, item)
        report[_KINDS[kind] if made else "notCopied"] += 1
        puts.extend({"PutRequest": {"Item": new}} for new in made)
        deletes.append({"DeleteRequest": {"Key": {"pk": item["pk"], "sk": item["sk"]}}})
    if not dry_run:
        batch_write(client, table, puts)
        if delete_old:
            batch_write(client, table, deletes)
            report["deleted"] = len(deletes)
    return dict(report)


__all__ = ["COUNTED", "MigrationRefused", "classify", "copies", "migrate", "unfinished"]
