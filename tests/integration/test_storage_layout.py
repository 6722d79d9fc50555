"""The storage layout against the emulator (docs/DESIGN.md §3): heads in partitions of their
own, listings merged over sharded list items, names under their own keys, a map's children
and fan-in spread over its shards, under duplicate delivery."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from sedo.adapters import tokens
from sedo.adapters.aws import client
from sedo.adapters.dynamodb import all_items, layout
from sedo.domain.errors import BadRequest
from sedo.domain.execution import split_execution_id
from sedo.domain.language import load_text
from sedo.service_layer.ports import Page
from tests.support import Harness
from tests.unit.test_fanout_pages import MAP as FAN_OUT_MAP


def drop_timers(harness: Harness, messages: list[dict[str, Any]]) -> None:
    """Deliver everything but timers, which are dropped: their executions wait for ever."""
    delivered = [m for m in messages if json.loads(m["Body"])["kind"] != "timer"]
    if delivered:
        harness.invoke(delivered)
    harness.ack(messages)


pytestmark = pytest.mark.integration

T = "shards"
QUICK = "id: quick\nsteps:\n  - {id: only, type: echo, message: hi, end: true}"
WAITER = """
id: waiter
steps:
  - {id: pause, type: wait, seconds: 3600, next: after}
  - {id: after, type: echo, message: after, end: true}
