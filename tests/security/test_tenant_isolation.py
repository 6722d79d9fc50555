"""A caller of tenant A drives every operation against tenant B's real resources.

Tenant B ("victim") has a definition in two versions, an execution that waits for a
callback (with its real task token) and one that finished, with history. The
attacker holds an author token for tenant A and knows every id and token of B's.
Nothing of B's may be read or changed: every item of B's in the three tables is the
same afterwards (read with boto3), no message is queued, and no answer carries B's data.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sedo.config import Settings
from sedo.domain.language import load_text
from tests.security.conftest import assert_problem, queue_depth, stored_items
from tests.security.operations import PROTECTED, Operation
from tests.support import Harness, api_client, serve_api

pytestmark = pytest.mark.integration

VICTIM = "victim"
ATTACKER = "attacker"
SECRET = "victim-only-marker-7f3a"

APPROVAL = f"""
id: approval
description: {SECRET}
steps:
  - id: ask
    type: callback
    timeoutSeconds: 600
    resultPath: answer
    next: done
  - id: done
    type: succeed
"""

#: What the attacker sends as a definition: B's ids, none of B's content.
MIMIC = """
id: approval
steps:
  - id: ask
    type: callback
    next: done
  - id: done
    type: succeed
"""

ECHO = f"""
id: quick
steps:
  - id: say
    type: echo
    message: {SECRET}
    end: true
"""


@pytest.fixture
def victim(stack: Settings) -> dict[str, Any]:
    """B's resources, made through the services, and the queue drained."""
    harness = Harness(stack)
    definitions, executions = harness.services.definitions, harness.services.executions
    definitions.create(VICTIM, load_text(APPROVAL))
    definitions.update(VICTIM, "approval", load_text(APPROVAL))
    definitions.create(VICTIM, load_text(ECHO))
    done = executions.start(VICTIM, "quick", {"secret": SECRET}, name="named-run")[0]["id"]
    harness.drain()
    waiting = executions.start(VICTIM, "approval", {"secret": SECRET})[0]["id"]
    harness.drain(stop_after=1)  # to the callback; its timeout timer stays queued
    described = executions.get(VICTIM, waiting)
    assert described["awaiting"]["taskToken"]
    return {
        "harness": harness,
        "waiting": waiting,
        "done": done,
        "token": described["awaiting"]["taskToken"],
        "page_token": definitions.list(VICTIM, 1, None).next_token,
    }


@pytest.fixture
def attacker(stack: Settings) -> Iterator[httpx.Client]:
    with serve_api(stack) as base_url, api_client(base_url, tenant=ATTACKER, role="author") as http:
        yield http


def _body(op: Operation, victim: dict[str, Any]) -> dict[str, Any]:
    if "application/json" not in op.body_types:
        return {"content": MIMIC.encode(), "headers": {"Content-Type": op.body_types[0]}}
    bodies: dict[str, Any] = {
        "create_definition": load_text(MIMIC),
        "update_definition": load_text(MIMIC),
        "execute": {"input": {"secret": "x"}, "name": "named-run"},
        "complete_step": {"taskToken": victim["token"], "output": {"approved": True}},
        "fail_step": {"taskToken": victim["token"], "error": "Denied"},
        "heartbeat_step": {"taskToken": victim["token"]},
        "cancel_execution": {"reason": "attack"},
    }
    return {"json": bodies.get(op.operation_id, {})}


def _send(http: httpx.Client, op: Operation, tenant: str, victim: dict[str, Any], execution: str) -> httpx.Response:
    values = {"tenantId": tenant, "definitionId": "approval", "executionId": execution, "stepId": "ask"}
    kwargs = _body(op, victim) if op.body_types else {}
    lists = op.method == "GET" and op.path.endswith(("/definitions", "/executions", "/history"))
    params = {"nextToken": victim["page_token"]} if lists else {}
    if op.operation_id == "get_definition":
        params = {"version": 1}
    return http.request(op.method, op.url(values), params=params, **kwargs)


def test_a_token_for_tenant_a_reads_and_changes_nothing_of_tenant_b(
    stack: Settings, victim: dict[str, Any], attacker: httpx.Client
) -> None:
    before = stored_items(stack, VICTIM)
    depth = queue_depth(stack)
    assert before and depth > 0

    answers: list[httpx.Response] = []
    for op in PROTECTED:
        for execution in (victim["waiting"], victim["done"]):
            # B's path: the token does not grant tenant B.
            response = _send(attacker, op, VICTIM, victim, execution)
            assert_problem(response, 403)
            answers.append(response)
            # A's own path, naming B's resources (ids, task token, page token): A reaches only its
            # own tenant (where it may store an "approval" of its own), never B's.
            response = _send(attacker, op, ATTACKER, victim, execution)
            assert response.status_code < 500, (op, response.status_code, response.text)
            answers.append(response)

    # Nothing of B's changed (items compared attribute by attribute), nothing was queued for it.
    assert stored_items(stack, VICTIM) == before
    assert queue_depth(stack) == depth
    # Nothing of B's was read: no answer carries its data or its secrets.
    for response in answers:
        text = response.text
        for leaked in (SECRET, victim["token"], victim["waiting"].rsplit(":", 1)[1], victim["done"].rsplit(":", 1)[1]):
            sent = str(response.request.url) + response.request.content.decode()
            assert leaked not in text or leaked in sent, (response.request.url, text)  # an echo of the request

    # What A did to its own tenant stayed there.
    mine = stored_items(stack, ATTACKER)
    assert all(item["pk"]["S"].split("#")[0] == ATTACKER for item in mine)
    # And B's execution still waits at its callback with the same token.
    still = victim["harness"].services.executions.get(VICTIM, victim["waiting"])
    assert still["state"] == "StepStarted" and still["awaiting"]["taskToken"] == victim["token"]


def test_a_page_token_of_tenant_b_lists_nothing_for_tenant_a(victim: dict[str, Any], attacker: httpx.Client) -> None:
    for path in ("/sedo/tenants/attacker/definitions", "/sedo/tenants/attacker/executions"):
        assert_problem(attacker.get(path, params={"nextToken": victim["page_token"]}), 400)


def test_an_execution_id_naming_tenant_b_is_not_found_under_tenant_a(
    victim: dict[str, Any], attacker: httpx.Client
) -> None:
    for execution in (victim["waiting"], victim["done"]):
        for suffix in ("", "/history"):
            assert_problem(attacker.get(f"/sedo/tenants/attacker/executions/{execution}{suffix}"), 404)
        # the same key under A's tenant id: a different (absent) execution
        forged = "attacker:" + execution.split(":", 1)[1]
        assert_problem(attacker.get(f"/sedo/tenants/attacker/executions/{forged}"), 404)
