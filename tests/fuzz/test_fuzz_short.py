"""The short fuzz run inside ``make test``: schemathesis against the real API over HTTP.

A few seeded, deterministic examples per operation (plus schemathesis's coverage phase
of boundary and negative cases), with a valid author token for one tenant: no 5xx, and
every response's status, Content-Type, headers and body conform to openapi/sedo.yaml.
``make fuzz`` runs the long version (tests/fuzz/__main__.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fuzz import runner

pytestmark = pytest.mark.integration

SHORT_EXAMPLES = 25


@pytest.fixture
def target(stack: Any) -> Iterator[runner.Target]:
    with runner.fuzz_target(stack) as target:
        yield target


def test_api_conforms_to_its_spec_under_fuzzing(target: runner.Target, tmp_path: Path) -> None:
    result = runner.run(target, tmp_path, max_examples=SHORT_EXAMPLES)
    assert result.returncode == 0, f"schemathesis found problems:\n{result.stdout[-20000:]}\n{result.stderr[-5000:]}"


@pytest.mark.parametrize("path", ["definitions/a%0A", "definitions/a%0Ab", "executions/fuzz:a:b%7F"])
def test_control_characters_in_a_path_are_a_400_problem(target: runner.Target, path: str) -> None:
    """Found by fuzzing: Connexion and Flask routed these differently, and the API answered 500."""
    response = httpx.get(f"{target.base_url}/sedo/tenants/{runner.TENANT}/{path}", headers=target.headers)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 400


def assert_sedo_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """sedo's problem shape: its own type URI, a detail in words (no schema dump), errors as a list."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"].startswith("https://sedo.dev/problems/") and body["type"] != "about:blank", body
    assert body["status"] == status and body["title"] and body["detail"], body
    for dump in ("Failed validating", "On instance", "in schema", "not in spec"):
        assert dump not in body["detail"], body
    assert isinstance(body.get("errors", []), list)
    return dict(body)


def _url(target: runner.Target, rest: str) -> str:
    return f"{target.base_url}/sedo/tenants/{runner.TENANT}/{rest}"


@pytest.mark.parametrize(
    ("rest", "parameter", "fragment"),
    [
        ("definitions?limit=abc", "limit", 'must be an integer (at least 1, at most 100), not "abc"'),
        ("definitions?limit=0", "limit", "must be at least 1, not 0"),
        ("definitions?limit=1000", "limit", "must be at most 100, not 1000"),
        ("executions?state=Bogus", "state", "must be one of ExecutionSubmitted"),
        ("definitions?colour=blue", "colour", "is not a parameter of this operation (it takes limit, nextToken)"),
    ],
)
def test_a_bad_query_parameter_is_named_in_words(
    target: runner.Target, rest: str, parameter: str, fragment: str
) -> None:
    problem = assert_sedo_problem(httpx.get(_url(target, rest), headers=target.headers), 400)
    assert problem["type"] == "https://sedo.dev/problems/invalid-parameters"
    assert [(e["in"], e["parameter"]) for e in problem["errors"]] == [("query", parameter)]
    assert fragment in problem["errors"][0]["message"], problem
    assert f"query parameter {parameter!r}" in problem["detail"]


def test_every_bad_parameter_is_reported_at_once(target: runner.Target) -> None:
    response = httpx.get(_url(target, "executions?state=Nope&limit=-1&x=1"), headers=target.headers)
    problem = assert_sedo_problem(response, 400)
    assert sorted(e["parameter"] for e in problem["errors"]) == ["limit", "state", "x"]


def test_an_unknown_path_and_a_wrong_method_are_sedo_problems(target: runner.Target) -> None:
    problem = assert_sedo_problem(httpx.get(f"{target.base_url}/sedo/nowhere", headers=target.headers), 404)
    assert "/sedo/nowhere" in problem["detail"] and "openapi/sedo.yaml" in problem["detail"]
    response = httpx.delete(_url(target, "definitions"), headers=target.headers)
    problem = assert_sedo_problem(response, 405)
    assert problem["detail"] == f"DELETE is not allowed on /sedo/tenants/{runner.TENANT}/definitions; use GET, POST"
    assert response.headers["allow"] == "GET, POST"


def test_cancel_takes_no_body_and_no_content_type(target: runner.Target) -> None:
    """As `curl -X POST .../cancel` sends it: no body, no Content-Type."""
    response = httpx.post(_url(target, f"executions/{target.execution_id}/cancel"), headers=target.headers)
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "ExecutionCancelled"
    again = httpx.post(
        _url(target, f"executions/{target.execution_id}/cancel"),
        headers={**target.headers, "Content-Type": "application/json"},
    )
    assert again.status_code == 200, again.text  # idempotent, and an empty JSON body is no body
