"""Executions through the real processor and emulator: waits, cancel, DLQ, idempotency, observing."""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta
from typing import Any

import pytest

from sedo.adapters.aws import client
from sedo.adapters.clock import SystemClock
from sedo.domain.errors import Conflict, InvalidInput, NotFound
from sedo.domain.language import load_text
from sedo.domain.timefmt import format_ts
from sedo.entrypoints.local.esm import EventSourceMapping
from tests.support import Harness, events_of

pytestmark = pytest.mark.integration

T = "acme"


def define(harness: Harness, text: str) -> str:
    document = load_text(text)
    harness.services.definitions.create(T, document)
    return str(document["id"])


def wait_definition(seconds: int | None = None, until: str | None = None) -> str:
    when = f"seconds: {seconds}" if seconds is not None else f"until: '{until}'"
    return f"""
id: waiter
steps:
  - {{id: before, type: echo, message: before, next: pause}}
  - {{id: pause, type: wait, {when}, next: after}}
  - {{id: after, type: echo, message: after, end: true}}
"""


def test_wait_of_two_seconds_on_real_queue_timers(stack: Any) -> None:
    harness = Harness(stack, clock=SystemClock(), queue_delay_cap=900)  # type: ignore[arg-type]
    define(harness, wait_definition(seconds=2))
    started = time.monotonic()
    execution_id = harness.services.executions.start(T, "waiter", {})[0]["id"]
    harness.drain(advance_clock=False)
    elapsed = time.monotonic() - started
    execution = harness.services.executions.get(T, execution_id)
    assert execution["state"] == "ExecutionSucceeded"
    assert elapsed >= 2.0  # the timer really waited (no upper bound asserted: not a benchmark)


def test_wait_of_twenty_minutes_rearms_in_chunks(stack: Any) -> None:
    harness = Harness(stack)  # fake clock; queue delays capped to 0 but recorded in messages
    define(harness, wait_definition(seconds=1200))
    execution_id = harness.services.executions.start(T, "waiter", {})[0]["id"]
    harness.drain(stop_after=1)  # start: runs to the wait
    head = harness.services.executions.get(T, execution_id)
    assert (head["state"], head["step"]) == ("StepStarted", "pause")
    events_before = events_of(harness, T, execution_id)

    [timer] = harness.receive()
    body = json.loads(timer["Body"])
    assert body["kind"] == "timer" and body["delay"] == 900
    harness.clock.advance(900)  # SQS delivers it after 900 s: not yet due
    harness.invoke([timer])
    harness.ack([timer])
    [rearmed] = harness.receive()
    rearmed_body = json.loads(rearmed["Body"])
    assert rearmed_body["delay"] == 300 and rearmed_body["seq"] == body["seq"]
    assert harness.services.executions.get(T, execution_id)["updatedAt"] == head["updatedAt"]
    assert events_of(harness, T, execution_id) == events_before  # no state change, no events

    harness.clock.advance(300)
    harness.invoke([rearmed])
    harness.ack([rearmed])
    harness.drain()
    assert harness.services.executions.get(T, execution_id)["state"] == "ExecutionSucceeded"


def test_wait_until_a_past_timestamp_does_not_wait(stack: Any) -> None:
    harness = Harness(stack)
    define(harness, wait_definition(until="2001-01-01T00:00:00Z"))
    execution_id = harness.services.executions.start(T, "waiter", {})[0]["id"]
    assert harness.drain() == 1  # one wake-up runs it to the end
    execution = harness.services.executions.get(T, execution_id)
    assert execution["state"] == "ExecutionSucceeded"


def test_wait_until_a_future_timestamp(stack: Any) -> None:
    harness = Harness(stack)
    due = harness.clock.now() + timedelta(hours=3)
    define(harness, wait_definition(until=format_ts(due)))
    execution_id = harness.services.executions.start(T, "waiter", {})[0]["id"]
    harness.drain()
    assert harness.clock.now() >= due
    assert harness.services.executions.get(T, execution_id)["state"] == "ExecutionSucceeded"


