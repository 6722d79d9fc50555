"""A visibility timeout that expires while a record is still being processed: a second
worker receives the same message and processes it at the same time as the first.

Both read the head, both run the engine, one commit wins and the other is refused. The
loser must not ack the message as if the winner had done everything: the winner may
still fail afterwards (here its outbox send fails), and then nobody would ever send the
transition's outbox. Each worker acks with its own receipt, as on AWS. The two workers
meet at the commit (a barrier on the commit's PutItem), so the race is the same on every
run.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from bench.workload import load_all
from sedo.domain.execution import SUCCEEDED, split_execution_id
from tests.faults.delivery import received_again
from tests.faults.injector import COMMIT_CONDITION, FaultInjector, FaultPlan, Point
from tests.support import Harness, events_of

pytestmark = pytest.mark.integration

TENANT = "two"


def test_the_worker_that_lost_the_commit_race_still_sees_the_outbox_sent(fault_stack: Any) -> None:
    harness = Harness(fault_stack)
    injector = FaultInjector(FaultPlan({Point.SQS_SEND_ERROR: 1.0})).install_on(harness)
    [workload] = load_all(names=["ten-step"])
    harness.services.definitions.create(TENANT, workload.document)
    execution_id = harness.services.executions.start(TENANT, workload.definition_id, workload.input)[0]["id"]
    [message] = harness.receive()

    both_read = threading.Barrier(2, timeout=30)

    def meet_at_the_commit(params: dict[str, Any], **_: Any) -> None:
        if params.get("ConditionExpression") == COMMIT_CONDITION:
            both_read.wait()  # each worker commits once: both have read the head by now

    events = harness.adapters.executions.client.meta.events  # type: ignore[attr-defined]
    events.register("provide-client-params.dynamodb.PutItem", meet_at_the_commit)
    failed: dict[str, bool] = {}

    def worker(name: str, received: dict[str, Any]) -> None:
        result = harness.invoke([received])
        failed[name] = bool(result.get("batchItemFailures"))
        if not failed[name]:
            harness.ack([received])

    injector.active = True  # the first outbox send fails: the winner's
    workers = [
        threading.Thread(target=worker, args=("first", message)),
        threading.Thread(target=worker, args=("second", received_again(message))),
    ]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    injector.active = False
    events.unregister("provide-client-params.dynamodb.PutItem", meet_at_the_commit)
    assert injector.counts[Point.SQS_SEND_ERROR] == 1
    assert sorted(failed.values()) == [False, True]  # the winner failed its send, the loser acked

    harness.drain()
    head = harness.adapters.executions.get(TENANT, split_execution_id(execution_id)[2])
    assert head is not None and head.state == SUCCEEDED, head
    history = events_of(harness, TENANT, execution_id)
    assert [e["id"] for e in history] == list(range(1, len(history) + 1))
    assert injector.commits[injector.item_key(harness.adapters.executions._item(head))] == head.seq  # type: ignore[attr-defined]
