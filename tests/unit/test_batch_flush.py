"""A Lambda batch's flushes go out together at its end (sedo/service_layer/batchflush.py): nothing
of a top-level commit's history, outbox or status events leaves before the batch ends, all of it
does then, a failed flush fails the whole batch and the redelivery re-flushes it, and each
invocation keeps its own batch however many run at once on one processor."""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

from sedo import bootstrap
from sedo.adapters.clock import FakeClock
from sedo.domain.language import load_text
from sedo.domain.protocol import WakeKind
from sedo.entrypoints.local.esm import to_lambda_event
from sedo.entrypoints.processor import make_handler

T = "t"
TWO_WAITS = """
id: two
steps:
  - {id: first, type: wait, seconds: 1, next: second}
  - {id: second, type: wait, seconds: 1, end: true}
"""
ASK = """
id: ask
steps:
  - {id: warm, type: pass, next: approve}
  - {id: approve, type: callback, end: true}
"""


class World:
    def __init__(self, text: str = TWO_WAITS, starts: int = 1) -> None:
        self.clock = FakeClock()
        self.adapters = bootstrap.memory_adapters(self.clock)
        self.services = bootstrap.api_services(self.adapters)
        document = load_text(text)
        self.services.definitions.create(T, document)
        self.ids = [self.services.executions.start(T, str(document["id"]), {})[0]["id"] for _ in range(starts)]
        self.processor = bootstrap.processor(self.adapters)
        self.handler = make_handler(self.processor, logging.getLogger("test"))
        self.bus: Any = self.adapters.bus

    def invoke(self, messages: list[dict[str, Any]], receives: int = 1) -> list[str]:
        """One Lambda invocation of ``messages``; the message ids it reports failed."""
        received = [
            {
                "MessageId": f"m{i}",
                "ReceiptHandle": "r",
                "Body": json.dumps(body),
                "Attributes": {"ApproximateReceiveCount": str(receives)},
            }
            for i, body in enumerate(messages)
        ]
        event = to_lambda_event(received, "arn:aws:sqs:us-east-1:000000000000:q", "us-east-1")
        answer = self.handler(event, None)
        return [f["itemIdentifier"] for f in answer["batchItemFailures"]]

    def run(self, rounds: int = 50) -> None:
        """Every message sent, a batch at a time, the clock moved on to each one's due time."""
        for _ in range(rounds):
            batch = self.adapters.queue.drain()
            if not batch:
                return
            self.clock.moment = max(self.clock.now(), *(_due(m, self.clock) for m in batch))
            self.invoke(batch)
        raise AssertionError("the executions did not settle")

    def execution(self, execution_id: str) -> dict[str, Any]:
        return self.services.executions.get(T, execution_id)

    def history(self, execution_id: str) -> list[dict[str, Any]]:
        return list(self.services.executions.history(T, execution_id, 10_000, None).items)

    def key(self, execution_id: str) -> str:
        return execution_id.rsplit(":", 1)[-1]


def _due(message: dict[str, Any], clock: FakeClock) -> Any:
    from sedo.domain.timefmt import parse_ts

    return parse_ts(message["due"]) if message.get("due") else clock.now()


def _assert_complete(history: list[dict[str, Any]]) -> None:
    ids = [e["id"] for e in history]
    assert ids == list(range(1, len(ids) + 1)), ids  # sequential, no gap, no duplicate


