"""The execution protocol under hostile delivery, against the emulator over HTTP.

Each test runs many executions through the real processor handler and real SQS /
DynamoDB (moto server), breaking delivery on purpose, then checks every execution
ended exactly once with a complete, duplicate-free history.
"""

from __future__ import annotations

import random
import threading
from typing import Any

import pytest

from sedo.domain.execution import SUCCEEDED
from sedo.domain.language import load_text
from tests.definitions import echo_wait_echo
from tests.support import Harness, events_of

pytestmark = pytest.mark.integration

TENANT = "proto"
DEFINITION = echo_wait_echo("protocol", ("first", "pause", "last"), 30, ("one", "two"))
EXPECTED = [
    ("ExecutionSubmitted", None),
    ("ExecutionStarted", None),
    ("StepStarted", "first"),
    ("StepSucceeded", "first"),
    ("StepStarted", "pause"),
    ("StepSucceeded", "pause"),
    ("StepStarted", "last"),
    ("StepSucceeded", "last"),
    ("ExecutionSucceeded", "last"),
]
EXECUTIONS = 15


def start(harness: Harness, count: int = EXECUTIONS) -> list[str]:
    harness.services.definitions.create(TENANT, load_text(DEFINITION))
    return [harness.services.executions.start(TENANT, "protocol", {"n": i})[0]["id"] for i in range(count)]


def assert_all_finished_once(harness: Harness, ids: list[str]) -> None:
    for execution_id in ids:
        execution = harness.services.executions.get(TENANT, execution_id)
        assert execution["state"] == SUCCEEDED, execution
        assert execution["output"] == {"message": "two"}
        events = events_of(harness, TENANT, execution_id)
        assert [e["id"] for e in events] == list(range(1, len(EXPECTED) + 1)), events
        assert [(e["type"], e.get("stepId")) for e in events] == EXPECTED
        seqs = [e["seq"] for e in events]
        assert seqs == sorted(seqs)


def test_clean_delivery(stack: Any) -> None:
    harness = Harness(stack)
    ids = start(harness)
    harness.drain()
    assert_all_finished_once(harness, ids)


@pytest.mark.parametrize("copies", [2, 3])
def test_every_message_delivered_several_times(stack: Any, copies: int) -> None:
    harness = Harness(stack)
    ids = start(harness)

    def deliver(h: Harness, messages: list[dict[str, Any]]) -> None:
        for _ in range(copies):
            h.invoke(messages)
        h.ack(messages)

    harness.drain(deliver)
    assert_all_finished_once(harness, ids)


def test_messages_reordered_and_late(stack: Any) -> None:
    harness = Harness(stack)
    ids = start(harness)
    rng = random.Random(7)
    held: list[dict[str, Any]] = []

    def deliver(h: Harness, messages: list[dict[str, Any]]) -> None:
        held.extend(messages)
        rng.shuffle(held)
        now, later = held[: len(held) // 2 + 1], held[len(held) // 2 + 1 :]
        held[:] = later
        for message in reversed(now):  # one at a time, newest first
            h.invoke([message])
        h.ack(now)

    harness.drain(deliver)
    for message in held:  # the late ones, after everything finished
        harness.invoke([message])
    assert_all_finished_once(harness, ids)


class CrashingQueue:
    """Sends succeed or "crash" (raise) at a chosen point; the crash loses the ack.

    A send may carry several outboxes (a Lambda batch's flush); a send crashes only when one of
    them never crashed before, so redelivery (not the DLQ) must repair it.
    """

    def __init__(self, real: Any, rate: float, after_send: bool, seed: int) -> None:
        self.real = real
        self.rate = rate
        self.after_send = after_send
        self.rng = random.Random(seed)
        self.crashes = 0
        self.seen: set[tuple[str, str]] = set()

    def send(self, messages: Any) -> None:
        outboxes = {(message["key"], message["mid"]) for message in messages}
        crash = not outboxes <= self.seen and self.rng.random() < self.rate
        self.seen |= outboxes
        if crash and not self.after_send:
            self.crashes += 1
            raise RuntimeError("crash after commit, before send")
        self.real.send(messages)
        if crash:
            self.crashes += 1
            raise RuntimeError("crash after send, before ack")


def one_at_a_time(h: Harness, messages: list[dict[str, Any]]) -> None:
    """Each message in an invocation of its own: each flush sends one outbox."""
    for message in messages:
        if not h.invoke([message]).get("batchItemFailures"):
            h.ack([message])


@pytest.mark.parametrize("batched", [False, True], ids=["per-message", "batched"])
@pytest.mark.parametrize("after_send", [False, True], ids=["after-commit-before-send", "after-send-before-ack"])
def test_crash_between_commit_and_ack(stack: Any, after_send: bool, batched: bool) -> None:
    """A crash fails the whole invocation (a batch's flush sends every outbox of the batch at
    once): every message of it comes back and re-flushes what it committed."""
    harness = Harness(stack)
    ids = start(harness)
    crashing = CrashingQueue(harness.processor.queue, rate=0.5, after_send=after_send, seed=3)
    harness.processor.queue = crashing  # the processor's sends only; starts are clean
    harness.drain(None if batched else one_at_a_time)
    assert crashing.crashes >= (1 if batched else 5)
    assert_all_finished_once(harness, ids)


def test_two_workers_race_on_every_message(stack: Any) -> None:
    harness = Harness(stack)
    rival = Harness(stack, clock=harness.clock)  # a second container of the processor
    ids = start(harness)

    def deliver(h: Harness, messages: list[dict[str, Any]]) -> None:
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def run(worker: Harness) -> None:
            try:
                barrier.wait()
                worker.invoke(messages)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(w,)) for w in (h, rival)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        h.ack(messages)

    harness.drain(deliver)
    assert_all_finished_once(harness, ids)
