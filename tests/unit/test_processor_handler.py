"""The processor's batch handler: throttles come back later as new messages, never toward the
DLQ; a record failing on its last receive fails its execution first."""

from __future__ import annotations

import json
import logging
from typing import Any

from botocore.exceptions import ClientError

from sedo import bootstrap
from sedo.adapters.clock import FakeClock
from sedo.domain.language import load_text
from sedo.entrypoints.processor import THROTTLE_DELAY, make_handler, throttled

T = "t"


def _event(body: dict[str, Any], receives: int = 1) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": "m1",
                "receiptHandle": "r",
                "body": json.dumps(body),
                "attributes": {"ApproximateReceiveCount": str(receives)},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:q",
                "awsRegion": "us-east-1",
            }
        ]
    }


def _world() -> tuple[Any, Any, str]:
    adapters = bootstrap.memory_adapters(FakeClock())
    services = bootstrap.api_services(adapters)
    services.definitions.create(T, load_text("id: cb\nsteps:\n  - {id: ask, type: callback, end: true}"))
    started, _ = services.executions.start(T, "cb", {})
    processor = bootstrap.processor(adapters)
    return adapters, processor, started["id"]


def test_a_throttled_wake_up_is_sent_again_shortly_and_acked() -> None:
    adapters, processor, _ = _world()
    start = adapters.queue.sent.pop()
    error = ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "PutItem")

    def throttle(*_: Any, **__: Any) -> Any:
        raise error

    processor.process = throttle  # the store's throttle, after botocore's retries
    handler = make_handler(processor, logging.getLogger("test"), max_receive_count=3)
    result = handler(_event(start, receives=3), None)
    assert result == {"batchItemFailures": []}  # acked: it never counts toward the DLQ
    [again] = adapters.queue.sent
    assert again["throttled"] == 1 and THROTTLE_DELAY[0] <= again["delay"] <= THROTTLE_DELAY[1]
    assert {k: v for k, v in again.items() if k not in ("throttled", "delay")} == start
    assert throttled(RuntimeError("wrapped")) is False
    try:
        raise RuntimeError("flush failed") from error
    except RuntimeError as wrapped:
        assert throttled(wrapped)


def test_a_record_failing_on_its_last_receive_fails_its_execution() -> None:
    adapters, processor, execution_id = _world()
    start = adapters.queue.sent.pop()
    processor.process(start, 1)  # the execution now awaits its callback
    _, _, key = execution_id.split(":")
    broken = {"tenantId": T, "key": key, "seq": 0, "kind": "sweep", "mid": "bad", "data": {}}
    handler = make_handler(processor, logging.getLogger("test"), max_receive_count=3)
    assert handler(_event(broken, receives=2), None)["batchItemFailures"] == [{"itemIdentifier": "m1"}]
    assert adapters.executions.get(T, key).state == "StepStarted"  # not yet: SQS will try again
    assert handler(_event(broken, receives=3), None)["batchItemFailures"] == [{"itemIdentifier": "m1"}]
    head = adapters.executions.get(T, key)
    assert head.state == "ExecutionFailed" and head.error == "States.Runtime" and "last receive" in head.cause


# -- a batch on threads ---------------------------------------------------------------------------


def _records(bodies: list[Any]) -> dict[str, Any]:
    one = _event({})["Records"][0]
    return {
        "Records": [
            {**one, "messageId": f"m{i}", "body": body if isinstance(body, str) else json.dumps(body)}
            for i, body in enumerate(bodies)
        ]
    }


def test_groups_keep_one_executions_records_together_in_batch_order() -> None:
    from sedo.entrypoints.batch import groups

    bodies = [
        {"tenantId": "t", "key": "a", "n": 1},
        {"tenantId": "t", "key": "b"},
        "not json",
        {"tenantId": "t", "key": "a", "n": 2},
    ]
    grouped = groups(_records(bodies)["Records"])
    assert [[r["messageId"] for r in g] for g in grouped] == [["m0", "m3"], ["m1"], ["m2"]]


def test_a_threaded_handler_runs_executions_side_by_side_in_order_and_reports_failures() -> None:
    import threading
    import time

    seen: list[tuple[str, int]] = []
    running, most = [0], [0]
    lock = threading.Lock()

    def process(body: dict[str, Any], receives: int, message_id: str | None = None) -> str:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.05)  # waits as on AWS: the other executions run meanwhile
        with lock:
            running[0] -= 1
            seen.append((body["key"], body["n"]))
        if body["key"] == "bad":
            raise RuntimeError("boom")
        return "committed"

    _, processor, _ = _world()
    processor.process = process  # the store waits as on AWS
    handler = make_handler(processor, logging.getLogger("test"), threads=4)
    bodies = [{"tenantId": "t", "key": k, "n": n} for n in range(3) for k in ("a", "b", "bad")]
    result = handler(_records(bodies), None)
    assert result == {"batchItemFailures": [{"itemIdentifier": f"m{i}"} for i in (2, 5, 8)]}
    assert most[0] >= 2  # executions at once
    for key in ("a", "b", "bad"):
        assert [n for k, n in seen if k == key] == [0, 1, 2]  # each execution's records in order


def test_a_threaded_handler_handles_poison_like_the_sequential_one(caplog: Any) -> None:
    adapters, processor, _ = _world()
    start = adapters.queue.sent.pop()
    handler = make_handler(processor, logging.getLogger("test"), threads=4)
    result = handler(_records([start, "not json"]), None)
    assert result == {"batchItemFailures": [{"itemIdentifier": "m1"}]}


class _Ledger:
    """The usage ledger's store (sedo/service_layer/usage.py's UsageStore), keeping each write."""

    def __init__(self) -> None:
        self.added: list[tuple[str, dict[str, float]]] = []

    def add(self, tenant_id: str, day: str, shard: int, amounts: Any) -> None:
        self.added.append((tenant_id, dict(amounts)))

    def register(self, tenant_id: str, day: str) -> None:
        pass

    def days(self, tenant_id: str, first: str, last: str, shards: int) -> dict[str, dict[str, float]]:
        return {}

    def tenants(self, day: str) -> list[str]:
        return []


def test_a_threaded_batch_counts_every_wake_up_once_in_the_usage_ledger() -> None:
    """The batch's executions run on pool threads; their usage adds into the invocation's totals
    (not each thread's), written once per tenant when the batch ends."""
    from sedo.service_layer.usage import UsageLedger, UsageMeter

    clock = FakeClock()
    adapters = bootstrap.memory_adapters(clock)
    services = bootstrap.api_services(adapters)
    services.definitions.create(
        T, load_text("id: two\nsteps:\n  - {id: a, type: pass, next: b}\n  - {id: b, type: pass, end: true}")
    )
    for _ in range(6):
        services.executions.start(T, "two", {})
    starts = list(adapters.queue.sent)
    adapters.queue.sent.clear()
    store = _Ledger()
    processor = bootstrap.processor(adapters, observer=UsageMeter(UsageLedger(store, clock)))
    handler = make_handler(processor, logging.getLogger("test"), threads=4)
    for _ in range(3):  # the same batch twice more: redeliveries count wake-ups, never transitions
        assert handler(_records(starts), None) == {"batchItemFailures": []}
    assert [tenant for tenant, _ in store.added] == [T, T, T]
    first, *again = (amounts for _, amounts in store.added)
    assert first["wakeUps"] == 6 and first["transitions"] == 12 and first["executionsFinished.ExecutionSucceeded"] == 6
    assert first["processorInvocations"] == 1
    for amounts in again:
        assert amounts["wakeUps"] == 6 and "transitions" not in amounts
