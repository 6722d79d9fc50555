"""Fault-injection fixtures: a stack whose queue lets messages be retried many times."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from sedo.config import Settings
from sedo.entrypoints.local.moto import deprovision, provision
from tests.faults import matrix

#: Redeliveries SQS allows before the DLQ. Faults fire at most once per transition and
#: message, so a message fails a few times at worst; this keeps the DLQ out of the way
#: and every test asserts the DLQ stayed empty.
MAX_RECEIVE_COUNT = 10


def pytest_configure(config: pytest.Config) -> None:
    matrix.register(config)


@pytest.fixture
def fault_stack(moto_endpoint: str) -> Iterator[Settings]:
    stage = "f" + uuid.uuid4().hex[:12]
    yield provision(
        moto_endpoint,
        stage=stage,
        parameters={"QueueVisibilityTimeoutSeconds": "1", "MaxReceiveCount": str(MAX_RECEIVE_COUNT)},
    )
    deprovision(moto_endpoint, stage)