def test_cancel_drops_the_pending_timer_as_stale(stack: Any) -> None:
    harness = Harness(stack)
    define(harness, wait_definition(seconds=60))
    execution_id = harness.services.executions.start(T, "waiter", {})[0]["id"]
    harness.drain(stop_after=1)
    cancelled = harness.services.executions.cancel(T, execution_id, "changed my mind")
    assert cancelled["state"] == "ExecutionCancelled" and cancelled["cause"] == "changed my mind"
    harness.drain()  # the timer fires and is dropped
    execution = harness.services.executions.get(T, execution_id)
    assert execution["state"] == "ExecutionCancelled" and execution["step"] == "pause"
    types = [e["type"] for e in events_of(harness, T, execution_id)]
    assert types[-1] == "ExecutionCancelled" and "ExecutionSucceeded" not in types
    # cancelling again is idempotent; cancelling a finished execution is a conflict
    assert harness.services.executions.cancel(T, execution_id)["state"] == "ExecutionCancelled"
    define(harness, "id: quick\nsteps:\n  - {id: only, type: echo, message: hi, end: true}")
    done = harness.services.executions.start(T, "quick", {})[0]["id"]
    harness.drain()
    with pytest.raises(Conflict):
        harness.services.executions.cancel(T, done)


def test_poison_message_reaches_the_dlq_and_batch_mates_succeed(stack: Any) -> None:
    harness = Harness(stack)
    define(harness, "id: quick\nsteps:\n  - {id: only, type: echo, message: hi, end: true}")
    sqs = client("sqs", stack)
    sqs.send_message(QueueUrl=stack.queue_url, MessageBody="this is not a wake-up")
    sqs.send_message(QueueUrl=stack.queue_url, MessageBody=json.dumps({"tenantId": T, "seq": "x"}))
    ids = [harness.services.executions.start(T, "quick", {"i": i})[0]["id"] for i in range(5)]
    dlq_url = sqs.get_queue_url(
        QueueName=stack.queue_url.rsplit("/", 1)[-1].replace("execution-processor", "execution-dlq")
    )["QueueUrl"]
    esm = EventSourceMapping(sqs, stack.queue_url, harness.handler, stack.region, workers=1, wait_seconds=1)
    deadline = time.monotonic() + 30
    dead: list[dict[str, Any]] = []
    while time.monotonic() < deadline and len(dead) < 2:
        esm.poll_once()
        dead += sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10).get("Messages", [])
    assert sorted(m["Body"] for m in dead) == sorted(["this is not a wake-up", json.dumps({"tenantId": T, "seq": "x"})])
    for execution_id in ids:
        assert harness.services.executions.get(T, execution_id)["state"] == "ExecutionSucceeded"


def test_input_is_validated_and_names_every_violation(stack: Any) -> None:
    harness = Harness(stack)
    define(harness, (load_example := open("definitions/example-definition.yaml").read()))  # noqa: SIM115
    assert load_example
    with pytest.raises(InvalidInput) as caught:
        harness.services.executions.start(T, "example-definition", {"bar": "baz"})
    assert "Additional properties are not allowed ('bar' was unexpected)" in caught.value.detail
    assert "'foo' is a required property" in caught.value.detail
    with pytest.raises(NotFound):
        harness.services.executions.start(T, "no-such-definition", {})


def test_idempotent_start_by_name(stack: Any) -> None:
    harness = Harness(stack)
    define(harness, wait_definition(seconds=10))
    first, created = harness.services.executions.start(T, "waiter", {"a": 1}, name="order-42")
    again, created_again = harness.services.executions.start(T, "waiter", {"a": 1}, name="order-42")
    assert created and not created_again and again["id"] == first["id"]
    with pytest.raises(Conflict):
        harness.services.executions.start(T, "waiter", {"a": 2}, name="order-42")
    harness.drain()
    assert len(harness.services.executions.list(T, 50, None).items) == 1


