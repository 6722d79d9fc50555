"""The README walk-through, against `sedo local`, over HTTP like curl."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import LocalStack
from tests.support import api_client

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = (ROOT / "definitions" / "example-definition.yaml").read_bytes()


def _the_execution_once(sedo: Any, state: str, within: float, every: float) -> dict[str, Any]:
    """Tenant 123's one execution, as soon as it is in ``state`` (polled ``every`` seconds, for at
    most ``within`` seconds)."""
    deadline = time.monotonic() + within
    while True:
        [execution] = sedo.get("/sedo/tenants/123/executions").json()
        if execution["state"] == state:
            return dict(execution)
        assert time.monotonic() < deadline, execution
        time.sleep(every)


def test_banner_prints_base_url_and_a_working_curl_line(local_stack: LocalStack) -> None:
    output = local_stack.output()
    assert local_stack.base_url in output
    assert "curl" in output and "definitions/example-definition.yaml" in output


def test_readme_walkthrough(local_stack: LocalStack) -> None:
    with api_client(local_stack.base_url, tenant="123", role="author") as sedo:
        created = sedo.post(
            "/sedo/tenants/123/definitions", content=EXAMPLE, headers={"Content-Type": "application/yaml"}
        )
        assert created.status_code == 201, created.text
        assert created.json() == {"id": "example-definition", "tenantId": "123", "version": 1}

        listed = sedo.get("/sedo/tenants/123/definitions").json()
        assert [d["id"] for d in listed] == ["example-definition"]

        bad = sedo.post("/sedo/tenants/123/definitions/example-definition/execute", json={"input": {"bar": "baz"}})
        assert bad.status_code == 400
        assert bad.headers["content-type"] == "application/problem+json"
        problem = bad.json()
        assert problem["title"] == "input does not pass inputSchema validation"
        assert "Additional properties are not allowed ('bar' was unexpected)" in problem["detail"]

        good = sedo.post("/sedo/tenants/123/definitions/example-definition/execute", json={"input": {"foo": "bar"}})
        assert good.status_code == 201, good.text
        started = good.json()
        assert started["state"] == "ExecutionSubmitted" and started["tenantId"] == "123"
        assert started["id"].startswith("123:example-definition:")

        execution = _the_execution_once(sedo, "StepStarted", within=20, every=0.2)
        assert (execution["id"], execution["step"]) == (started["id"], "wait-some-time")

        time.sleep(45)
        execution = _the_execution_once(sedo, "ExecutionSucceeded", within=30, every=0.5)
        assert execution["step"] == "last-echo"

        history = sedo.get(f"/sedo/tenants/123/executions/{started['id']}/history").json()
        assert [e["id"] for e in history] == list(range(1, 10))
        assert [(e["type"], e.get("stepId")) for e in history] == [
            ("ExecutionSubmitted", None),
            ("ExecutionStarted", None),
            ("StepStarted", "initial-echo"),
            ("StepSucceeded", "initial-echo"),
            ("StepStarted", "wait-some-time"),
            ("StepSucceeded", "wait-some-time"),
            ("StepStarted", "last-echo"),
            ("StepSucceeded", "last-echo"),
            ("ExecutionSucceeded", "last-echo"),
        ]

        # versions and delete, as the README shows
        put = sedo.put(
            "/sedo/tenants/123/definitions/example-definition",
            content=EXAMPLE,
            headers={"Content-Type": "application/yaml"},
        )
        assert put.status_code == 200 and put.json()["version"] == 2
        assert (
            sedo.get("/sedo/tenants/123/definitions/example-definition", params={"version": 1}).json()["version"] == 1
        )
        assert sedo.get("/sedo/tenants/123/definitions/example-definition").json()["version"] == 2
        assert sedo.delete("/sedo/tenants/123/definitions/example-definition").status_code == 204
        gone = sedo.get("/sedo/tenants/123/definitions/example-definition")
        assert gone.status_code == 404 and gone.headers["content-type"] == "application/problem+json"

    with api_client(local_stack.base_url, tenant="456", role="author") as other:
        assert other.get("/sedo/tenants/456/definitions").json() == []
        assert other.get("/sedo/tenants/456/executions").json() == []
