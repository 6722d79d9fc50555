"""The local stack's AWS limits against the emulator: DynamoDB's per-partition throughput
(answered as DynamoDB answers a hot key) and Lambda's function timeout (a batch that
outlives it is abandoned, nothing of it after the deadline reaches AWS, and its records
come back after the visibility timeout)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from sedo.adapters.aws import client
from sedo.config import Settings
from sedo.entrypoints.local.capacity import PartitionBuckets, Rates
from sedo.entrypoints.local.deadline import FunctionTimedOut, guard
from sedo.entrypoints.local.esm import EventSourceMapping
from sedo.entrypoints.local.limits import PartitionSettings, install
from sedo.entrypoints.local.throughput import THROTTLED_MESSAGE, PartitionLimiter
from tests.support import queue_depth


class Clock:
    """The buckets' clock, moved by hand, so no test depends on how fast the emulator is."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def dynamodb(stack: Settings, attempts: int = 1) -> Any:
    """A plain client (not sedo's, so the session's default limiter is not on it)."""
    config = Config(retries={"mode": "standard", "total_max_attempts": attempts})
    return boto3.session.Session(region_name=stack.region).client(
        "dynamodb", endpoint_url=stack.endpoint_url, config=config
    )


def limited(stack: Settings, wcu: float = 5, rcu: float = 5, attempts: int = 1) -> tuple[Any, PartitionLimiter, Clock]:
    clock = Clock()
    limiter = PartitionLimiter(PartitionBuckets(Rates(wcu=wcu, rcu=rcu), clock=clock))
    return limiter.attach(dynamodb(stack, attempts)), limiter, clock


def put(ddb: Any, stack: Settings, pk: str, sk: str, **attributes: Any) -> Any:
    item = {"pk": {"S": pk}, "sk": {"S": sk}, **{k: {"S": v} for k, v in attributes.items()}}
    return ddb.put_item(TableName=stack.executions_table, Item=item)


def stored(stack: Settings, pk: str) -> set[str]:
    items = dynamodb(stack).query(
        TableName=stack.executions_table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": pk}},
        ConsistentRead=True,
    )["Items"]
    return {i["sk"]["S"] for i in items}


# -- partition throughput ------------------------------------------------------------------


def test_a_burst_on_one_partition_key_is_throttled_like_dynamodb(stack: Settings) -> None:
    ddb, limiter, _ = limited(stack, wcu=5)
    for i in range(5):
        put(ddb, stack, "hot", f"s{i}")
    with pytest.raises(ClientError) as raised:
        put(ddb, stack, "hot", "s5")
    error = raised.value.response
    assert error["Error"]["Code"] == "ThrottlingException"
    assert error["Error"]["Message"] == THROTTLED_MESSAGE
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["throttlingReasons"] == [
        {
            "reason": "TableWriteKeyRangeThroughputExceeded",
            "resource": f"arn:aws:dynamodb:{stack.region}:123456789012:table/{stack.executions_table}",
        }
    ]
    assert stored(stack, "hot") == {f"s{i}" for i in range(5)}  # the throttled write never reached the table
    assert limiter.throttled == {"PutItem": 1}


def test_the_same_burst_spread_over_partition_keys_is_not_throttled(stack: Settings) -> None:
    ddb, limiter, _ = limited(stack, wcu=5)
    for i in range(30):
        put(ddb, stack, f"tenant-{i}", "s")
    assert limiter.throttled == {}


def test_botocore_retries_a_throttle_and_the_partition_recovers_at_its_rate(stack: Settings) -> None:
    ddb, limiter, clock = limited(stack, wcu=2, attempts=3)
    put(ddb, stack, "hot", "a")
    put(ddb, stack, "hot", "b")
    with pytest.raises(ClientError) as raised:  # the clock stands still: every attempt is refused
        put(ddb, stack, "hot", "c")
    assert raised.value.response["Error"]["Code"] == "ThrottlingException"
    assert raised.value.response["ResponseMetadata"]["RetryAttempts"] == 2  # botocore retried it as a throttle
    assert limiter.throttled == {"PutItem": 3}
    clock.now += 0.5  # one unit back
    assert put(ddb, stack, "hot", "c")["ResponseMetadata"]["RetryAttempts"] == 0
    assert stored(stack, "hot") == {"a", "b", "c"}


