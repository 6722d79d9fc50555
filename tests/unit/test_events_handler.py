"""The events handler's batch behaviour (sedo/entrypoints/events.py): poison records fail alone,
throttled events come back as new messages instead of counting toward the DLQ."""

from __future__ import annotations

import json
import logging
from typing import Any, cast

import pytest
from botocore.exceptions import ClientError

from sedo.adapters.memory import MemoryQueue
from sedo.domain.errors import TooManyRequests
from sedo.entrypoints import events as events_entrypoint
from sedo.entrypoints.events import make_handler
from sedo.service_layer.events import EventService, Prepared


class Routing:
    def __init__(self, fail: BaseException | None = None) -> None:
        self.handled: list[dict[str, Any]] = []
        self.batches: list[list[str]] = []
        self.fail = fail

    def prepare(self, events: list[dict[str, Any]]) -> Prepared:
        self.batches.append([e["id"] for e in events])
        return Prepared()

    def handle(self, event: dict[str, Any], prepared: Prepared | None = None) -> dict[str, Any]:
        if self.fail is not None:
            raise self.fail
        self.handled.append(event)
        return {"tenantId": "123", "started": 1, "delivered": 0, "rejected": 0}


def record(message_id: str, body: str) -> dict[str, Any]:
    return {"messageId": message_id, "receiptHandle": "r", "body": body, "attributes": {}, "eventSource": "aws:sqs"}


EVENT = {"id": "e1", "source": "shop.orders", "detail-type": "OrderPlaced", "resources": ["sedo:tenant/123"]}


def test_a_poison_record_fails_alone() -> None:
    routing = Routing()
    handler = make_handler(cast(EventService, routing), logging.getLogger("test"))
    batch = [record("a", "not json"), record("b", json.dumps(EVENT)), record("c", json.dumps({"no": "source"}))]
    result = handler({"Records": batch}, None)
    assert sorted(f["itemIdentifier"] for f in result["batchItemFailures"]) == ["a", "c"]
    assert [e["id"] for e in routing.handled] == ["e1"]
    assert routing.batches == [["e1"]]  # the batch's events are prepared together, poison left out


def test_each_body_is_parsed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = events_entrypoint.parse

    def counting(body: str) -> dict[str, Any]:
        calls.append(body)
        return real(body)

    monkeypatch.setattr(events_entrypoint, "parse", counting)
    handler = make_handler(cast(EventService, Routing()), logging.getLogger("test"))
    bodies = [json.dumps({**EVENT, "id": f"e{i}"}) for i in range(3)]
    handler({"Records": [record(str(i), body) for i, body in enumerate(bodies)]}, None)
    assert sorted(calls) == sorted(bodies)


def test_a_throttled_event_is_put_back_not_failed() -> None:
    throttle = ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "PutItem")
    queue = MemoryQueue()
    handler = make_handler(cast(EventService, Routing(throttle)), logging.getLogger("test"), queue)
    result = handler({"Records": [record("a", json.dumps(EVENT))]}, None)
    assert result["batchItemFailures"] == []
    [again] = queue.drain()
    assert 1 <= again.pop("delay") <= 10 and again == EVENT
    other = make_handler(cast(EventService, Routing(RuntimeError("down"))), logging.getLogger("test"), queue)
    assert other({"Records": [record("b", json.dumps(EVENT))]}, None)["batchItemFailures"] == [{"itemIdentifier": "b"}]


def test_an_event_over_the_tenants_quota_is_put_back_for_after_its_retry_after() -> None:
    """Issue 19: a trigger start over quota is retried later, never dropped (nor rejected)."""
    queue = MemoryQueue()
    over = TooManyRequests("tenant t runs 3 executions, its maxRunningExecutions", retry_after=30)
    handler = make_handler(cast(EventService, Routing(over)), logging.getLogger("test"), queue)
    result = handler({"Records": [record("a", json.dumps(EVENT))]}, None)
    assert result["batchItemFailures"] == []
    [again] = queue.drain()
    assert 31 <= again.pop("delay") <= 40 and again == EVENT
