"""POST /sedo/tenants/{t}/definitions?format=asl over HTTP: an ASL state machine is
translated and stored; what does not translate is a problem+json 400 at its ASL path."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from sedo.config import Settings
from tests.asl.corpus import CASES, FUNCTIONS, load
from tests.support import api_client, serve_api

pytestmark = pytest.mark.integration
URL = "/sedo/tenants/123/definitions"


@pytest.fixture
def http(stack: Settings) -> Iterator[Any]:
    with serve_api(replace(stack, local_functions=FUNCTIONS)) as base_url, api_client(base_url) as client:
        yield client


def test_an_asl_state_machine_is_stored_as_its_translation(http: Any) -> None:
    machine = load(next(p for p in CASES if "lambda-invoke-resultselector" in p.name))["stateMachine"]
    response = http.post(URL, params={"format": "asl", "id": "from-asl"}, json=machine)
    assert response.status_code == 201, response.text
    assert response.headers["Location"] == f"{URL}/from-asl"
    from sedo.domain.asl import translate

    stored = http.get(f"{URL}/from-asl").json()["definition"]
    assert stored == translate(machine, "from-asl").document
    steps = stored["steps"]
    assert [s["id"] for s in steps] == ["Double", "Double.result", "Echo"]
    assert steps[0]["function"] == "double" and steps[0]["type"] == "invoke"


def test_what_does_not_translate_is_a_400_with_asl_paths(http: Any) -> None:
    machine = {
        "StartAt": "Charge",
        "States": {
            "Charge": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:putItem", "Next": "Read"},
            "Read": {"Type": "Map", "ItemReader": {}, "ItemProcessor": {}, "End": True},
        },
    }
    response = http.post(URL, params={"format": "asl", "id": "refused"}, json=machine)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert [e["path"] for e in response.json()["errors"]] == ["/States/Charge/Resource", "/States/Read/ItemReader"]
    missing_id = http.post(URL, params={"format": "asl"}, json=load(CASES[0])["stateMachine"])
    assert missing_id.status_code == 400 and "id query parameter" in missing_id.text
    assert http.post(URL, params={"format": "bpmn", "id": "x"}, json={}).status_code == 400
    assert http.get(f"{URL}/refused").status_code == 404
