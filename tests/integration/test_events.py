"""Events (issue 15) against the emulator: EventBridge (moto delivers the template's rule to the
events queue), the events handler with partial batch responses, DynamoDB, the API over HTTP."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from sedo import bootstrap
from sedo.adapters.aws import client
from sedo.config import Settings
from sedo.domain.language import load_text
from sedo.entrypoints.events import make_handler
from sedo.entrypoints.local.esm import to_lambda_event
from tests.support import Harness, _quiet_logger, api_client, queue_depth, serve_api

ROOT = Path(__file__).resolve().parents[2]
ORDER_EVENTS = load_text((ROOT / "definitions" / "order-events.yaml").read_text())
BILLING_EVENTS = load_text((ROOT / "definitions" / "billing-events.yaml").read_text())


class Events:
    """The events handler fed from the events queue, as the event source mapping would."""

    def __init__(self, harness: Harness, settings: Settings) -> None:
        self.settings = settings
        self.sqs = client("sqs", settings)
        self.url = settings.events_queue_url
        self.arn = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        self.service = bootstrap.events_handler(harness.adapters, settings)
        self.handler = make_handler(self.service, _quiet_logger())
        self.bus = client("events", settings)

    def put(self, source: str, detail_type: str, detail: dict[str, Any], tenant: str = "123") -> None:
        entry = {
            "Source": source,
            "DetailType": detail_type,
            "Detail": json.dumps(detail),
            "Resources": [f"sedo:tenant/{tenant}"],
            "EventBusName": self.settings.event_bus,
        }
        assert self.bus.put_events(Entries=[entry])["FailedEntryCount"] == 0

    def pump(self, timeout: float = 20) -> list[str]:
        """Handle queued events until the queue is empty; the ids of records that failed."""
        failures: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            messages = self.sqs.receive_message(
                QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=0, MessageSystemAttributeNames=["All"]
            ).get("Messages", [])
            if not messages:
                if ready(self.sqs, self.url) == 0:
                    return failures
                time.sleep(0.1)
                continue
            result = self.handler(to_lambda_event(messages, self.arn, self.settings.region), None)
            failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
            failures.extend(failed)
            done = [m for m in messages if m["MessageId"] not in failed]
            for m in done:
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=m["ReceiptHandle"])
        raise AssertionError("the events queue did not drain")


def ready(sqs: Any, url: str) -> int:
    """Messages visible or in flight (a step's timeout, delayed for its hour, is not work to do now)."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return sum(int(attributes[n]) for n in names)


def settle(harness: Harness, events: Events) -> None:
    """Run wake-ups and events until neither queue has anything to do now."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        messages = harness.receive()
        later = [m for m in messages if json.loads(m["Body"]).get("due")]  # the step's timeout: not now
        harness.ack(later)
        messages = [m for m in messages if m not in later]
        if messages:
            result = harness.invoke(messages)
            failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
            harness.ack([m for m in messages if m["MessageId"] not in failed])
            continue
        events.pump()
        if ready(harness.sqs, harness.queue_url) == 0 and ready(events.sqs, events.url) == 0:
            return
        time.sleep(0.05)
    raise AssertionError("never settled")


def executions(harness: Harness, tenant: str, definition: str) -> list[dict[str, Any]]:
    listed = harness.services.executions.list(tenant, 10, None, [], definition).items
    return [harness.services.executions.get(tenant, e["id"]) for e in listed]


def items_with_prefix(settings: Settings, prefix: str) -> list[dict[str, Any]]:
    dynamodb = client("dynamodb", settings)
    items = dynamodb.scan(TableName=settings.executions_table)["Items"]
    return [i for i in items if i["pk"]["S"].startswith(prefix)]


@pytest.fixture
def world(stack: Settings) -> tuple[Harness, Events]:
    harness = Harness(stack)
    for tenant in ("123", "456"):
        for document in (ORDER_EVENTS, BILLING_EVENTS):
            harness.services.definitions.create(tenant, json.loads(json.dumps(document)))
    return harness, Events(harness, stack)


def test_bus_to_trigger_emit_event_step_and_status_changes(world: tuple[Harness, Events], stack: Settings) -> None:
    harness, events = world
    for _ in range(2):  # the same order put twice (two EventBridge ids): one execution, by its name
        events.put("shop.orders", "OrderPlaced", {"orderId": "o-1", "total": 30})
    events.put("shop.orders", "OrderPlaced", {"orderId": "o-1", "total": 30}, tenant="456")
    settle(harness, events)
    orders = executions(harness, "123", "order-events")
    assert [(e["name"], e["step"]) for e in orders] == [("order-o-1", "await-payment")]
    bills = executions(harness, "123", "billing-events")
    assert [b["state"] for b in bills] == ["ExecutionSucceeded"]  # started by the emit step
    assert len(executions(harness, "456", "order-events")) == 1

    events.put("shop.payments", "PaymentCaptured", {"orderId": "o-9", "amount": 1})  # uncorrelated
    events.put("shop.payments", "PaymentCaptured", {"orderId": "o-1", "amount": 30}, tenant="456")  # not ours
    settle(harness, events)
    order = harness.services.executions.get("123", orders[0]["id"])
    assert order["state"] == "StepStarted"
    assert len(items_with_prefix(stack, "123#ev:sub#")) == 1  # the wait of tenant 123, and only it
    assert items_with_prefix(stack, "123#ev:rcv#") == []  # the probes left nothing for tenant 123's wait

    events.put("shop.payments", "PaymentCaptured", {"orderId": "o-1", "amount": 30})
    settle(harness, events)
    order = harness.services.executions.get("123", orders[0]["id"])
    assert order["state"] == "ExecutionSucceeded" and order["output"]["paid"] == 30
    assert len(items_with_prefix(stack, "123#ev:rcv#")) == 1
    assert items_with_prefix(stack, "123#ev:sub#") == []  # the ended wait forgot its subscription
    logged = [json.loads(i["doc"]["S"]) for i in items_with_prefix(stack, "123#ev:log#sedo")]
    statuses = {(e["detail"]["executionId"], e["detail"]["status"]) for e in logged}
    assert {(order["id"], "STARTED"), (order["id"], "SUCCEEDED")} <= statuses


def test_a_poison_event_reaches_the_events_dlq_alone(world: tuple[Harness, Events], stack: Settings) -> None:
    harness, events = world
    events.sqs.send_message(QueueUrl=events.url, MessageBody="not an event")
    events.put("shop.orders", "OrderPlaced", {"orderId": "o-2", "total": 5})
    failures = events.pump()
    assert len(set(failures)) == 1  # only the poison failed; its batch-mate started its execution
    assert [e["name"] for e in executions(harness, "123", "order-events")] == ["order-o-2"]
    dlq = events.sqs.get_queue_url(QueueName=events.url.rsplit("/", 1)[-1] + "-dlq")["QueueUrl"]
    deadline = time.monotonic() + 30
    while queue_depth(events.sqs, dlq) == 0:  # SQS redrives it after MaxReceiveCount receives
        events.pump()
        assert time.monotonic() < deadline
        time.sleep(0.5)
    [dead] = events.sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10)["Messages"]
    assert dead["Body"] == "not an event"


def test_api_puts_events_with_roles_and_shows_rejected_triggers(world: tuple[Harness, Events], stack: Settings) -> None:
    harness, events = world
    with serve_api(stack, harness.clock, harness.adapters) as base:
        with api_client(base, "123", "viewer") as viewer:
            denied = viewer.post("/sedo/tenants/123/events", json={"source": "shop.orders", "detailType": "X"})
            assert denied.status_code == 403
        with api_client(base, "456", "operator") as other:  # another tenant's token
            probe = other.post(
                "/sedo/tenants/123/events",
                json={"source": "shop.payments", "detailType": "PaymentCaptured", "detail": {"orderId": "o-3"}},
            )
            assert probe.status_code == 403
        with api_client(base, "123", "operator") as sedo:
            bad = sedo.post("/sedo/tenants/123/events", json=[{"source": "sedo", "detailType": "X"}])
            assert bad.status_code == 400 and bad.headers["content-type"] == "application/problem+json"
            too_many = sedo.post("/sedo/tenants/123/events", json=[{"source": "a", "detailType": "b"}] * 11)
            assert too_many.status_code == 400
            placed = [
                {"source": "shop.orders", "detailType": "OrderPlaced", "detail": {"orderId": "o-3", "total": 9}},
                {"source": "shop.orders", "detailType": "OrderPlaced", "detail": {"orderId": "o-4", "total": 1e9}},
            ]
            accepted = sedo.post("/sedo/tenants/123/events", json=placed)
            assert accepted.status_code == 202 and accepted.json() == {"accepted": 2}
            settle(harness, events)
            [order] = executions(harness, "123", "order-events")
            assert order["name"] == "order-o-3"
            [rejected] = sedo.get("/sedo/tenants/123/events/rejected").json()
            assert rejected["definitionId"] == "order-events" and rejected["trigger"] == 0
            assert [e["path"] for e in rejected["errors"]] == ["/total"]
            with api_client(base, "456", "viewer") as other:
                assert other.get("/sedo/tenants/456/events/rejected").json() == []
            paid = sedo.post(
                "/sedo/tenants/123/events",
                json={
                    "source": "shop.payments",
                    "detailType": "PaymentCaptured",
                    "detail": {"orderId": "o-3", "amount": 9},
                },
            )
            assert paid.status_code == 202
            settle(harness, events)
            assert harness.services.executions.get("123", order["id"])["state"] == "ExecutionSucceeded"
