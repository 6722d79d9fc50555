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
