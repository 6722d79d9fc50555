"""A worker's visibility timeout ends while it still holds a message; a second worker receives
it again, commits, and fails to flush the outbox. The first worker then finds the message
stale and deletes it with its older receipt handle, which SQS may honour (moto does): the
message that was to come back and re-flush is gone. The older receipt of the very SQS
message that produced the head must therefore re-flush too (seed 1321869185 of the fault
matrix lost an execution so, in its all-at-once row)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from sedo.domain.language import load_text
from tests.support import Harness

pytestmark = pytest.mark.integration

T = "receipts"
FLOW = "id: nap\nsteps:\n  - {id: rest, type: wait, seconds: 5, next: done}\n  - {id: done, type: pass, end: true}"


def test_an_older_receipt_of_the_producing_message_re_flushes_before_it_deletes(fault_stack: Any) -> None:
    harness = Harness(fault_stack)
    harness.services.definitions.create(T, load_text(FLOW))
    execution_id = harness.services.executions.start(T, "nap", {})[0]["id"]
    [first] = harness.receive()  # worker 1 holds it past its visibility timeout
    time.sleep(1.5)
    [second] = harness.receive()  # worker 2 receives it again
    assert second["Attributes"]["ApproximateReceiveCount"] == "2"
    queue = harness.processor.queue
    send = queue.send

    def lost(messages: Any) -> None:
        raise ConnectionError("the outbox's send failed")

    queue.send = lost  # type: ignore[method-assign]
    failed = harness.invoke([second])["batchItemFailures"]
    queue.send = send  # type: ignore[method-assign]
    assert failed == [{"itemIdentifier": second["MessageId"]}]  # committed, not flushed: not acked
    assert harness.services.executions.get(T, execution_id)["state"] == "StepStarted"
    assert not harness.invoke([first]).get("batchItemFailures")  # worker 1: stale
    harness.ack([first])  # ... and its delete, with the older receipt, removes the message
    harness.drain()
    assert harness.services.executions.get(T, execution_id)["state"] == "ExecutionSucceeded"
