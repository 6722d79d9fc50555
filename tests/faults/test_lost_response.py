"""A head write DynamoDB applied but whose answer never came back (botocore's read
timeout, a 5xx) is retried by botocore, and the retry fails its own condition.

This lost executions: the processor took the refused retry of its commit for another
worker's commit, acked the wake-up and never sent the transition's outbox; the API's
start took it for a key collision and left the first head submitted with no message.
Here every head write of one execution loses its answer once (the create and each
commit), deterministically, and the execution must still run exactly once.
"""

from __future__ import annotations

from typing import Any

import pytest

from bench.workload import Workload, load_all
from sedo.domain.execution import SUCCEEDED, Execution, split_execution_id
from tests.faults.injector import FaultInjector, FaultPlan, Point
from tests.support import Harness, events_of

pytestmark = pytest.mark.integration

TENANT = "lost"


def _setup(fault_stack: Any) -> tuple[Harness, FaultInjector, Workload]:
    harness = Harness(fault_stack)
    injector = FaultInjector(FaultPlan({Point.DDB_LOST_RESPONSE: 1.0})).install_on(harness)
    [workload] = load_all(names=["ten-step"])
    harness.services.definitions.create(TENANT, workload.document)
    return harness, injector, workload


def _ran_once(harness: Harness, execution_id: str) -> Execution:
    head = harness.adapters.executions.get(TENANT, split_execution_id(execution_id)[2])
    assert head is not None and head.state == SUCCEEDED, head
    events = events_of(harness, TENANT, execution_id)
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    assert [e["type"] for e in events].count(SUCCEEDED) == 1
    assert harness.depth() == 0
    return head


def test_a_commit_whose_answer_was_lost_is_not_taken_for_a_conflict(fault_stack: Any) -> None:
    harness, injector, workload = _setup(fault_stack)
    execution_id = harness.services.executions.start(TENANT, workload.definition_id, workload.input)[0]["id"]
    injector.active = True
    harness.drain()
    injector.active = False
    head = _ran_once(harness, execution_id)
    assert injector.counts[Point.DDB_LOST_RESPONSE] == head.seq  # every commit lost its answer once
    assert injector.retried == head.seq


def test_a_create_whose_answer_was_lost_leaves_no_second_execution(fault_stack: Any) -> None:
    harness, injector, workload = _setup(fault_stack)
    injector.active = True
    execution_id = harness.services.executions.start(TENANT, workload.definition_id, workload.input)[0]["id"]
    injector.active = False
    assert injector.counts[Point.DDB_LOST_RESPONSE] == 1
    harness.drain()
    _ran_once(harness, execution_id)
    heads = harness.adapters.executions.list_executions(TENANT, 10, None, (), None).items
    assert [h.id for h in heads] == [execution_id]  # no head left behind by the retried create