def test_items_cost_their_size_in_write_units(stack: Settings) -> None:
    ddb, limiter, clock = limited(stack, wcu=10)
    put(ddb, stack, "big", "a", doc="x" * 9000)  # 9 KB: 9 WCU of the 10
    put(ddb, stack, "big", "b")
    with pytest.raises(ClientError, match="ThrottlingException"):
        put(ddb, stack, "big", "c")
    clock.now += 1
    # An update is charged for the item it leaves (the larger of old and new), after the fact:
    ddb.update_item(
        TableName=stack.executions_table,
        Key={"pk": {"S": "big"}, "sk": {"S": "a"}},
        UpdateExpression="SET n = :n",
        ExpressionAttributeValues={":n": {"N": "1"}},
    )
    assert limiter.buckets.tokens(_key(stack, "big"), "write") == pytest.approx(1.0)


def _key(stack: Settings, pk: str) -> Any:
    return (stack.executions_table, None, ("S", pk))


def test_an_update_does_not_return_attributes_the_caller_did_not_ask_for(stack: Settings) -> None:
    ddb, _, _ = limited(stack)
    put(ddb, stack, "p", "a", doc="x")
    response = ddb.update_item(
        TableName=stack.executions_table,
        Key={"pk": {"S": "p"}, "sk": {"S": "a"}},
        UpdateExpression="SET doc = :d",
        ExpressionAttributeValues={":d": {"S": "y"}},
    )
    assert "Attributes" not in response
    asked = ddb.delete_item(
        TableName=stack.executions_table, Key={"pk": {"S": "p"}, "sk": {"S": "a"}}, ReturnValues="ALL_OLD"
    )
    assert asked["Attributes"]["doc"] == {"S": "y"}


def test_reads_are_charged_by_what_they_return(stack: Settings) -> None:
    ddb, limiter, clock = limited(stack, wcu=1000, rcu=2)
    for i in range(3):
        put(ddb, stack, "reader", f"s{i}", doc="x" * 10_000)  # 30 KB: 8 read units, 4 RCU eventually consistent
    query = {
        "TableName": stack.executions_table,
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": "reader"}},
    }
    assert len(ddb.query(**query)["Items"]) == 3  # admitted (0.5 RCU up front), then charged 4
    with pytest.raises(ClientError) as raised:
        ddb.query(**query)
    assert raised.value.response["throttlingReasons"][0]["reason"] == "TableReadKeyRangeThroughputExceeded"
    ddb.query(**{**query, "ExpressionAttributeValues": {":pk": {"S": "someone-else"}}})  # other keys read on
    clock.now += 1.5  # 2 RCU of debt repaid, at 2 RCU/s, plus half a unit
    assert ddb.get_item(TableName=stack.executions_table, Key={"pk": {"S": "reader"}, "sk": {"S": "s0"}})["Item"]
    assert limiter.throttled == {"Query": 1}


def test_batch_writes_return_what_the_partition_cannot_take_as_unprocessed(stack: Settings) -> None:
    ddb, _, clock = limited(stack, wcu=3)
    requests = [{"PutRequest": {"Item": {"pk": {"S": "batch"}, "sk": {"S": f"s{i}"}}}} for i in range(5)]
    requests.append({"PutRequest": {"Item": {"pk": {"S": "elsewhere"}, "sk": {"S": "s"}}}})
    response = ddb.batch_write_item(RequestItems={stack.executions_table: requests})
    unprocessed = response["UnprocessedItems"][stack.executions_table]
    assert [r["PutRequest"]["Item"]["sk"]["S"] for r in unprocessed] == ["s3", "s4"]
    assert stored(stack, "batch") == {"s0", "s1", "s2"}
    assert stored(stack, "elsewhere") == {"s"}
    with pytest.raises(ClientError, match="ThrottlingException"):  # nothing of it fits: the whole batch fails
        ddb.batch_write_item(RequestItems={stack.executions_table: unprocessed})
    clock.now += 1
    assert ddb.batch_write_item(RequestItems={stack.executions_table: unprocessed})["UnprocessedItems"] == {}
    assert stored(stack, "batch") == {f"s{i}" for i in range(5)}


