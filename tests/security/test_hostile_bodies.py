"""Oversize, deeply nested and non-UTF-8 bodies on every operation that takes one.

Each is a 4xx problem+json from an authenticated caller, and nothing is stored or
queued for its tenant. The operations come from the spec.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sedo.config import Settings
from sedo.domain import limits
from sedo.domain.errors import TooLarge
from sedo.domain.language import load_text
from sedo.domain.protocol import WakeKind
from tests.security.conftest import assert_problem, queue_depth, stored_items
from tests.security.operations import WITH_BODY, Operation
from tests.support import Harness, api_client, mint

pytestmark = pytest.mark.integration

TENANT = "hostile"


@pytest.fixture(scope="module")
def http(api: str) -> Iterator[httpx.Client]:
    """The tenant's author who is a platform admin too: past authorization on every operation."""
    token = mint(TENANT, "author", admin=True)
    with api_client(api, tenant=None, headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


@pytest.fixture(autouse=True)
def nothing_stored(module_stack: Settings) -> Iterator[None]:
    depth = queue_depth(module_stack)
    yield
    assert stored_items(module_stack, TENANT) == []
    assert queue_depth(module_stack) == depth


def url(op: Operation) -> str:
    return op.url({"tenantId": TENANT, "definitionId": "d1", "executionId": f"{TENANT}:d1:0abc", "stepId": "s1"})


def send(http: httpx.Client, op: Operation, media: str, content: Any) -> httpx.Response:
    return http.request(op.method, url(op), content=content, headers={"Content-Type": media})


def cases() -> list[tuple[Operation, str]]:
    return [(op, media) for op in WITH_BODY for media in op.body_types]


def ids(case: tuple[Operation, str]) -> str:
    return f"{case[0]}-{case[1].split('/')[1]}"


@pytest.mark.parametrize("case", cases(), ids=ids)
def test_a_body_over_the_request_limit_is_413(http: httpx.Client, case: tuple[Operation, str]) -> None:
    op, media = case
    big = b'{"input": "' + b"x" * (limits.MAX_REQUEST_BYTES + 10) + b'"}'
    problem = assert_problem(send(http, op, media, big), 413)
    assert "5 MiB" in problem["detail"]


@pytest.mark.parametrize("case", cases(), ids=ids)
def test_a_streamed_body_without_length_over_the_limit_is_413(http: httpx.Client, case: tuple[Operation, str]) -> None:
    op, media = case

    def chunks() -> Iterator[bytes]:
        for _ in range(limits.MAX_REQUEST_BYTES // 65536 + 2):
            yield b" " * 65536

    assert_problem(send(http, op, media, chunks()), 413)


@pytest.mark.parametrize("case", cases(), ids=ids)
def test_a_body_nested_too_deeply_is_400(http: httpx.Client, case: tuple[Operation, str]) -> None:
    op, media = case
    for depth in (limits.MAX_DEPTH + 1, 100_000):
        body = b"[" * depth + b"]" * depth
        if "json" in media:
            body = b'{"input": ' + body + b"}"
        problem = assert_problem(send(http, op, media, body), 400)
        assert "levels deep" in json.dumps(problem), problem


@pytest.mark.parametrize("case", cases(), ids=ids)
def test_a_body_that_is_not_utf8_is_400(http: httpx.Client, case: tuple[Operation, str]) -> None:
    op, media = case
    for body in (b'{"input": "caf\xe9"}', b"\xff\xfe{\x00}\x00", b"id: d\xc3(\n"):
        problem = assert_problem(send(http, op, media, body), 400)
        assert "UTF-8" in json.dumps(problem), problem


@pytest.mark.parametrize("case", cases(), ids=ids)
def test_a_media_type_the_operation_does_not_take_is_sedos_415(http: httpx.Client, case: tuple[Operation, str]) -> None:
    op, _ = case
    for media in ("text/plain", "application/xml", "application/x-www-form-urlencoded"):
        problem = assert_problem(send(http, op, media, b"id: d1"), 415)
        accepted = " or ".join(op.body_types)
        assert problem["detail"] == f"the body's media type is {media}; send {accepted} (set the Content-Type header)"
        assert problem["errors"] == [{"path": "/", "message": f"media type {media} is not accepted; use {accepted}"}]


@pytest.mark.parametrize("op", [op for op in WITH_BODY if op.body_required], ids=str)
def test_a_missing_required_body_is_sedos_400(http: httpx.Client, op: Operation) -> None:
    for headers in ({}, {"Content-Type": "application/json"}):
        problem = assert_problem(http.request(op.method, url(op), headers=headers), 400)
        if op.operation_id not in ("create_definition", "update_definition"):  # YAML ones: the parser's words
            assert problem["detail"].startswith("this operation needs a JSON body"), problem
        assert problem["errors"], problem


@pytest.mark.parametrize("op", [op for op in WITH_BODY if "application/json" in op.body_types], ids=str)
def test_a_body_off_the_schema_names_every_violation(http: httpx.Client, op: Operation) -> None:
    problem = assert_problem(send(http, op, "application/json", b'{"zzUnknown": 1, "input": 1, "name": 7}'), 400)
    assert "Failed validating" not in problem["detail"] and "On instance" not in problem["detail"]
    if op.operation_id in ("create_definition", "update_definition"):
        return  # the definition language's own problems (tested in tests/unit/test_language.py)
    paths = [e["path"] for e in problem["errors"]]
    assert "/" in paths, problem
    assert any("zzUnknown" in e["message"] for e in problem["errors"]), problem


def test_execution_input_over_the_body_limit_is_413(http: httpx.Client) -> None:
    """Inputs may be up to 10 MiB, but through the API a body is at most 5 MiB."""
    text = "x" * limits.MAX_REQUEST_BYTES
    problem = assert_problem(http.post(f"/sedo/tenants/{TENANT}/definitions/d1/execute", json={"input": text}), 413)
    assert "5 MiB" in problem["detail"]


def test_execution_input_over_its_limit_is_413() -> None:
    text = "é" * (limits.MAX_INPUT_BYTES // 6 + 1)  # stored as \\u00e9: six bytes each
    with pytest.raises(TooLarge, match="larger than 10 MiB") as refused:
        limits.check_input(text)
    assert refused.value.status == 413


def test_a_definition_over_its_limit_is_refused(http: httpx.Client) -> None:
    document = {
        "id": "big",
        "steps": [{"id": f"s{i}", "type": "echo", "message": "x" * 2000, "next": f"s{i + 1}"} for i in range(150)],
    }
    document["steps"][-1] = {"id": "s149", "type": "echo", "message": "end", "end": True}
    response = http.post(f"/sedo/tenants/{TENANT}/definitions", json=document)
    assert response.status_code in (400, 413), response.text
    problem = assert_problem(response, response.status_code)
    assert "at most" in json.dumps(problem)


def test_input_schema_that_could_run_unbounded_is_refused_at_store_time(http: httpx.Client) -> None:
    echo = [{"id": "a", "type": "echo", "message": "x", "end": True}]
    schemas = {
        "nested quantifier": {"type": "string", "pattern": "^(a+)+$"},
        "ambiguous alternation": {"type": "object", "patternProperties": {"^(a|aa)*$": {}}},
        "endless reference": {"$defs": {"a": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"},
        "too deep": json.loads('{"items": ' * 40 + "{}" + "}" * 40),
    }
    for name, schema in schemas.items():
        response = http.post(
            f"/sedo/tenants/{TENANT}/definitions", json={"id": "s", "inputSchema": schema, "steps": echo}
        )
        problem = assert_problem(response, 400)
        assert problem["errors"] and problem["errors"][0]["path"].startswith("/inputSchema"), (name, problem)


def test_callback_output_over_the_stash_limit_is_413_and_the_step_keeps_waiting(
    module_stack: Settings, http: httpx.Client
) -> None:
    harness = Harness(module_stack)
    tenant = "hostile-callback"
    harness.services.definitions.create(
        tenant,
        load_text("id: wait\nsteps:\n  - {id: ask, type: callback, next: done}\n  - {id: done, type: succeed}\n"),
    )
    execution = harness.services.executions.start(tenant, "wait", {})[0]["id"]
    harness.drain(stop_after=1)
    token = harness.services.executions.get(tenant, execution)["awaiting"]["taskToken"]
    before = stored_items(module_stack, tenant)
    with api_client(http.base_url.__str__(), tenant=tenant, role="operator") as operator:
        output = {"blob": "x" * (limits.MAX_REQUEST_BYTES + 1)}  # over the body limit
        path = f"/sedo/tenants/{tenant}/executions/{execution}/steps/ask/complete"
        assert_problem(operator.post(path, json={"taskToken": token, "output": output}), 413)
    output = {"blob": "x" * (limits.MAX_STASH_VALUE_BYTES + 1)}  # over the value limit (not through HTTP)
    with pytest.raises(TooLarge, match="larger than 10 MiB"):
        harness.services.executions.signal(tenant, execution, "ask", WakeKind.COMPLETE, token, {"output": output})
    assert stored_items(module_stack, tenant) == before  # nothing kept apart either
    assert harness.depth() == 0
