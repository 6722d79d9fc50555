"""Operating executions over HTTP against the emulator: aliases, redrive, pause/resume,
search attributes, bulk operations (issue 18's acceptance)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest

from sedo.config import Settings
from sedo.domain.language import load_text
from tests.support import Harness, api_client, events_of, serve_api
from tests.targets import JsonTarget, serving

pytestmark = pytest.mark.integration

T = "ops"
OTHER = "ops-other"


@pytest.fixture
def harness(stack: Settings) -> Harness:
    return Harness(stack)


@pytest.fixture
def http(harness: Harness) -> Iterator[httpx.Client]:
    # The API's timers too are sent without delay (as the harness's), on the harness's clock.
    settings = replace(harness.settings, max_delay_seconds=0)
    with serve_api(settings, clock=harness.clock) as base_url, api_client(base_url, tenant=T) as client:
        yield client


def define(http: httpx.Client, text: str, tenant: str = T) -> str:
    document = load_text(text)
    response = http.post(f"/sedo/tenants/{tenant}/definitions", json=document)
    assert response.status_code == 201, response.text
    return str(document["id"])


def start(http: httpx.Client, definition: str, body: dict[str, Any], tenant: str = T) -> dict[str, Any]:
    response = http.post(f"/sedo/tenants/{tenant}/definitions/{definition}/execute", json=body)
    assert response.status_code in (200, 201), response.text
    return dict(response.json())


def show(http: httpx.Client, execution_id: str, tenant: str = T) -> dict[str, Any]:
    response = http.get(f"/sedo/tenants/{tenant}/executions/{execution_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def control(http: httpx.Client, execution_id: str, action: str, status: int = 200) -> dict[str, Any]:
    response = http.post(f"/sedo/tenants/{T}/executions/{execution_id}/{action}")
    assert response.status_code == status, response.text
    return dict(response.json())


def types_of(harness: Harness, execution_id: str) -> list[str]:
    return [e["type"] for e in events_of(harness, T, execution_id)]


CALLBACK = """
id: approve
searchAttributes: {customer: input.customer, size: input.size}
steps:
  - {id: ask, type: callback, resultPath: answer, next: done}
  - {id: done, type: succeed}
"""


# --- aliases ----------------------------------------------------------------------------


def test_an_alias_routes_by_weight_and_a_named_start_always_picks_the_same_version(http: httpx.Client) -> None:
    define(http, CALLBACK)
    assert http.put(f"/sedo/tenants/{T}/definitions/approve", json=load_text(CALLBACK)).status_code == 200
    alias = f"/sedo/tenants/{T}/definitions/approve/aliases/live"
    routing = [{"version": 1, "weight": 70}, {"version": 2, "weight": 30}]
    created = http.put(alias, json={"routing": routing})
    assert created.status_code == 201 and created.json()["routing"] == routing
    assert http.put(alias, json={"routing": routing}).status_code == 200  # changed, not created

    versions = [start(http, "approve", {"alias": "live", "input": {}})["definitionVersion"] for _ in range(100)]
    assert 15 <= versions.count(2) <= 45 and versions.count(1) + versions.count(2) == 100

    first = start(http, "approve", {"alias": "live", "name": "order-17", "input": {"n": 1}})
    again = start(http, "approve", {"alias": "live", "name": "order-17", "input": {"n": 1}})
    assert again["id"] == first["id"] and again["definitionVersion"] == first["definitionVersion"]
    shown = show(http, first["id"])
    assert shown["alias"] == "live" and shown["definitionVersion"] == first["definitionVersion"]
    listed = http.get(f"/sedo/tenants/{T}/executions/{first['id']}/history").json()
    assert listed[0]["alias"] == "live" and listed[0]["definitionVersion"] == first["definitionVersion"]

    # Bad routings are 400s naming what is wrong; the definition cannot go while the alias routes to it.
    for bad, words in (
        ([{"version": 1, "weight": 60}, {"version": 2, "weight": 30}], "sum to 90"),
        ([{"version": 7, "weight": 100}], "no version 7"),
        ([{"version": 1, "weight": 50}, {"version": 1, "weight": 50}], "same version twice"),
    ):
        problem = http.put(alias, json={"routing": bad})
        assert problem.status_code == 400 and words in problem.json()["detail"], problem.text
    refused = http.delete(f"/sedo/tenants/{T}/definitions/approve")
    assert refused.status_code == 409 and "'live'" in refused.json()["detail"]
    assert [a["name"] for a in http.get(f"/sedo/tenants/{T}/definitions/approve/aliases").json()] == ["live"]
    assert http.delete(alias).status_code == 204
    assert http.get(alias).status_code == 404
    assert (
        http.post(f"/sedo/tenants/{T}/definitions/approve/execute", json={"alias": "live", "input": {}}).status_code
        == 404
    )
    assert http.delete(f"/sedo/tenants/{T}/definitions/approve").status_code == 204


# --- redrive ----------------------------------------------------------------------------


class Flaky(JsonTarget):
    """Answers 500 to its first ``fail_first`` calls, then 200."""

    calls = 0
    fail_first = 2

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        Flaky.calls += 1
        self.answer(500 if Flaky.calls <= Flaky.fail_first else 200, {"call": Flaky.calls})


@pytest.fixture
def flaky() -> Iterator[str]:
    Flaky.calls = 0
    with serving(Flaky, "/charge") as url:
        yield url


def test_a_failed_execution_redrives_at_the_failed_step_and_succeeds(
    harness: Harness, http: httpx.Client, flaky: str
) -> None:
    define(
        http,
        f"""
