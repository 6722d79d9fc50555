"""A start's usage rides in its first wake-up (sedo/service_layer/usage.py): the API makes no ledger
write for it, and the processor's meter counts it once, when that wake-up commits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import pytest

from sedo import bootstrap
from sedo.adapters.clock import FakeClock
from sedo.adapters.memory import MemoryQueue
from sedo.domain.errors import Unavailable
from sedo.service_layer.observe import Observers, count_usage
from sedo.service_layer.processing import Processed, WakeUpProcessor

T = "t"
#: The start message's field with the start's amounts: part of the wire format, in-flight messages keep it.
START_USAGE = "usage"
ECHO = {"id": "a", "type": "echo", "message": "a", "next": "b"}
DEFINITION = {"id": "two", "steps": [ECHO, {"id": "b", "type": "wait", "seconds": 5, "end": True}]}


class LedgerWrites:
    """A usage store that keeps each write (a UsageStore; the ledger's reads are not used here)."""

    def __init__(self) -> None:
        self.adds: list[dict[str, float]] = []

    def add(self, tenant_id: str, day: str, shard: int, amounts: Mapping[str, float]) -> None:
        self.adds.append(dict(amounts))

    def register(self, tenant_id: str, day: str) -> None:
        pass

    def days(self, tenant_id: str, first: str, last: str, shards: int) -> dict[str, dict[str, float]]:
        raise NotImplementedError

    def tenants(self, day: str) -> list[str]:
        raise NotImplementedError


class MeteredQueue(MemoryQueue):
    """Counts each send as sedo/entrypoints/metering.py's hook counts a SendMessageBatch."""

    def send(self, messages: Sequence[dict[str, Any]]) -> None:
        count_usage({"requests.sqs.SendMessageBatch": 1.0, "sqsRequests": 1.0})
        super().send(messages)


class World:
    def __init__(self) -> None:
        self.store = LedgerWrites()
        self.queue = MeteredQueue()
        adapters = replace(bootstrap.memory_adapters(FakeClock()), usage=self.store, queue=self.queue)
        self.adapters = adapters
        self.api = bootstrap.api_services(adapters)
        self.api.definitions.create(T, DEFINITION)
        self.processor: WakeUpProcessor = bootstrap.processor(adapters)

    def start(self) -> tuple[str, dict[str, Any]]:
        started, created = self.api.executions.start(T, "two", {})
        assert created
        [message] = self.queue.drain()
        return started["id"], message

    def batch(self, *deliveries: tuple[dict[str, Any], int]) -> tuple[list[Processed], dict[str, float]]:
        """One Lambda batch of ``(body, receive count)`` records; what the meter wrote for it."""
        results = [self.processor.process(body, count) for body, count in deliveries]
        observer = self.processor.observer
        assert isinstance(observer, Observers)
        before = len(self.store.adds)
        observer.batch_done(len(deliveries), 0.01)
        [written] = self.store.adds[before:]
        return results, written


def test_a_start_writes_no_ledger_item_and_its_first_committed_wake_up_counts_it_once() -> None:
    world = World()
    _, message = world.start()
    assert world.store.adds == []  # no write of its own
    carried = message[START_USAGE]
    assert carried["executionsStarted"] == 1 and carried["apiRequests"] == 1
    assert all(amount != 0 for amount in carried.values())  # compact: only what is not zero

    results, written = world.batch((message, 1), (message, 1))  # the commit, then a duplicate send
    assert results == [Processed.COMMITTED, Processed.STALE]
    assert written["executionsStarted"] == 1 and written["apiRequests"] == 1
    assert written["transitions"] == 2 and written["wakeUps"] == 2  # a, b

    results, written = world.batch((message, 2), (message, 1))  # a redelivery, a duplicate
    assert results == [Processed.REFLUSHED, Processed.STALE]
    assert "executionsStarted" not in written and "apiRequests" not in written
    assert "transitions" not in written and written["wakeUps"] == 2


def test_the_head_keeps_its_start_message_without_the_amounts_and_an_old_message_still_works() -> None:
    world = World()
    _, message = world.start()
    head = world.adapters.executions.get(T, message["key"])
    assert head is not None and [m["kind"] for m in head.outbox] == ["start"]
    assert START_USAGE not in head.outbox[0]  # what the sweeper re-sends carries none

    old = {name: value for name, value in message.items() if name != START_USAGE}
    results, written = world.batch((old, 1))
    assert results == [Processed.COMMITTED]
    assert "executionsStarted" not in written and written["transitions"] == 2


def test_what_a_start_s_send_used_rides_in_the_tenant_s_next_start_and_survives_a_failed_one() -> None:
    world = World()
    _, first = world.start()
    assert "requests.sqs.SendMessageBatch" not in first[START_USAGE]  # its own send cannot be in it
    world.queue.fail_next = 1
    with pytest.raises(Unavailable):
        world.api.executions.start(T, "two", {})
    assert world.store.adds == []
    _, second = world.start()
    assert second[START_USAGE]["requests.sqs.SendMessageBatch"] == 1  # the first's send, counted once


def test_a_cancel_before_the_start_s_wake_up_counts_the_start_itself() -> None:
    world = World()
    execution_id, message = world.start()
    world.api.executions.cancel(T, execution_id, "at once")
    [cancel] = world.store.adds
    assert cancel["executionsStarted"] == 1 and cancel["executionsFinished.ExecutionCancelled"] == 1
    results, written = world.batch((message, 1))
    assert results == [Processed.STALE] and "executionsStarted" not in written