def test_batch_gets_return_what_the_partition_cannot_serve_as_unprocessed(stack: Settings) -> None:
    writer, _, _ = limited(stack, wcu=1000)
    for i in range(4):
        put(writer, stack, "bg", f"s{i}")
    ddb, _, _ = limited(stack, rcu=1)  # two eventually consistent reads a second
    keys = [{"pk": {"S": "bg"}, "sk": {"S": f"s{i}"}} for i in range(4)]
    response = ddb.batch_get_item(RequestItems={stack.executions_table: {"Keys": keys}})
    assert len(response["Responses"][stack.executions_table]) == 2
    assert response["UnprocessedKeys"][stack.executions_table]["Keys"] == keys[2:]


def test_a_throttled_transaction_is_cancelled_naming_the_throttled_item(stack: Settings) -> None:
    ddb, _, _ = limited(stack, wcu=4)
    put(ddb, stack, "tx", "a")
    put(ddb, stack, "tx", "b")  # 2 of 4 WCU left; a transactional write costs 2 per KB
    items = [
        {"Put": {"TableName": stack.executions_table, "Item": {"pk": {"S": "calm"}, "sk": {"S": "x"}}}},
        {"Put": {"TableName": stack.executions_table, "Item": {"pk": {"S": "tx"}, "sk": {"S": "c"}}}},
        {"Put": {"TableName": stack.executions_table, "Item": {"pk": {"S": "tx"}, "sk": {"S": "d"}}}},
    ]
    with pytest.raises(ClientError) as raised:
        ddb.transact_write_items(TransactItems=items)
    assert raised.value.response["Error"]["Code"] == "TransactionCanceledException"
    codes = [r["Code"] for r in raised.value.response["CancellationReasons"]]
    assert codes == ["None", "ThrottlingError", "ThrottlingError"]
    assert stored(stack, "calm") == set()  # all or nothing
    ddb.transact_write_items(TransactItems=items[:2])
    assert stored(stack, "tx") == {"a", "b", "c"}


def test_install_limits_every_client_sedo_makes(stack: Settings) -> None:
    installed = install(PartitionSettings(rates=Rates(wcu=1, rcu=1)))
    try:
        ddb = client("dynamodb", stack)
        assert installed.limiter is not None
        retried = []
        for i in range(50):  # two writes within a second are one too many
            retried.append(put(ddb, stack, "sedo", f"s{i}")["ResponseMetadata"]["RetryAttempts"])
            if installed.limiter.throttled:
                break
        assert installed.limiter.throttled.get("PutItem", 0) >= 1
        assert retried[-1] >= 1  # sedo's client retried the throttled write until the partition took it
        assert stored(stack, "sedo") == {f"s{i}" for i in range(len(retried))}
    finally:
        installed.remove()
    disabled = install(PartitionSettings(enabled=False))
    disabled.remove()
    assert disabled.limiter is None


# -- function timeout --------------------------------------------------------------------