id: charge
timeoutSeconds: 3600
steps:
  - {{id: before, type: pass, value: {{amount: 5}}, resultPath: prepared, next: call}}
  - id: call
    type: invoke
    http: {{url: "{flaky}", method: POST}}
    input: prepared
    retry: [{{errors: [Http.500], maxAttempts: 1, intervalSeconds: 1}}]
    resultPath: charged
    next: done
  - {{id: done, type: succeed}}
""",
    )
    execution = start(http, "charge", {"input": {"order": 1}})["id"]
    harness.drain()
    failed = show(http, execution)
    assert failed["state"] == "ExecutionFailed" and failed["error"] == "Http.500" and Flaky.calls == 2
    assert "redriveCount" not in failed

    redriven = control(http, execution, "redrive")
    assert redriven["state"] == "ExecutionRedriven" and redriven["redriveCount"] == 1
    assert control(http, execution, "redrive", 409)["status"] == 409  # it is running now
    harness.drain()
    done = show(http, execution)
    assert done["state"] == "ExecutionSucceeded" and done["redriveCount"] == 1 and Flaky.calls == 3

    events = events_of(harness, T, execution)
    started = [e["stepId"] for e in events if e["type"] == "StepStarted"]
    assert started.count("before") == 1 and started.count("call") == 3  # two failed attempts, one redriven
    types = [e["type"] for e in events]
    assert types.index("ExecutionFailed") < types.index("ExecutionRedriven") < types.index("ExecutionSucceeded")
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))  # old events kept, none repeated
    redrive_event = events[types.index("ExecutionRedriven")]
    assert redrive_event["stepId"] == "call" and redrive_event["redriveCount"] == 1
    problem = control(http, execution, "redrive", 409)  # succeeded: nothing to redrive
    assert "ExecutionSucceeded" in problem["detail"]


# --- pause / resume ---------------------------------------------------------------------


def test_a_paused_execution_holds_at_its_await_point_until_resumed(harness: Harness, http: httpx.Client) -> None:
    define(
        http,
        """
id: waits
steps:
  - {id: nap, type: wait, seconds: 60, next: after}
  - {id: after, type: echo, message: woke, end: true}
""",
    )
    execution = start(http, "waits", {"input": {}})["id"]
    harness.drain(stop_after=1)  # runs to the wait
    paused = control(http, execution, "pause")
    assert paused["state"] == "ExecutionPaused" and paused["paused"] is True
    assert control(http, execution, "pause")["state"] == "ExecutionPaused"  # again: no change
    harness.drain()  # the timer comes due while paused: held, nothing advances
    held = show(http, execution)
    assert held["state"] == "ExecutionPaused" and held["step"] == "nap"
    assert "StepSucceeded" not in types_of(harness, execution)

    resumed = control(http, execution, "resume")
    assert resumed["state"] == "ExecutionResumed" and "paused" not in resumed
    harness.drain()  # the timer that came due while paused fires now
    assert show(http, execution)["state"] == "ExecutionSucceeded"
    types = types_of(harness, execution)
    assert types.index("ExecutionPaused") < types.index("ExecutionResumed") < types.index("ExecutionSucceeded")


def test_a_completion_while_paused_is_held_and_a_pause_outlasting_a_timeout_does_not_fail_it(
    harness: Harness, http: httpx.Client
) -> None:
    define(
        http,
        """
