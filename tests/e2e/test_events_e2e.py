"""The acceptance story of issue 15 on `sedo local` (make run): events on the emulator's bus
(as `aws events put-events --endpoint-url ...` puts them) and through POST .../events."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from sedo.entrypoints.local.moto import free_port
from tests.e2e.conftest import LocalStack, running_stack
from tests.support import api_client

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalStack, str]]:
    port = free_port()
    with running_stack(tmp_path_factory.mktemp("sedo-events"), SEDO_MOTO_PORT=str(port)) as stack:
        yield stack, f"http://127.0.0.1:{port}"


def aws(endpoint: str, service: str) -> Any:
    return boto3.client(
        service, endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


def put(bus: Any, tenant: str, detail_type: str, source: str, detail: dict[str, Any]) -> None:
    entry = {
        "Source": source,
        "DetailType": detail_type,
        "Detail": json.dumps(detail),
        "Resources": [f"sedo:tenant/{tenant}"],
    }
    assert bus.put_events(Entries=[entry])["FailedEntryCount"] == 0


def eventually(check: Callable[[], Any], timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, "not within the time"
        time.sleep(0.3)


def test_the_acceptance_story(stack: tuple[LocalStack, str]) -> None:
    local, endpoint = stack
    bus, sqs = aws(endpoint, "events"), aws(endpoint, "sqs")
    # a rule of our own receives sedo's status-change events
    url = sqs.create_queue(QueueName="status-watcher")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bus.put_rule(
        Name="status-watcher", EventPattern=json.dumps({"source": ["sedo"], "detail-type": ["Execution Status Change"]})
    )
    bus.put_targets(Rule="status-watcher", Targets=[{"Id": "q", "Arn": arn}])

    with (
        api_client(local.base_url, tenant="123", role="author") as sedo,
        api_client(local.base_url, tenant="456", role="author") as other,
    ):
        for client in (sedo, other):
            tenant = "123" if client is sedo else "456"
            for name in ("order-events.yaml", "billing-events.yaml"):
                created = client.post(
                    f"/sedo/tenants/{tenant}/definitions",
                    content=(ROOT / "definitions" / name).read_bytes(),
                    headers={"Content-Type": "application/yaml"},
                )
                assert created.status_code == 201, created.text

        def listed(tenant_client: Any, tenant: str, definition: str) -> list[dict[str, Any]]:
            response = tenant_client.get(f"/sedo/tenants/{tenant}/executions", params={"definitionId": definition})
            return list(response.json())

        for _ in range(2):  # an OrderPlaced for tenant 123 put on the bus twice
            put(bus, "123", "OrderPlaced", "shop.orders", {"orderId": "o-1", "total": 30})
        put(bus, "456", "OrderPlaced", "shop.orders", {"orderId": "o-1", "total": 30})  # the same, another tenant's
        [order] = eventually(
            lambda: [e for e in listed(sedo, "123", "order-events") if e.get("step") == "await-payment"]
        )
        # its emit step started the second definition through that one's trigger
        eventually(lambda: [e for e in listed(sedo, "123", "billing-events") if e["state"] == "ExecutionSucceeded"])
        eventually(lambda: listed(other, "456", "order-events"))
        put(bus, "123", "PaymentCaptured", "shop.payments", {"orderId": "o-other", "amount": 1})  # uncorrelated
        put(bus, "123", "PaymentCaptured", "shop.payments", {"orderId": "o-1", "amount": 30})
        done = eventually(
            lambda: (
                (e := sedo.get(f"/sedo/tenants/123/executions/{order['id']}").json())["state"] == "ExecutionSucceeded"
                and e
            )
        )
        assert done["output"]["paid"] == 30
        assert len(listed(sedo, "123", "order-events")) == 1  # one execution for the event put twice
        assert len(listed(sedo, "123", "billing-events")) == 1

        # POST .../events does the same as the bus
        with api_client(local.base_url, tenant="123", role="operator") as operator:
            posted = operator.post(
                "/sedo/tenants/123/events",
                json={"source": "shop.orders", "detailType": "OrderPlaced", "detail": {"orderId": "o-2", "total": 5}},
            )
            assert posted.status_code == 202, posted.text
            [second] = eventually(
                lambda: [e for e in listed(sedo, "123", "order-events") if e.get("step") == "await-payment"]
            )
            paid = operator.post(
                "/sedo/tenants/123/events",
                json=[
                    {
                        "source": "shop.payments",
                        "detailType": "PaymentCaptured",
                        "detail": {"orderId": "o-2", "amount": 5},
                    }
                ],
            )
            assert paid.status_code == 202
            eventually(
                lambda: sedo.get(f"/sedo/tenants/123/executions/{second['id']}").json()["state"] == "ExecutionSucceeded"
            )

    seen: set[tuple[str, str]] = set()

    def statuses() -> bool:
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            detail = json.loads(message["Body"])["detail"]
            seen.add((detail["executionId"], detail["status"]))
        return {(order["id"], "STARTED"), (order["id"], "SUCCEEDED"), (second["id"], "SUCCEEDED")} <= seen

    eventually(statuses)
