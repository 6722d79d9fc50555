"""A wake-up that reaches the DLQ fails its execution (States.Runtime); moving it back from the
DLQ (``aws sqs start-message-move-task``; here receive + send, the way the task moves a
message, since moto has no move task) brings the execution back: it resumes where it
failed, exactly once, and its history says so (docs/DESIGN.md §5, sedo/domain/deadletters.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from sedo.config import Settings
from sedo.domain.language import load_text
from sedo.service_layer.processing import Processed
from tests.support import Harness, events_of

pytestmark = pytest.mark.integration

T = "redrive"
ASK = "id: ask\nsteps:\n  - {id: approve, type: callback, next: done}\n  - {id: done, type: pass, end: true}"
NAP = "id: nap\nsteps:\n  - {id: rest, type: wait, seconds: 30, next: done}\n  - {id: done, type: pass, end: true}"


def _failing(harness: Harness, kind: str) -> Callable[[bool], None]:
    """Wake-ups of ``kind`` fail (a dependency is down) until the returned switch turns it off."""
    decide = harness.processor.decide
    down = {"on": True}

    def failing(definition: Any, head: Any, wake: Any) -> Any:
        if down["on"] and wake.kind == kind:
            raise RuntimeError("the ledger is down")
        return decide(definition, head, wake)

    harness.processor.decide = failing  # type: ignore[method-assign]
    return lambda on: down.update(on=on)


def _complete(harness: Harness, execution_id: str) -> None:
    token = harness.services.executions.get(T, execution_id)["awaiting"]["taskToken"]
    harness.services.executions.signal(T, execution_id, "approve", "complete", token, {"output": {"ok": True}})  # type: ignore[arg-type]


CASES: dict[str, tuple[str, str, Callable[[Harness, str], None]]] = {
    "callback-completion": (ASK, "complete", _complete),
    "timer": (NAP, "timer", lambda harness, execution_id: None),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_redriven_dead_letter_resumes_the_execution_it_failed_exactly_once(stack: Settings, case: str) -> None:
    text, kind, wake = CASES[case]
    harness = Harness(stack)
    assert harness.settings.max_receive_count == 3
    document = load_text(text)
    harness.services.definitions.create(T, document)
    execution_id = harness.services.executions.start(T, str(document["id"]), {"n": 1})[0]["id"]
    switch = _failing(harness, kind)
    harness.drain()
    wake(harness, execution_id)
    harness.drain()  # the wake-up fails on each of its 3 receives, then SQS moves it to the DLQ
    failed = harness.services.executions.get(T, execution_id)
    assert failed["state"] == "ExecutionFailed" and failed["error"] == "States.Runtime", failed
    assert "the ledger is down" in failed["cause"]

    switch(False)  # the dependency is back; the operator redrives the DLQ
    [moved] = harness.redrive()
    assert moved["kind"] == kind
    results: list[str] = []
    observer = harness.processor.observer
    harness.processor.observer = type("Seen", (), {"wake_up": lambda self, r: results.append(str(r.result))})()
    harness.drain()
    harness.processor.observer = observer
    assert Processed.REDRIVEN in results
    resumed = harness.services.executions.get(T, execution_id)
    assert resumed["state"] == "ExecutionSucceeded", resumed
    assert "error" not in resumed
    events = events_of(harness, T, execution_id)
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    types = [e["type"] for e in events]
    tail = types[types.index("ExecutionFailed") :]
    assert tail == [
        "ExecutionFailed",
        "ExecutionRedriven",
        "StepSucceeded",
        "StepStarted",
        "StepSucceeded",
        "ExecutionSucceeded",
    ]
    step = str(document["steps"][0]["id"])
    assert [e.get("stepId") for e in events[types.index("ExecutionRedriven") :][:2]] == [step, step]  # resumed there
    redriven = events[types.index("ExecutionRedriven")]
    assert redriven["kind"] == kind and "the ledger is down" in redriven["cause"]

    # Moved back twice (the move task is at-least-once too): the second copy changes nothing.
    harness.sqs.send_message(QueueUrl=harness.queue_url, MessageBody=json.dumps(moved))
    harness.drain()
    assert harness.services.executions.get(T, execution_id)["state"] == "ExecutionSucceeded"
    assert [e["type"] for e in events_of(harness, T, execution_id)] == types
    assert not harness.redrive()
