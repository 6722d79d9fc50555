"""Every example in definitions/ runs to its expected end through the HTTP API of `sedo local`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import LocalStack
from tests.support import api_client

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
TENANT = "e2e-examples"


def store(sedo: Any, name: str, replace: tuple[str, str] | None = None) -> None:
    text = (ROOT / "definitions" / name).read_text()
    if replace:
        text = text.replace(*replace)
    response = sedo.post(
        f"/sedo/tenants/{TENANT}/definitions", content=text.encode(), headers={"Content-Type": "application/yaml"}
    )
    assert response.status_code in (201, 409), response.text


def execute(sedo: Any, definition: str, payload: Any) -> str:
    response = sedo.post(f"/sedo/tenants/{TENANT}/definitions/{definition}/execute", json={"input": payload})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def wait_for(sedo: Any, execution_id: str, done: Any, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        execution = sedo.get(f"/sedo/tenants/{TENANT}/executions/{execution_id}").json()
        if done(execution):
            return dict(execution)
        assert time.monotonic() < deadline, execution
        time.sleep(0.2)


def finished(execution: dict[str, Any]) -> bool:
    return execution["state"] in ("ExecutionSucceeded", "ExecutionFailed", "ExecutionCancelled")


ITEMS = [{"sku": "A", "qty": 1, "price": 30.0}, {"sku": "B", "qty": 2, "price": 12.5}]


def test_order_flow_small_order_with_retries(local_stack: LocalStack) -> None:
    with api_client(local_stack.base_url, tenant=TENANT, role="author") as sedo:
        store(sedo, "order-flow.yaml")
        execution = wait_for(sedo, execute(sedo, "order-flow", {"orderId": "o-1", "items": ITEMS}), finished)
        assert execution["state"] == "ExecutionSucceeded", execution
        assert execution["output"]["total"] == 42.5
        history = sedo.get(f"/sedo/tenants/{TENANT}/executions/{execution['id']}/history").json()
        busy = [e for e in history if e["type"] == "StepFailed" and e["stepId"] == "reserve-stock"]
        assert [e["error"] for e in busy] == ["InventoryBusy", "InventoryBusy"]


@pytest.mark.parametrize(
    ("approved", "price", "state", "error"),
    [
        (True, 2000.0, "ExecutionSucceeded", None),
        (False, 2000.0, "ExecutionFailed", "OrderRejected"),
        (True, 9000.0, "ExecutionFailed", "OrderRejected"),  # approved, then the card declines
    ],
)
def test_order_flow_human_approval(
    local_stack: LocalStack, approved: bool, price: float, state: str, error: str | None
) -> None:
    with api_client(local_stack.base_url, tenant=TENANT, role="author") as sedo:
        store(sedo, "order-flow.yaml")
        order = {"orderId": f"o-{price}-{approved}", "items": [{"sku": "Z", "qty": 1, "price": price}]}
        execution_id = execute(sedo, "order-flow", order)
        waiting = wait_for(sedo, execution_id, lambda e: "awaiting" in e)
        assert waiting["step"] == "manager-approval"
        token = waiting["awaiting"]["taskToken"]
        url = f"/sedo/tenants/{TENANT}/executions/{execution_id}/steps/manager-approval/complete"
        stale = sedo.post(url, json={"taskToken": "f" * 40, "output": {"approved": True}})
        assert stale.status_code == 409 and stale.headers["content-type"] == "application/problem+json"
        accepted = sedo.post(url, json={"taskToken": token, "output": {"approved": approved}})
        assert accepted.status_code == 202, accepted.text
        execution = wait_for(sedo, execution_id, finished)
        assert execution["state"] == state and execution.get("error") == error, execution
        again = sedo.post(url, json={"taskToken": token, "output": {"approved": approved}})
        assert again.status_code == 409


def test_http_check(local_stack: LocalStack) -> None:
    port = local_stack.base_url.rsplit(":", 1)[1]
    with api_client(local_stack.base_url, tenant=TENANT, role="author") as sedo:
        store(sedo, "http-check.yaml", replace=("127.0.0.1:3000", f"127.0.0.1:{port}"))
        execution = wait_for(sedo, execute(sedo, "http-check", {}), finished)
        assert execution["state"] == "ExecutionSucceeded", execution
        assert execution["output"] == {"service": "sedo", "status": "ok"}


def test_every_example_definition_is_accepted(local_stack: LocalStack) -> None:
    with api_client(local_stack.base_url, tenant=TENANT + "-all", role="author") as sedo:
        for path in sorted((ROOT / "definitions").glob("*.yaml")):
            response = sedo.post(
                f"/sedo/tenants/{TENANT}-all/definitions",
                content=path.read_bytes(),
                headers={"Content-Type": "application/yaml"},
            )
            assert response.status_code == 201, (path.name, response.text)