def test_a_batch_sends_its_outboxes_and_events_only_when_it_ends_and_then_all_at_once() -> None:
    world = World(starts=3)
    starts = world.adapters.queue.drain()
    sends: list[int] = []
    queue_send = world.adapters.queue.send
    world.adapters.queue.send = lambda messages: (sends.append(len(messages)), queue_send(messages))[1]  # type: ignore[method-assign]
    seen_during: list[int] = []
    process = world.processor.process

    def watching(*args: Any, **kwargs: Any) -> Any:
        result = process(*args, **kwargs)
        seen_during.append(len(world.adapters.queue.sent) + len(world.bus.events))
        return result

    world.processor.process = watching  # type: ignore[method-assign]
    assert world.invoke(starts) == []
    assert seen_during == [0, 0, 0]  # nothing left while the batch ran
    assert sends == [3]  # then the three timers in one send
    assert len(world.adapters.queue.sent) == 3
    assert [e["detail"]["status"] for e in world.bus.events] == ["STARTED"] * 3
    world.processor.process = process  # type: ignore[method-assign]
    world.run()
    for execution_id in world.ids:
        assert world.execution(execution_id)["state"] == "ExecutionSucceeded"
        _assert_complete(world.history(execution_id))
    statuses = sorted(e["detail"]["status"] for e in world.bus.events)
    assert statuses == ["STARTED"] * 3 + ["SUCCEEDED"] * 3


def test_a_failed_flush_fails_the_whole_batch_and_the_redelivery_flushes_it_again() -> None:
    world = World(starts=2)
    starts = world.adapters.queue.drain()
    world.adapters.queue.fail_next = 1
    assert world.invoke(starts) == ["m0", "m1"]  # nothing acknowledged
    assert world.adapters.queue.sent == []  # (the events, put side by side, may have gone: at least once)
    for execution_id in world.ids:  # committed, and waiting for the flush that failed
        assert world.execution(execution_id)["state"] == "StepStarted"
    assert world.invoke(starts, receives=2) == []  # the redelivered producers re-flush
    assert len(world.adapters.queue.sent) == 2
    world.run()
    for execution_id in world.ids:
        assert world.execution(execution_id)["state"] == "ExecutionSucceeded"
        history = world.history(execution_id)
        _assert_complete(history)
        assert [e["type"] for e in history].count("StepStarted") == 2  # each step entered once


def test_invocations_running_at_once_on_one_processor_keep_their_own_batches() -> None:
    world = World(starts=8)
    starts = world.adapters.queue.drain()
    inside = threading.Barrier(2)
    process = world.processor.process

    def meeting(*args: Any, **kwargs: Any) -> Any:
        result = process(*args, **kwargs)
        inside.wait(timeout=5)  # both invocations are mid-batch: each began after the other
        return result

    world.processor.process = meeting  # type: ignore[method-assign]
    failed: list[list[str]] = []
    threads = [threading.Thread(target=lambda b=b: failed.append(world.invoke(b))) for b in (starts[:4], starts[4:])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert failed == [[], []]
    assert len(world.adapters.queue.sent) == 8  # neither batch's begin dropped the other's flushes


def test_a_callback_ahead_of_its_heads_flush_keeps_that_segments_history() -> None:
    """The head's segment is written with the batch's flush; a callback completion that commits
    first (it did not come through the outbox) writes it before it replaces the head, so an
    invocation that dies before its flush loses no event."""
    world = World(ASK)
    [start] = world.adapters.queue.drain()
    world.processor.new_batch(30.0)  # the invocation that runs the start, and dies before its end
    world.processor.process(start, 1, "m0")
    execution_id = world.ids[0]
    token = world.execution(execution_id)["awaiting"]["taskToken"]
    world.services.executions.signal(T, execution_id, "approve", WakeKind.COMPLETE, token, {"output": {"ok": 1}})
    [completion] = world.adapters.queue.drain()
    assert world.invoke([completion]) == []  # another invocation
    world.processor.new_batch(30.0)  # the first one's flush never ran
    execution = world.execution(execution_id)
    assert execution["state"] == "ExecutionSucceeded" and execution["output"] == {"ok": 1}
    history = world.history(execution_id)
    _assert_complete(history)
    assert [e["type"] for e in history].count("StepStarted") == 2


def test_outside_a_batch_each_commit_flushes_at_once() -> None:
    world = World()
    [start] = world.adapters.queue.drain()
    world.processor.process(start, 1)
    assert len(world.adapters.queue.sent) == 1 and len(world.bus.events) == 1
    assert world.processor.end_batch() == 0  # no batch was open: nothing was left