def test_a_batch_that_outlives_the_function_timeout_is_abandoned_and_comes_back(stack: Settings) -> None:
    sqs = client("sqs", stack)
    ddb = guard(dynamodb(stack, attempts=5))
    sent: list[str] = []
    ddb.meta.events.register("before-send", lambda **_: sent.append("request"))  # runs after the guard
    for i in range(3):
        sqs.send_message(QueueUrl=stack.queue_url, MessageBody=json.dumps({"i": i}))
    past_deadline = threading.Event()
    finished = threading.Event()
    outcome: dict[str, Any] = {}

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        outcome["budget"] = context.get_remaining_time_in_millis()
        put(ddb, stack, "timeout", "before")
        past_deadline.wait(30)
        outcome["remaining"] = context.get_remaining_time_in_millis()
        outcome["requests"] = len(sent)
        try:
            put(ddb, stack, "timeout", "after")
        except FunctionTimedOut as exc:
            outcome["refused"] = exc
            raise
        finally:
            outcome["requests after"] = len(sent)
            finished.set()
        return {"batchItemFailures": []}  # pragma: no cover - the put above must fail

    esm = EventSourceMapping(sqs, stack.queue_url, handler, stack.region, workers=1, wait_seconds=1, function_timeout=1)
    received = 0
    while received < 3:  # one receive may return fewer than all three
        received += esm.poll_once()
        if received and not past_deadline.is_set():
            past_deadline.set()  # the ESM has already given up on the invocation
    assert esm.timeouts >= 1 and esm.errors == esm.timeouts
    assert finished.wait(30)
    assert 0 < outcome["budget"] <= 1000
    assert outcome["remaining"] == 0
    assert isinstance(outcome["refused"], FunctionTimedOut)
    assert outcome["requests after"] == outcome["requests"]  # nothing left the process after the deadline
    assert stored(stack, "timeout") == {"before"}
    assert queue_depth(sqs, stack.queue_url) == 3  # nothing was deleted
    again: list[dict[str, Any]] = []
    deadline = time.monotonic() + 60
    while len(again) < 3 and time.monotonic() < deadline:  # back after the visibility timeout (1 s)
        again += sqs.receive_message(
            QueueUrl=stack.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageSystemAttributeNames=["All"]
        ).get("Messages", [])
    assert sorted(json.loads(m["Body"])["i"] for m in again) == [0, 1, 2]
    assert all(int(m["Attributes"]["ApproximateReceiveCount"]) >= 2 for m in again)


def test_an_invocation_within_the_timeout_deletes_its_batch(stack: Settings) -> None:
    sqs = client("sqs", stack)
    sqs.send_message(QueueUrl=stack.queue_url, MessageBody="{}")
    calls: list[int] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        calls.append(context.get_remaining_time_in_millis())
        return {"batchItemFailures": []}

    esm = EventSourceMapping(
        sqs, stack.queue_url, handler, stack.region, workers=1, wait_seconds=1, function_timeout=30
    )
    while not calls:
        esm.poll_once()
    assert esm.timeouts == 0 and 0 < calls[0] <= 30_000
    assert queue_depth(sqs, stack.queue_url) == 0


def test_the_real_processor_killed_mid_batch_loses_and_doubles_nothing(stack: Settings) -> None:
    """Every DynamoDB request is slowed so the processor's batch outlives a short timeout
    part-way through; redelivered with the timeout lifted, every execution ends once."""
    from sedo.domain.execution import SUCCEEDED
    from sedo.domain.language import load_text
    from tests.support import Harness, events_of

    harness = Harness(stack)
    harness.services.definitions.create(
        "kill",
        load_text(
            "id: two\nsteps:\n  - {id: a, type: echo, message: one, next: b}\n  - {id: b, type: echo, message: two, end: true}"
        ),
    )
    ids = [harness.services.executions.start("kill", "two", {"n": i})[0]["id"] for i in range(4)]

    def slow(**_: Any) -> None:
        time.sleep(0.15)

    events = harness.adapters.executions.client.meta.events  # type: ignore[attr-defined]
    events.register("before-send", slow)
    harness.esm.function_timeout = 0.5
    messages: list[dict[str, Any]] = []
    while len(messages) < len(ids):
        messages += harness.receive()
    result = harness.invoke(messages)
    assert harness.esm.timeouts == 1
    assert {f["itemIdentifier"] for f in result["batchItemFailures"]} == {m["MessageId"] for m in messages}
    events.unregister("before-send", slow)
    harness.esm.function_timeout = 0
    harness.drain()  # the abandoned batch's records come back after the visibility timeout (1 s)
    for execution_id in ids:
        assert harness.services.executions.get("kill", execution_id)["state"] == SUCCEEDED
        history = events_of(harness, "kill", execution_id)
        assert [e["id"] for e in history] == list(range(1, len(history) + 1))
