"""A callback step's ``inputSchema``: the language checks it like a definition's, and the
API checks every ``/complete`` output against it (400 naming every violation)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sedo.config import Settings
from sedo.domain.language import load_text, validate_document
from tests.support import Harness, api_client, serve_api

pytestmark = pytest.mark.integration

T = "123"

APPROVAL = """
id: answer-check
steps:
  - id: review
    type: callback
    resultPath: answer
    inputSchema:
      type: object
      required: [approved, reviewer]
      additionalProperties: false
      properties:
        approved: {type: boolean}
        reviewer: {type: string, minLength: 2}
        score: {type: integer, minimum: 1, maximum: 5}
    next: done
  - id: done
    type: succeed
    input: answer
"""


@pytest.fixture
def harness(stack: Settings) -> Harness:
    return Harness(stack)


@pytest.fixture
def api(harness: Harness) -> Iterator[Any]:
    with serve_api(harness.settings, clock=harness.clock) as base_url, api_client(base_url, T, "operator") as http:
        yield http


def test_a_callback_inputschema_is_validated_like_the_definitions_own() -> None:
    document = load_text(APPROVAL)
    schema = document["steps"][0]["inputSchema"]
    schema["properties"]["score"]["minimum"] = "one"
    problems = {p.path: p.message for p in validate_document(document)}
    assert list(problems) == ["/steps/0/inputSchema/properties/score/minimum"], problems
    assert problems["/steps/0/inputSchema/properties/score/minimum"].startswith("not a valid JSON Schema")
    schema["properties"]["score"]["minimum"] = 1
    schema["$ref"] = "#/$defs/missing"
    problems = {p.path: p.message for p in validate_document(document)}
    assert problems == {"/steps/0/inputSchema/$ref": "'#/$defs/missing' points to nothing in inputSchema"}
    document["steps"][0]["inputSchema"] = "yes"
    assert [p.path for p in validate_document(document)] == ["/steps/0/inputSchema"]


def test_complete_checks_the_answer_against_the_steps_inputschema(harness: Harness, api: Any) -> None:
    harness.services.definitions.create(T, load_text(APPROVAL))
    started = api.post(f"/sedo/tenants/{T}/definitions/answer-check/execute", json={"input": {}})
    assert started.status_code == 201, started.text
    execution_id = started.json()["id"]
    harness.drain(stop_after=1)
    execution = api.get(f"/sedo/tenants/{T}/executions/{execution_id}").json()
    token = execution["awaiting"]["taskToken"]
    complete = f"/sedo/tenants/{T}/executions/{execution_id}/steps/review/complete"

    bad = api.post(complete, json={"taskToken": token, "output": {"approved": "yes", "score": 9, "extra": 1}})
    assert bad.status_code == 400, bad.text
    problem = bad.json()
    assert bad.headers["content-type"] == "application/problem+json"
    assert problem["title"] == "output does not pass the step's inputSchema validation"
    located = {(e["path"], e["message"].split(" (at ")[0]) for e in problem["errors"]}
    assert ("/approved", "'yes' is not of type 'boolean'") in located, located
    assert ("/score", "9 is greater than the maximum of 5") in located, located
    assert any("'reviewer' is a required property" in e["message"] for e in problem["errors"])
    assert any("'extra' was unexpected" in e["message"] for e in problem["errors"])
    assert harness.depth() == 0  # nothing was sent to the processor

    answer = {"approved": True, "reviewer": "ada", "score": 4}
    accepted = api.post(complete, json={"taskToken": token, "output": answer})
    assert accepted.status_code == 202, accepted.text
    harness.drain()
    done = api.get(f"/sedo/tenants/{T}/executions/{execution_id}").json()
    assert (done["state"], done["output"]) == ("ExecutionSucceeded", answer)


def test_fail_is_not_checked_and_steps_without_a_schema_take_any_answer(harness: Harness, api: Any) -> None:
    harness.services.definitions.create(T, load_text("id: free\nsteps:\n  - {id: ask, type: callback, end: true}\n"))
    execution_id = api.post(f"/sedo/tenants/{T}/definitions/free/execute", json={}).json()["id"]
    harness.drain(stop_after=1)
    token = api.get(f"/sedo/tenants/{T}/executions/{execution_id}").json()["awaiting"]["taskToken"]
    complete = f"/sedo/tenants/{T}/executions/{execution_id}/steps/ask/complete"
    assert api.post(complete, json={"taskToken": token, "output": [1, "two"]}).status_code == 202