def test_failed_send_undoes_the_start_and_a_named_retry_resumes(stack: Any) -> None:
    harness = Harness(stack)
    define(harness, "id: quick\nsteps:\n  - {id: only, type: echo, message: hi, end: true}")
    real = harness.services.executions.queue

    class Down:
        def send(self, messages: Any) -> None:
            raise RuntimeError("SQS is down")

    harness.services.executions.queue = Down()  # type: ignore[assignment]
    from sedo.domain.errors import Unavailable

    with pytest.raises(Unavailable):
        harness.services.executions.start(T, "quick", {}, name="retry-me")
    assert harness.services.executions.list(T, 50, None).items == []  # nothing half-started
    harness.services.executions.queue = real
    started, created = harness.services.executions.start(T, "quick", {}, name="retry-me")
    assert created
    harness.drain()
    assert harness.services.executions.get(T, started["id"])["state"] == "ExecutionSucceeded"


def test_execution_pins_its_definition_version_and_survives_delete(stack: Any) -> None:
    harness = Harness(stack)
    define(harness, wait_definition(seconds=30))
    execution_id = harness.services.executions.start(T, "waiter", {})[0]["id"]
    harness.drain(stop_after=1)
    document = load_text(wait_definition(seconds=30).replace("message: after", "message: changed"))
    harness.services.definitions.update(T, "waiter", document)
    harness.services.definitions.delete(T, "waiter")
    with pytest.raises(NotFound):
        harness.services.executions.start(T, "waiter", {})
    harness.drain()
    execution = harness.services.executions.get(T, execution_id)
    assert execution["state"] == "ExecutionSucceeded" and execution["definitionVersion"] == 1
    assert execution["output"] == {"message": "after"}


def test_listing_filters_paginates_newest_first(stack: Any) -> None:
    harness = Harness(stack)
    define(harness, wait_definition(seconds=30))
    define(harness, "id: quick\nsteps:\n  - {id: only, type: echo, message: hi, end: true}")
    ids = []
    for i in range(7):
        harness.clock.advance(1)
        ids.append(harness.services.executions.start(T, "quick" if i % 2 else "waiter", {"i": i})[0]["id"])
    # run the quick ones to the end; leave the waiters waiting
    for message in harness.receive(10):
        harness.invoke([message])
        harness.ack([message])
    seen: list[str] = []
    token = None
    while True:
        page = harness.services.executions.list(T, 3, token)
        seen += [item["id"] for item in page.items]
        token = page.next_token
        if token is None:
            break
    assert seen == list(reversed(ids))
    quick = [i["id"] for i in harness.services.executions.list(T, 50, None, definition_id="quick").items]
    assert quick == [i for i in reversed(ids) if ":quick:" in i]
    done = harness.services.executions.list(T, 50, None, states=["ExecutionSucceeded"]).items
    assert {i["id"] for i in done} == set(quick)
    waiting = harness.services.executions.list(T, 2, None, states=["StepStarted"], definition_id="waiter")
    assert [i["step"] for i in waiting.items] == ["pause", "pause"] and waiting.next_token is not None
    other = f"other-{uuid.uuid4().hex[:6]}"
    assert harness.services.executions.list(other, 50, None).items == []
    with pytest.raises(NotFound):
        harness.services.executions.get(other, ids[0])
    with pytest.raises(NotFound):
        harness.services.executions.get(T, ids[0].replace(f"{T}:", f"{other}:"))


def test_history_pages_cover_every_event_once(stack: Any) -> None:
    harness = Harness(stack)
    steps = "\n".join(f"  - {{id: s{i}, type: wait, seconds: 1, next: s{i + 1}}}" for i in range(20))
    define(harness, f"id: many\nsteps:\n{steps}\n  - {{id: s20, type: echo, message: done, end: true}}")
    execution_id = harness.services.executions.start(T, "many", {})[0]["id"]
    harness.drain()
    everything = events_of(harness, T, execution_id)
    assert everything[-1]["type"] == "ExecutionSucceeded"
    paged: list[dict[str, Any]] = []
    token = None
    while True:
        page = harness.services.executions.history(T, execution_id, 5, token)
        paged += page.items
        token = page.next_token
        if token is None:
            break
    assert paged == everything
    assert [e["id"] for e in paged] == list(range(1, len(paged) + 1))
