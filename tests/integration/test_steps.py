"""The step library through the real processor and emulator: data flow, invoke, retries,
catch, timeouts, callbacks and stale tokens. Delays are read from the messages, never slept."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from sedo.domain.errors import Conflict
from sedo.domain.language import load_text
from tests.support import Harness, events_of
from tests.targets import JsonTarget, serving

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ROOT / "definitions" / "functions" / "local.yaml"
T = "steps"
ITEMS = [{"sku": "A", "qty": 1, "price": 30.0}, {"sku": "B", "qty": 2, "price": 12.5}]


@pytest.fixture
def harness(stack: Any) -> Harness:
    return Harness(replace(stack, local_functions=FUNCTIONS))


def define(harness: Harness, source: str | Path) -> str:
    text = source.read_text() if isinstance(source, Path) else source
    document = load_text(text)
    harness.services.definitions.create(T, document)
    return str(document["id"])


def run(harness: Harness, definition: str, payload: Any, **kw: Any) -> dict[str, Any]:
    execution_id = harness.services.executions.start(T, definition, payload, **kw)[0]["id"]
    harness.drain()
    return harness.services.executions.get(T, execution_id)


def step_events(harness: Harness, execution: dict[str, Any], step: str) -> list[tuple[str, Any]]:
    return [(e["type"], e.get("error")) for e in events_of(harness, T, execution["id"]) if e.get("stepId") == step]


# --- the order flow example ---------------------------------------------------------------


def test_small_order_runs_every_step_and_retries_the_busy_warehouse(harness: Harness) -> None:
    define(harness, ROOT / "definitions" / "order-flow.yaml")
    sent: list[dict[str, Any]] = []
    real_send = harness.processor.queue.send
    harness.processor.queue.send = lambda messages: (sent.extend(messages), real_send(messages))[1]  # type: ignore[method-assign]
    execution = run(harness, "order-flow", {"orderId": "o-1", "items": ITEMS})
    assert execution["state"] == "ExecutionSucceeded", execution
    output = execution["output"]
    assert output["orderId"] == "o-1" and output["total"] == 42.5 and output["reserved"][1] == {"sku": "B", "qty": 2}
    assert output["charge"].startswith("ch_")
    # the target failed its first two calls and succeeded on the third: one success, two failures
    assert step_events(harness, execution, "reserve-stock") == [
        ("StepStarted", None),
        ("StepFailed", "InventoryBusy"),
        ("StepStarted", None),
        ("StepFailed", "InventoryBusy"),
        ("StepStarted", None),
        ("StepSucceeded", None),
    ]
    retries = [m for m in sent if m["kind"] == "retry"]
    assert [m["delay"] for m in retries] == [1, 2]  # intervalSeconds 1, backoffRate 2
    assert [m["data"]["attempt"] for m in retries] == [2, 3]
    history = events_of(harness, T, execution["id"])
    assert [e["id"] for e in history] == list(range(1, len(history) + 1))


def test_declined_payment_is_caught_and_rejects_the_order(harness: Harness) -> None:
    define(harness, ROOT / "definitions" / "order-flow.yaml")
    big = [{"sku": "X", "qty": 1, "price": 6000.0}]
    execution_id = harness.services.executions.start(T, "order-flow", {"orderId": "o-2", "items": big})[0]["id"]
    harness.drain(stop_after=1)
    waiting = harness.services.executions.get(T, execution_id)
    assert waiting["state"] == "StepStarted" and waiting["step"] == "manager-approval"
    token = waiting["awaiting"]["taskToken"]
    harness.services.executions.signal(
        T, execution_id, "manager-approval", "complete", token, {"output": {"approved": True}}
    )
    harness.deliver_only("complete")
    harness.drain()
    execution = harness.services.executions.get(T, execution_id)
    assert (execution["state"], execution["error"]) == ("ExecutionFailed", "OrderRejected"), execution
    failed = [e for e in events_of(harness, T, execution_id) if e["type"] == "StepFailed"]
    assert failed[-2]["error"] == "PaymentDeclined" and failed[-2]["caughtBy"] == "rejected"


def test_approval_timeout_is_caught(harness: Harness) -> None:
    define(harness, ROOT / "definitions" / "order-flow.yaml")
    execution = run(harness, "order-flow", {"orderId": "o-3", "items": [{"sku": "X", "qty": 1, "price": 2000.0}]})
    assert execution["state"] == "ExecutionFailed" and execution["error"] == "OrderRejected"
    assert ("StepFailed", "States.Timeout") in step_events(harness, execution, "manager-approval")


# --- callbacks: stale tokens, heartbeats, cancelled timeouts --------------------------------

CALLBACK = """
id: approval
steps:
  - id: ask
    type: callback
    timeoutSeconds: 600
    heartbeatSeconds: 60
    resultPath: answer
    next: done
  - id: done
    type: succeed
    input: answer