"""
MAP = FAN_OUT_MAP.format(concurrency="maxConcurrency: 5")


def items_of(harness: Harness) -> list[dict[str, Any]]:
    dynamodb = client("dynamodb", harness.settings)
    return list(all_items(dynamodb.scan, TableName=harness.settings.executions_table))


def pages(fetch: Callable[[str | None], Page], limit: int) -> list[dict[str, Any]]:
    """Every item of a listing, ``limit`` a page, following its tokens."""
    seen: list[dict[str, Any]] = []
    token = None
    while True:
        page = fetch(token)
        assert len(page.items) <= limit
        seen += page.items
        token = page.next_token
        if token is None:
            return seen


def every_page(harness: Harness, limit: int, **filters: Any) -> list[str]:
    listed = pages(lambda token: harness.services.executions.list(T, limit, token, **filters), limit)
    return [item["id"] for item in listed]


def test_listing_over_shards_is_newest_first_filtered_and_paged_exactly(stack: Any) -> None:
    harness = Harness(stack)
    for text in (QUICK, WAITER):
        harness.services.definitions.create(T, load_text(text))
    ids = []
    for i in range(40):
        harness.clock.advance(1)
        ids.append(harness.services.executions.start(T, "quick" if i % 3 else "waiter", {"i": i})[0]["id"])
    harness.drain(deliver=drop_timers)  # the quick ones end; the waiters wait
    newest_first = list(reversed(ids))
    quick = [i for i in newest_first if ":quick:" in i]
    waiting = [i for i in newest_first if ":waiter:" in i]

    stored = items_of(harness)
    listed = [i for i in stored if i["pk"]["S"].startswith(f"{T}#list#")]
    assert len(listed) == 40 and len({i["pk"]["S"] for i in listed}) >= 10  # spread over the shards
    assert Counter(i["state"]["S"] for i in listed) == {"ExecutionSucceeded": len(quick), layout.OPEN: len(waiting)}
    heads = [i for i in stored if i["sk"]["S"] == layout.HEAD_SK]
    assert len({i["pk"]["S"] for i in heads}) == len(heads) == 40  # one partition per head
    assert not [i for i in stored if i["pk"]["S"] == T]  # nothing in the tenant's own key

    for limit in (1, 7, 40, 100):
        assert every_page(harness, limit) == newest_first
    assert every_page(harness, 4, states=["ExecutionSucceeded"]) == quick
    assert every_page(harness, 3, states=["StepStarted"]) == waiting
    assert every_page(harness, 5, definition_id="quick") == quick
    assert every_page(harness, 2, definition_id="waiter", states=["StepStarted"]) == waiting
    assert every_page(harness, 2, definition_id="waiter", states=["ExecutionSucceeded"]) == []
    first = harness.services.executions.list(T, 40, None)
    assert first.next_token is None and [i["id"] for i in first.items] == newest_first

    # a waiter cancelled: its list item takes the final state; the filters follow the heads
    harness.services.executions.cancel(T, waiting[0], "enough")
    assert every_page(harness, 3, states=["ExecutionCancelled"]) == [waiting[0]]
    assert every_page(harness, 3, states=["StepStarted"]) == waiting[1:]
    for bad in ("garbage", tokens.encode(T, {"from": 3})):  # a history page's position is no listing's
        with pytest.raises(BadRequest, match="nextToken"):
            harness.services.executions.list(T, 3, bad)


def test_named_starts_have_keys_of_their_own_and_stay_idempotent(stack: Any) -> None:
    harness = Harness(stack)
    harness.services.definitions.create(T, load_text(QUICK))
    first, created = harness.services.executions.start(T, "quick", {"a": 1}, name="order-1")
    again, created_again = harness.services.executions.start(T, "quick", {"a": 1}, name="order-1")
    harness.clock.advance(1)  # keys sort by time; two made in the same second sort at random
    other, created_other = harness.services.executions.start(T, "quick", {"a": 1}, name="order-2")
    assert created and not created_again and created_other
    assert again["id"] == first["id"] != other["id"]
    names = [i for i in items_of(harness) if i["sk"]["S"] == layout.NAME_SK]
    assert sorted(i["pk"]["S"] for i in names) == [f"{T}#name#quick#order-1", f"{T}#name#quick#order-2"]
    harness.drain()
    assert every_page(harness, 1) == [other["id"], first["id"]]


def test_a_map_spreads_its_children_and_counts_once_under_duplicate_delivery(stack: Any) -> None:
    harness = Harness(replace(stack, max_receive_count=10))
    harness.services.definitions.create(T, load_text(MAP))
    total = 40
    execution_id = harness.services.executions.start(T, "doubles", {"xs": list(range(total))})[0]["id"]

    def twice(h: Harness, messages: list[dict[str, Any]]) -> None:
        h.invoke(messages)
        h.invoke(messages)  # every message delivered again (SQS at-least-once)
        h.ack(messages)

    harness.drain(deliver=twice)
    execution = harness.services.executions.get(T, execution_id)
    assert execution["state"] == "ExecutionSucceeded"
    assert execution["output"] == [2 * i for i in range(total)]

    _, _, key = split_execution_id(execution_id)
    stored = items_of(harness)
    children = [i for i in stored if i["pk"]["S"].startswith(f"{T}#{key}.") and i["sk"]["S"] == layout.HEAD_SK]
    assert len({i["pk"]["S"] for i in children}) == total  # a partition per child
    fan = [i for i in stored if i["pk"]["S"].startswith(f"{T}#{key}#")]
    buckets = [i for i in fan if i["sk"]["S"].startswith("b#")]
    assert len({i["pk"]["S"] for i in buckets}) == layout.FAN_SHARDS
    assert sum(len(b["members"]["NS"]) for b in buckets) == total  # each child counted once
    index = sorted(int(i["sk"]["S"][2:]) for i in fan if i["sk"]["S"].startswith("c#"))
    assert index == list(range(total))
    parent = [i for i in stored if i["pk"]["S"] == f"{T}#{key}"]
    counter = next(i for i in parent if i["sk"]["S"].startswith("map#"))
    assert counter["done"]["N"] == str(total) and counter["succeeded"]["N"] == str(total)

    listed = pages(lambda token: harness.services.executions.iterations(T, execution_id, 7, token), 7)
    assert [i["iteration"]["index"] for i in listed] == list(range(total))
    assert {i["state"] for i in listed} == {"ExecutionSucceeded"}
    assert harness.services.executions.list(T, 50, None).items[0]["id"] == execution_id  # children not listed
    results = [json.loads(i["doc"]["S"]) for i in stored if i["sk"]["S"] == layout.RESULT_SK]
    assert sorted(r["index"] for r in results) == list(range(total))
