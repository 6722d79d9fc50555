"""Fixtures: one moto server per test process, a fresh stack (tables + queues from
template.yaml) per test that needs one."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sedo.config import Settings
from sedo.entrypoints.local.limits import install as install_limits
from sedo.entrypoints.local.moto import MotoServer, deprovision, provision, use_local_credentials

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def local_limits() -> Iterator[None]:
    """AWS's limits, as `make run` has them (sedo/entrypoints/local/limits.py), on every
    client the tests make through sedo.adapters.aws: the function timeout (enforced by the
    event source mapping and the Harness) and DynamoDB's per-partition throughput."""
    installed = install_limits()
    yield
    installed.remove()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    use_local_credentials()
    with MotoServer() as server:
        yield server.endpoint


@pytest.fixture
def stack(moto_endpoint: str) -> Iterator[Settings]:
    """Fresh tables and queues, created from template.yaml through moto's CloudFormation,
    and deleted afterwards so the one emulator per test process stays small."""
    stage = "t" + uuid.uuid4().hex[:12]
    yield provision(
        moto_endpoint,
        stage=stage,
        parameters={"QueueVisibilityTimeoutSeconds": "1", "MaxReceiveCount": "3"},
    )
    deprovision(moto_endpoint, stage)