id: slow
steps:
  - {id: ask, type: callback, timeoutSeconds: 30, resultPath: answer, next: done}
  - {id: done, type: succeed}
""",
    )
    execution = start(http, "slow", {"input": {}})["id"]
    harness.drain(stop_after=1)
    token = show(http, execution)["awaiting"]["taskToken"]
    control(http, execution, "pause")
    harness.drain()  # the step's 30 s timeout comes due while paused: it does not fail the step
    assert show(http, execution)["state"] == "ExecutionPaused"
    answer = http.post(
        f"/sedo/tenants/{T}/executions/{execution}/steps/ask/complete", json={"taskToken": token, "output": {"ok": 1}}
    )
    assert answer.status_code == 202, answer.text
    harness.drain()  # held, not applied
    assert show(http, execution)["state"] == "ExecutionPaused"
    resumed = control(http, execution, "resume")
    assert resumed["state"] == "ExecutionResumed"
    harness.deliver_only("complete")  # the held completion, sent again now; the timeout, re-armed 30 s on
    harness.drain()
    done = show(http, execution)
    assert done["state"] == "ExecutionSucceeded", done
    assert "States.Timeout" not in json.dumps(events_of(harness, T, execution))


# --- search attributes ------------------------------------------------------------------


def listed_ids(http: httpx.Client, params: dict[str, Any]) -> list[str]:
    ids: list[str] = []
    while True:
        response = http.get(f"/sedo/tenants/{T}/executions", params=params)
        assert response.status_code == 200, response.text
        ids.extend(e["id"] for e in response.json())
        token = response.headers.get("Sedo-Next-Token")
        if not token:
            return ids
        params = {**params, "nextToken": token}


def test_executions_are_found_by_search_attribute_across_pages(harness: Harness, http: httpx.Client) -> None:
    define(http, CALLBACK)
    define(http, CALLBACK.replace("id: approve", "id: other"))
    c1 = [start(http, "approve", {"input": {"customer": "c1", "size": i}})["id"] for i in range(7)]
    c2 = [start(http, "approve", {"input": {"customer": "c2", "size": 3}})["id"] for _ in range(5)]
    elsewhere = start(http, "other", {"input": {"customer": "c1"}})["id"]

    found = listed_ids(http, {"attr.customer": "c1", "limit": 2})
    assert sorted(found) == sorted([*c1, elsewhere]) and len(found) == len(set(found))
    assert sorted(listed_ids(http, {"attr.customer": "c1", "definitionId": "approve", "limit": 3})) == sorted(c1)
    assert sorted(listed_ids(http, {"attr.customer": "c2", "attr.size": "3"})) == sorted(c2)
    assert listed_ids(http, {"attr.customer": "c1", "attr.size": "3"}) == [c1[3]]
    assert listed_ids(http, {"attr.customer": "nobody"}) == []
    harness.drain()  # all wait at the callback now
    assert len(listed_ids(http, {"attr.customer": "c1", "state": "StepStarted"})) == 8
    assert listed_ids(http, {"attr.customer": "c1", "state": "ExecutionSucceeded"}) == []
    assert show(http, c1[0])["searchAttributes"] == {"customer": "c1", "size": "0"}
    # Any other query parameter is still refused, and a listing's token is not a search's.
    assert http.get(f"/sedo/tenants/{T}/executions", params={"customer": "c1"}).status_code == 400
    token = http.get(f"/sedo/tenants/{T}/executions", params={"limit": 1}).headers["Sedo-Next-Token"]
    bad = http.get(f"/sedo/tenants/{T}/executions", params={"attr.customer": "c1", "nextToken": token})
    assert bad.status_code == 400


# --- bulk operations --------------------------------------------------------------------


def test_a_bulk_cancel_ends_every_match_and_nothing_else(harness: Harness, http: httpx.Client) -> None:
    define(http, CALLBACK)
    matching = [start(http, "approve", {"input": {"customer": "c1"}})["id"] for _ in range(30)]
    others = [start(http, "approve", {"input": {"customer": "c2"}})["id"] for _ in range(5)]
    harness.drain()

    body = {"action": "cancel", "name": "cut-c1", "filter": {"attr.customer": "c1", "state": "StepStarted"}}
    accepted = http.post(f"/sedo/tenants/{T}/bulk", json=body)
    assert accepted.status_code == 202, accepted.text
    operation = accepted.json()
    assert operation["state"] == "running" and accepted.headers["Location"].endswith(operation["id"])
    harness.drain()
    progress = http.get(f"/sedo/tenants/{T}/bulk/{operation['id']}").json()
    assert progress["state"] == "succeeded", progress
    assert (progress["matched"], progress["done"], progress["failed"]) == (30, 30, 0)
    assert progress["batches"] >= 2  # bounded batches of 25
    assert {show(http, e)["state"] for e in matching} == {"ExecutionCancelled"}
    assert {show(http, e)["state"] for e in others} == {"StepStarted"}

    again = http.post(f"/sedo/tenants/{T}/bulk", json=body)  # safe to repeat: the same operation
    assert again.status_code == 200 and again.json()["id"] == operation["id"]
    harness.drain()
    assert http.get(f"/sedo/tenants/{T}/bulk/{operation['id']}").json()["done"] == 30
    conflict = http.post(f"/sedo/tenants/{T}/bulk", json={**body, "action": "pause"})
    assert conflict.status_code == 409
    for bad in ({"action": "explode"}, {"action": "cancel", "filter": {"colour": "red"}}):
        assert http.post(f"/sedo/tenants/{T}/bulk", json=bad).status_code == 400


def test_a_bulk_operation_never_touches_another_tenant(harness: Harness, http: httpx.Client) -> None:
    define(http, CALLBACK)
    mine = [start(http, "approve", {"input": {"customer": "c1"}})["id"] for _ in range(3)]
    harness.drain()
    with serve_api(harness.settings) as base_url, api_client(base_url, tenant=OTHER, role="operator") as other:
        accepted = other.post(f"/sedo/tenants/{OTHER}/bulk", json={"action": "cancel", "filter": {}})
        assert accepted.status_code == 202
        harness.drain()
        progress = other.get(f"/sedo/tenants/{OTHER}/bulk/{accepted.json()['id']}").json()
        assert (progress["state"], progress["matched"]) == ("succeeded", 0)
        assert other.get(f"/sedo/tenants/{T}/bulk/{accepted.json()['id']}").status_code == 403
        assert other.get(f"/sedo/tenants/{OTHER}/bulk/{accepted.json()['id']}x").status_code == 404
    assert {show(http, e)["state"] for e in mine} == {"StepStarted"}
    assert http.get(f"/sedo/tenants/{T}/bulk/{accepted.json()['id']}").status_code == 404


class PerItem(JsonTarget):
    """Answers 500 to the first call for an odd ``n``, 200 otherwise; counts the calls per ``n``."""

    calls: dict[int, int] = {}

    def do_POST(self) -> None:
        n = int(json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))["n"])
        PerItem.calls[n] = PerItem.calls.get(n, 0) + 1
        self.answer(500 if n % 2 and PerItem.calls[n] == 1 else 200, {"n": n, "call": PerItem.calls[n]})


@pytest.mark.parametrize("concurrency", [0, 1])
def test_a_redriven_map_runs_only_the_iterations_that_did_not_succeed(
    harness: Harness, http: httpx.Client, concurrency: int
) -> None:
    PerItem.calls = {}
    with serving(PerItem, "/item") as url:
        define(
            http,
            f"""
