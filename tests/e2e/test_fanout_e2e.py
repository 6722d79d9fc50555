"""A map over 1,000 items with maxConcurrency 50 on `sedo local`, its iterator invoking a
local function: every item processed once, results in order, one continuation; and the
same with every message delivered twice."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.e2e.conftest import LocalStack
from tests.support import api_client

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TENANT = "fanout-e2e"
ITEMS = 1000
DEFINITION = """
id: score-many
steps:
  - id: score-all
    type: map
    items: "input.applicants"
    maxConcurrency: 50
    iterator:
      steps:
        - id: score
          type: invoke
          function: credit-score
          input: "input"
          output: "score"
          end: true
    resultPath: scores
    next: done
  - id: done
    type: succeed
    input: scores
"""


def run_map(stack: LocalStack) -> None:
    applicants = [{"id": f"a{i}", "income": 1000.0 * (i % 500), "debts": 0} for i in range(ITEMS)]
    expected = [max(300, min(850, int(300 + (i % 500)))) for i in range(ITEMS)]
    with api_client(stack.base_url, tenant=TENANT, role="author") as sedo:
        created = sedo.post(
            f"/sedo/tenants/{TENANT}/definitions", content=DEFINITION, headers={"Content-Type": "application/yaml"}
        )
        assert created.status_code in (201, 409), created.text
        started = sedo.post(
            f"/sedo/tenants/{TENANT}/definitions/score-many/execute", json={"input": {"applicants": applicants}}
        )
        assert started.status_code == 201, started.text
        execution_id = started.json()["id"]
        deadline = time.monotonic() + 600
        seen_progress: list[dict[str, Any]] = []
        refusals = 0
        while True:
            answer = sedo.get(f"/sedo/tenants/{TENANT}/executions/{execution_id}")
            if answer.status_code in (429, 503) and answer.headers.get("Retry-After") and refusals < 5:
                refusals += 1  # "try again shortly", as a client of a busy service is told
                time.sleep(float(answer.headers["Retry-After"]))
                continue
            assert answer.status_code == 200, (answer.status_code, answer.text, stack.log.read_text()[-4000:])
            execution = answer.json()
            if "progress" in execution:
                seen_progress.append(execution["progress"])
            if execution["state"] in ("ExecutionSucceeded", "ExecutionFailed"):
                break
            assert time.monotonic() < deadline, execution
            time.sleep(1)
        assert execution["state"] == "ExecutionSucceeded", execution
        assert execution["output"] == expected  # every item, in item order
        assert all(p["running"] <= 50 and p["total"] == ITEMS for p in seen_progress)
        history = sedo.get(f"/sedo/tenants/{TENANT}/executions/{execution_id}/history").json()
        types = [(e["type"], e.get("stepId")) for e in history]
        assert types.count(("StepSucceeded", "score-all")) == 1  # the map continued exactly once
        assert types.count(("ExecutionSucceeded", "done")) == 1
        assert [e["id"] for e in history] == list(range(1, len(history) + 1))


def test_map_over_a_thousand_items(local_stack: LocalStack) -> None:
    run_map(local_stack)


def test_map_over_a_thousand_items_with_every_message_delivered_twice(duplicating_stack: LocalStack) -> None:
    run_map(duplicating_stack)