"""


def waiting_token(harness: Harness, execution_id: str) -> str:
    return str(harness.services.executions.get(T, execution_id)["awaiting"]["taskToken"])


def test_completion_with_a_stale_or_wrong_token_is_rejected(harness: Harness) -> None:
    define(harness, CALLBACK)
    execution_id = harness.services.executions.start(T, "approval", {})[0]["id"]
    harness.drain(stop_after=1)
    token = waiting_token(harness, execution_id)
    with pytest.raises(Conflict):
        harness.services.executions.signal(T, execution_id, "ask", "complete", "0" * 40, {"output": 1})
    with pytest.raises(Conflict):
        harness.services.executions.signal(T, execution_id, "done", "complete", token, {"output": 1})
    harness.services.executions.signal(T, execution_id, "ask", "complete", token, {"output": {"ok": 1}})
    harness.deliver_only("complete")
    harness.drain()
    execution = harness.services.executions.get(T, execution_id)
    assert execution["state"] == "ExecutionSucceeded" and execution["output"] == {"ok": 1}
    with pytest.raises(Conflict):  # the same token again: the await is over
        harness.services.executions.signal(T, execution_id, "ask", "complete", token, {"output": 2})
    # the timeout and heartbeat timers set for the step fired later and were dropped
    types = [e["type"] for e in events_of(harness, T, execution_id)]
    assert types.count("StepFailed") == 0


def test_a_signal_that_raced_past_its_await_is_dropped_by_the_processor(harness: Harness) -> None:
    define(harness, CALLBACK)
    execution_id = harness.services.executions.start(T, "approval", {})[0]["id"]
    harness.drain(stop_after=1)
    token = waiting_token(harness, execution_id)
    harness.services.executions.signal(T, execution_id, "ask", "complete", token, {"output": "first"})
    harness.deliver_only("complete")
    # a second completion sent before the first was applied: the API let it through
    second = harness.services.executions.get(T, execution_id)
    assert second["state"] == "ExecutionSucceeded"
    from sedo.domain.execution import split_execution_id

    _, _, key = split_execution_id(execution_id)
    late = {
        "tenantId": T,
        "key": key,
        "seq": 1,
        "kind": "complete",
        "mid": "api-late",
        "data": {"token": token, "output": "second"},
    }
    harness.processor.process(late)
    harness.drain()
    execution = harness.services.executions.get(T, execution_id)
    assert execution["output"] == "first"
    assert [e["type"] for e in events_of(harness, T, execution_id)].count("StepSucceeded") == 2  # ask, done


def test_heartbeats_keep_a_step_alive_and_their_absence_fails_it(harness: Harness) -> None:
    define(harness, CALLBACK)
    execution_id = harness.services.executions.start(T, "approval", {})[0]["id"]
    harness.drain(stop_after=1)
    token = waiting_token(harness, execution_id)
    for _ in range(3):  # 3 x 50 s of heartbeats: 150 s alive, past the first 60 s deadline
        harness.clock.advance(50)
        harness.services.executions.signal(T, execution_id, "ask", "heartbeat", token, {})
        for message in harness.receive():
            body = json.loads(message["Body"])
            if body["kind"] == "heartbeat":
                harness.invoke([message])
                harness.ack([message])
            # timers stay in flight (invisible until the visibility timeout), as on SQS
    assert harness.services.executions.get(T, execution_id)["state"] == "StepStarted"
    harness.drain()  # no more heartbeats: the latest heartbeat deadline fails the step
    execution = harness.services.executions.get(T, execution_id)
    assert (execution["state"], execution["error"]) == ("ExecutionFailed", "States.HeartbeatTimeout")


def test_step_timeout_fires_and_is_retried(harness: Harness) -> None:
    define(
        harness,
        """
id: slow
steps:
  - id: ask
    type: callback
    timeoutSeconds: 30
    retry: [{errors: [States.Timeout], maxAttempts: 1, intervalSeconds: 5}]
    end: true
