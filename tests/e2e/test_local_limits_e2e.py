"""`sedo local` runs with AWS's limits on by default, and the variables switch them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2e.conftest import LocalStack, running_stack

LIMIT_VARIABLES = (
    "SEDO_LOCAL_FUNCTION_TIMEOUT",
    "SEDO_LOCAL_PARTITION_LIMITS",
    "SEDO_LOCAL_WCU_PER_PARTITION",
    "SEDO_LOCAL_RCU_PER_PARTITION",
)


def test_the_local_stack_enforces_the_clouds_limits_by_default(local_stack: LocalStack) -> None:
    if any(os.environ.get(name) for name in LIMIT_VARIABLES):
        pytest.skip("this environment sets the local limits itself")
    assert "limits       function timeout 30 s, 1000 WCU/s and 3000 RCU/s per partition key" in local_stack.output()


def test_the_limits_are_switched_by_environment_variables(tmp_path: Path) -> None:
    with running_stack(
        tmp_path, SEDO_LOCAL_FUNCTION_TIMEOUT="0", SEDO_LOCAL_PARTITION_LIMITS="0", SEDO_WORKERS="1"
    ) as stack:
        assert "limits       no function timeout, no partition limits" in stack.output()
