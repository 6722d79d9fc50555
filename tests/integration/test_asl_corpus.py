"""Every state machine of the ASL corpus, translated, stored and run on the local stack
(the real processor against the emulator, Lambda tasks mapped to tests/asl/functions.py),
produces the output Step Functions produces for its input."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from sedo.domain.asl import translate
from tests.asl.corpus import CASES, FUNCTIONS, definition_id, load
from tests.support import Harness

pytestmark = pytest.mark.integration
T = "asl"


@pytest.fixture
def harness(stack: Any) -> Harness:
    return Harness(replace(stack, local_functions=FUNCTIONS))


def _awaiting(harness: Harness, execution_id: str) -> dict[str, Any]:
    for _ in range(50):
        harness.drain(stop_after=1)
        execution = harness.services.executions.get(T, execution_id)
        if "awaiting" in execution:
            return dict(execution["awaiting"])
    raise AssertionError("the callback task never started waiting")


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_the_translation_produces_what_step_functions_produces(harness: Harness, path: Path) -> None:
    case = load(path)
    document = translate(case["stateMachine"], definition_id(path)).document
    harness.services.definitions.create(T, document)
    execution_id = harness.services.executions.start(T, document["id"], case["input"])[0]["id"]
    if "complete" in case:
        awaiting = _awaiting(harness, execution_id)
        harness.services.executions.signal(
            T, execution_id, awaiting["stepId"], "complete", awaiting["taskToken"], {"output": case["complete"]}
        )
        harness.deliver_only("complete")
    harness.drain()
    execution = harness.services.executions.get(T, execution_id)
    if "error" in case:
        assert execution["state"] == "ExecutionFailed", execution
        assert {"error": execution.get("error"), "cause": execution.get("cause")} == case["error"]
    else:
        assert execution["state"] == "ExecutionSucceeded", execution
        assert execution["output"] == case["output"]
