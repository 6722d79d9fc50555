"""Tenants through the real API, processor and emulator: admin-only quotas, exact running
counts under concurrent starts and redelivery, the start-rate bucket, the usage ledger."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
import pytest

from sedo.adapters.aws import client
from sedo.adapters.dynamodb.quotas import DynamoQuotaStore
from sedo.domain.errors import TooManyRequests
from sedo.domain.language import load_text
from sedo.service_layer.quotas import Quotas, QuotaService
from tests.definitions import echo_wait_echo
from tests.support import Harness, api_client, events_of, mint, serve_api

pytestmark = pytest.mark.integration

T = "acme"
WAITER = echo_wait_echo("waiter", ("before", "pause", "after"), 60)


def admin_client(base_url: str) -> httpx.Client:
    return api_client(base_url, tenant=None, headers={"Authorization": f"Bearer {mint(None, admin=True)}"})


def start(http: httpx.Client, definition: str = "waiter") -> httpx.Response:
    return http.post(f"/sedo/tenants/{T}/definitions/{definition}/execute", json={"input": {}})


def test_five_concurrent_starts_over_a_quota_of_three_give_three_201s_and_two_429s(stack: Any) -> None:
    harness = Harness(stack)
    with (
        serve_api(stack, adapters=harness.adapters) as base_url,
        admin_client(base_url) as admin,
        api_client(base_url, T, "author") as author,
    ):
        assert author.put(f"/sedo/admin/tenants/{T}/quotas", json={"maxRunningExecutions": 1}).status_code == 403
        assert author.get(f"/sedo/admin/tenants/{T}/quotas").status_code == 403
        set_ = admin.put(f"/sedo/admin/tenants/{T}/quotas", json={"maxRunningExecutions": 3})
        assert set_.status_code == 200, set_.text
        assert set_.json()["maxRunningExecutions"] == 3 and set_.json()["defaults"] is False
        created = author.post(
            f"/sedo/tenants/{T}/definitions", content=WAITER, headers={"Content-Type": "application/yaml"}
        )
        assert created.status_code == 201, created.text

        responses: list[httpx.Response] = []
        barrier = threading.Barrier(5)

        def one() -> None:
            with api_client(base_url, T, "operator") as http:
                barrier.wait()
                responses.append(start(http))

        threads = [threading.Thread(target=one) for _ in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [201, 201, 201, 429, 429], [r.text for r in responses]
        for refused in (r for r in responses if r.status_code == 429):
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert int(refused.headers["retry-after"]) >= 1
            assert "maxRunningExecutions" in refused.json()["detail"]
        # Nothing of the refused starts was stored.
        assert len(author.get(f"/sedo/tenants/{T}/executions").json()) == 3
        assert admin.get(f"/sedo/admin/tenants/{T}/quotas").json()["running"] == 3
        assert start(author).status_code == 429

        harness.drain()  # the three run to their end
        listed = author.get(f"/sedo/tenants/{T}/executions").json()
        assert [e["state"] for e in listed] == ["ExecutionSucceeded"] * 3
        assert admin.get(f"/sedo/admin/tenants/{T}/quotas").json()["running"] == 0
        assert start(author).status_code == 201


def test_a_redelivered_end_gives_its_slot_back_once(stack: Any) -> None:
    harness = Harness(stack)
    quick = {"id": "quick", "steps": [{"id": "a", "type": "echo", "message": "x", "end": True}]}
    harness.services.definitions.create(T, quick)
    harness.services.definitions.create(T, load_text(WAITER))
    quotas = harness.services.quotas
    assert quotas is not None
    quotas.set(T, {"maxRunningExecutions": 2}, "2026-01-01T00:00:00Z")
    first = harness.services.executions.start(T, "quick", {})[0]["id"]
    harness.services.executions.start(T, "quick", {})
    messages = harness.receive()
    assert len(messages) == 2
    harness.invoke(messages)  # both end and give their slots back, but the batch is never acked
    assert quotas.describe(T)["running"] == 0
    harness.services.executions.start(T, "waiter", {})  # takes a slot and stays running
    time.sleep(1.5)  # the test stack's visibility timeout: the two come back (receive count 2)
    again = harness.receive()
    redelivered = [m for m in again if m["MessageId"] in {m["MessageId"] for m in messages}]
    assert len(redelivered) == 2 and all(m["Attributes"]["ApproximateReceiveCount"] == "2" for m in redelivered)
    harness.invoke(redelivered)  # the producers of the finished heads re-flush: release again, a no-op
    harness.ack(redelivered)
    assert quotas.describe(T)["running"] == 1
    assert harness.services.executions.get(T, first)["state"] == "ExecutionSucceeded"
    harness.drain()
    assert quotas.describe(T)["running"] == 0


def test_starts_per_second_is_a_token_bucket_of_one_second(stack: Any) -> None:
    now = [1_000_000]
    store = DynamoQuotaStore(client("dynamodb", stack), stack.tenants_table)
    service = QuotaService(store, Quotas(starts_per_second=2), now_ms=lambda: now[0])
    service.admit_start(T, "k1")
    service.admit_start(T, "k2")  # a second's worth of burst
    with pytest.raises(TooManyRequests) as refused:
        service.admit_start(T, "k3")
    assert refused.value.status == 429 and refused.value.retry_after == 1
    now[0] += 500  # half a second later: one token back
    service.admit_start(T, "k4")
    with pytest.raises(TooManyRequests):
        service.admit_start(T, "k5")


def test_running_slots_are_idempotent_sets_spread_over_shards(stack: Any) -> None:
    store = DynamoQuotaStore(client("dynamodb", stack), stack.tenants_table)
    service = QuotaService(store, Quotas(max_running_executions=100))
    keys = [f"k{i:03d}" for i in range(100)]
    for key in keys:
        assert service.admit_start(T, key)
    assert service.admit_start(T, keys[0])  # the same key again: already counted, not twice
    with pytest.raises(TooManyRequests):
        service.admit_start(T, "one-too-many")
    shards = store.running(T, 4)
    assert len(shards) == 4 and sum(len(v) for v in shards.values()) == 100  # 4 shards of 25
    assert service.release(T, keys[0]) and not service.release(T, keys[0])
    assert service.admit_start(T, "now-there-is-room")


def test_usage_reports_a_known_workload_exactly(stack: Any) -> None:
    harness = Harness(stack)
    harness.services.definitions.create(
        T,
        {
            "id": "three",
            "steps": [
                {"id": "a", "type": "echo", "message": "a", "next": "b"},
                {"id": "b", "type": "wait", "seconds": 5, "next": "c"},
                {"id": "c", "type": "echo", "message": "c", "end": True},
            ],
        },
    )
    ids = [harness.services.executions.start(T, "three", {})[0]["id"] for _ in range(4)]
    harness.drain()
    transitions = sum(
        1 for execution_id in ids for event in events_of(harness, T, execution_id) if event["type"] == "StepStarted"
    )
    with serve_api(stack, adapters=harness.adapters) as base_url, api_client(base_url, T, "viewer") as viewer:
        response = viewer.get(f"/sedo/tenants/{T}/usage")
        assert response.status_code == 200, response.text
        total = response.json()["total"]
        assert total["executionsStarted"] == 4
        assert total["executionsFinished"] == {"ExecutionSucceeded": 4}
        assert total["transitions"] == transitions == 12
        assert total["wakeUps"] >= 8  # a start and a timer each, at least
        assert total["requests"]["dynamodb"]["PutItem"] >= 4 and total["requests"]["sqs"]["SendMessageBatch"] >= 4
        assert total["estimatedUsd"] > 0
        assert viewer.get("/sedo/admin/usage").status_code == 403
        with admin_client(base_url) as admin:
            everyone = admin.get("/sedo/admin/usage").json()
            assert [row["tenantId"] for row in everyone["tenants"]] == [T]
            assert everyone["tenants"][0]["transitions"] == 12


def test_the_processors_log_lines_carry_emf_blobs_with_the_tenant_dimension(
    stack: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SEDO_METRICS", "1")
    harness = Harness(stack)
    harness.services.definitions.create(T, load_text(WAITER))
    harness.services.definitions.create(
        T, {"id": "boom", "steps": [{"id": "f", "type": "fail", "error": "Boom", "cause": "on purpose"}]}
    )
    harness.services.executions.start(T, "waiter", {})
    harness.services.executions.start(T, "boom", {})
    capsys.readouterr()
    harness.drain()
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    assert blobs, "no EMF blob was written"
    tenants: dict[str, float] = {}
    deployment: dict[str, float] = {}
    for blob in blobs:
        (directive,) = blob["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "sedo" and blob["service"] == "sedo"
        (dimensions,) = directive["Dimensions"]
        if "tenantId" in dimensions:
            assert blob["tenantId"] == T
            into = tenants
        else:  # the deployment's totals, which the alarms watch
            assert dimensions == ["service"]
            into = deployment
        for metric in directive["Metrics"]:
            name = metric["Name"] + (f".{blob['state']}" if "state" in blob else "")
            value = blob[metric["Name"]]
            into[name] = into.get(name, 0.0) + (sum(value) if isinstance(value, list) else value)
    assert tenants["Transitions"] == deployment["Transitions"] == 4  # before, pause, after; f
    assert tenants["WakeUps"] == deployment["WakeUps"]
    assert tenants["ExecutionsFinished.ExecutionSucceeded"] == 1
    assert tenants["ExecutionsFinished.ExecutionFailed"] == 1
    assert tenants["StepFailures"] == deployment["StepFailures"] == 1
    assert tenants["WakeUpLatency"] >= 0  # the timer's lateness (on the fake clock: 0)


def test_a_cancel_gives_the_slot_back_and_is_in_the_ledger(stack: Any) -> None:
    harness = Harness(stack)
    harness.services.definitions.create(T, load_text(WAITER))
    quotas, usage = harness.services.quotas, harness.services.usage
    assert quotas is not None and usage is not None
    quotas.set(T, {"maxRunningExecutions": 1}, "2026-01-01T00:00:00Z")
    execution_id = harness.services.executions.start(T, "waiter", {})[0]["id"]
    harness.drain(stop_after=1)  # to its wait
    with pytest.raises(TooManyRequests):
        harness.services.executions.start(T, "waiter", {})
    harness.services.executions.cancel(T, execution_id, "enough")
    assert quotas.describe(T)["running"] == 0
    harness.drain()
    total = usage.report(T, None, None)["total"]
    assert total["executionsStarted"] == 1 and total["executionsFinished"] == {"ExecutionCancelled": 1}
    assert total["transitions"] == 2  # before, pause
    assert harness.services.executions.start(T, "waiter", {})[1]
