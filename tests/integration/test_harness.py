"""The harness the fault matrix and the integration tests drive the processor with: it must not
call a queue drained while a message is still to come back.

SQS's message counts are approximate. moto takes each one at its own moment, so a message
whose visibility timeout ends between two of them is counted in none: the fault matrix's
``lambda-timeout`` row lost an execution that way (a map iteration's timer, in a batch that
timed out, came back just as the harness sampled the counts; the harness stopped and left
it in the queue)."""

from __future__ import annotations

import time

import pytest

from sedo.config import Settings
from sedo.domain.language import load_text
from tests.support import Harness

pytestmark = pytest.mark.integration

T = "harness"


def _racing_depth(harness: Harness) -> None:
    """The next depth is taken as moto may take it: the visible count while the message is in
    flight, the in-flight and delayed counts once its visibility timeout has ended."""
    real_depth = harness.depth

    def depth() -> int:
        harness.depth = real_depth  # type: ignore[method-assign]
        visible = harness.sqs.get_queue_attributes(
            QueueUrl=harness.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        time.sleep(1.5)  # the stack's visibility timeout is 1 s
        rest = harness.sqs.get_queue_attributes(
            QueueUrl=harness.queue_url,
            AttributeNames=["ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"],
        )["Attributes"]
        return sum(int(v) for v in [*visible.values(), *rest.values()])

    harness.depth = depth  # type: ignore[method-assign]


def test_drain_waits_for_a_message_that_comes_back_while_the_counts_are_taken(stack: Settings) -> None:
    harness = Harness(stack)
    harness.services.definitions.create(T, load_text("id: one\nsteps:\n  - {id: a, type: pass, end: true}"))
    execution_id = harness.services.executions.start(T, "one", {})[0]["id"]
    [start] = harness.receive()  # received and never acknowledged: back after the visibility timeout
    assert start["Attributes"]["ApproximateReceiveCount"] == "1"
    _racing_depth(harness)
    harness.drain()
    assert harness.services.executions.get(T, execution_id)["state"] == "ExecutionSucceeded"
    assert harness.depth() == 0