""",
    )
    execution = run(harness, "slow", {})
    assert (execution["state"], execution["error"]) == ("ExecutionFailed", "States.Timeout")
    assert [t for t, _ in step_events(harness, execution, "ask")] == [
        "StepStarted",
        "StepFailed",
        "StepStarted",
        "StepFailed",
        "ExecutionFailed",
    ]


def test_execution_timeout(harness: Harness) -> None:
    define(harness, "id: forever\ntimeoutSeconds: 120\nsteps:\n  - {id: w, type: wait, seconds: 86400, end: true}")
    execution = run(harness, "forever", {})
    assert (execution["state"], execution["error"]) == ("ExecutionFailed", "States.Timeout")


# --- choice, pass, transform, fail, expressions ------------------------------------------

FLOW = """
id: flow
output: "{kind: kind, doubled: doubled}"
steps:
  - id: classify
    type: choice
    choices:
      - {when: "input.n > `10`", next: big}
      - {when: "input.n > `0`", next: small}
  - id: big
    type: pass
    value: big
    resultPath: kind
    next: double
  - id: small
    type: pass
    value: small
    resultPath: kind
    next: double
  - id: double
    type: transform
    expression: "multiply(input.n, `2`)"
    resultPath: doubled
    catch: [{errors: [States.BadExpression], next: bad-math}]
    end: true
  - id: bad-math
    type: fail
    error: BadMath
"""


def test_choice_pass_transform_and_output(harness: Harness) -> None:
    define(harness, FLOW.replace("multiply(input.n, `2`)", "sum([input.n, input.n])"))
    assert run(harness, "flow", {"n": 21})["output"] == {"kind": "big", "doubled": 42}
    assert run(harness, "flow", {"n": 3})["output"] == {"kind": "small", "doubled": 6}
    failed = run(harness, "flow", {"n": -1})
    assert (failed["state"], failed["error"]) == ("ExecutionFailed", "States.NoChoiceMatched")


def test_bad_expression_at_run_time_is_catchable(harness: Harness) -> None:
    define(harness, FLOW.replace("multiply(input.n, `2`)", "abs(input.name)"))
    failed = run(harness, "flow", {"n": 3, "name": "three"})
    assert (failed["state"], failed["error"]) == ("ExecutionFailed", "BadMath")


# --- HTTP targets ------------------------------------------------------------------------


class Target(JsonTarget):
    calls: list[dict[str, Any]] = []
    fail_first = 0

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", 0))
        body = json.loads(self.rfile.read(length) or b"null")
        Target.calls.append({"body": body, "key": self.headers.get("Idempotency-Key")})
        status = 503 if len(Target.calls) <= Target.fail_first else 200
        self.answer(status, {"echo": body, "call": len(Target.calls)})


@pytest.fixture
def http_target() -> Any:
    Target.calls = []
    with serving(Target, "/work") as url:
        yield url


def test_http_target_with_retry_and_idempotency_keys(harness: Harness, http_target: str) -> None:
    Target.fail_first = 2
    define(
        harness,
        f"""
id: call
steps:
  - id: post
    type: invoke
    http: {{url: "{http_target}", method: POST, headers: {{X-Tenant: "{T}"}}}}
    input: "{{n: input.n}}"
    retry: [{{errors: [Http.503], maxAttempts: 3, intervalSeconds: 1}}]
    output: "echo"
    resultPath: answer
    end: true
""",
    )
    execution = run(harness, "call", {"n": 7})
    assert execution["state"] == "ExecutionSucceeded" and execution["output"] == {"n": 7}
    keys = [c["key"] for c in Target.calls]
    assert keys == [f"{execution['id']}/post/{attempt}" for attempt in (1, 2, 3)]
    assert ("StepFailed", "Http.503") in step_events(harness, execution, "post")


def test_invoke_of_a_function_off_the_allow_list_is_rejected_at_store_time(harness: Harness) -> None:
    from sedo.domain.errors import InvalidDefinition

    with pytest.raises(InvalidDefinition) as caught:
        define(harness, "id: x\nsteps:\n  - {id: a, type: invoke, function: rm-rf, end: true}")
    assert [p.path for p in caught.value.problems] == ["/steps/0/function"]


def test_async_invoke_waits_for_completion(harness: Harness) -> None:
    define(
        harness,
        """
id: async
steps:
  - id: refund
    type: invoke
    function: payments-refund
    waitForCompletion: true
    input: "{reason: input.reason}"
    resultPath: refund
    end: true
""",
    )
    execution_id = harness.services.executions.start(T, "async", {"reason": "damaged"})[0]["id"]
    harness.drain(stop_after=1)
    started = next(e for e in events_of(harness, T, execution_id) if e["type"] == "StepStarted")
    token = started["taskToken"]
    assert token == waiting_token(harness, execution_id)
    harness.services.executions.signal(T, execution_id, "refund", "complete", token, {"output": {"refunded": True}})
    harness.deliver_only("complete")
    harness.drain()
    execution = harness.services.executions.get(T, execution_id)
    assert execution["state"] == "ExecutionSucceeded" and execution["output"] == {"refunded": True}