id: fan
steps:
  - id: each
    type: map
    items: input.items
    maxConcurrency: {concurrency}
    toleratedFailureCount: 1
    iterator:
      steps:
        - id: call
          type: invoke
          http: {{url: "{url}", method: POST}}
          input: "{{n: input}}"
          output: n
          end: true
    resultPath: results
    next: done
  - {{id: done, type: succeed}}
""",
        )
        items = [2, 4, 1, 6, 3, 8]
        execution = start(http, "fan", {"input": {"items": items}})["id"]
        harness.drain()
        failed = show(http, execution)
        assert failed["state"] == "ExecutionFailed" and failed["error"] == "States.ItemsFailed", failed
        first = dict(PerItem.calls)
        assert first.get(1) == 1 or first.get(3) == 1  # at least two odd items failed (one is tolerated)

        control(http, execution, "redrive")
        harness.drain()
        done = show(http, execution)
        assert done["state"] == "ExecutionSucceeded", done
        # Every item that succeeded the first time ran once; the others ran (again) once more.
        for n in items:
            again = PerItem.calls[n] - first.get(n, 0)
            succeeded_first = first.get(n) == 1 and n % 2 == 0
            assert again == (0 if succeeded_first else 1), (n, first, PerItem.calls)
        results = [
            e for e in events_of(harness, T, execution) if e["type"] == "StepSucceeded" and e["stepId"] == "each"
        ]
        assert results[-1]["output"] == items
