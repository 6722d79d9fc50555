"""What the processor does with data too large for an execution: it fails the step, cleanly."""

from __future__ import annotations

import pytest

from sedo.config import Settings
from sedo.domain import limits
from sedo.domain.language import load_text
from tests.support import Harness

pytestmark = pytest.mark.integration


BLOWUP = """
id: blowup
steps:
  - id: grow
    type: pass
    input: "[input.s, input.s, input.s, input.s, input.s, input.s, input.s, input.s]"
    resultPath: big
    next: done
  - id: done
    type: succeed
    input: "length(big)"
"""


def test_a_step_result_too_large_for_the_execution_fails_it_cleanly(stack: Settings) -> None:
    """Eight copies of a 1.5 MiB string: 12 MiB, over the 10 MiB a step's result may be."""
    harness = Harness(stack)
    tenant = "hostile-blowup"
    harness.services.definitions.create(tenant, load_text(BLOWUP))
    value = "x" * (limits.MAX_STASH_VALUE_BYTES * 3 // 20)
    execution = harness.services.executions.start(tenant, "blowup", {"s": value})[0]["id"]
    harness.drain(max_rounds=3)
    described = harness.services.executions.get(tenant, execution)
    assert (described["state"], described.get("error")) == ("ExecutionFailed", "States.PayloadTooLarge")
    assert "10 MiB" in described["cause"]
