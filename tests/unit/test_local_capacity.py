"""The local stack's model of AWS limits: DynamoDB's capacity arithmetic, the token
buckets, the limits' switches and Lambda's function timeout (no emulator needed)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from sedo.entrypoints.local.capacity import (
    PartitionBuckets,
    Rates,
    TokenBucket,
    item_size,
    read_units,
    value_size,
    write_units,
)
from sedo.entrypoints.local.deadline import (
    FunctionTimedOut,
    check,
    deadline,
    function_timeout,
    run_with_deadline,
    template_timeout,
)
from sedo.entrypoints.local.limits import PartitionSettings
from sedo.entrypoints.local.throughput import _query_partition


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# -- sizes and units ---------------------------------------------------------------------


def test_value_sizes_follow_dynamodb_rules() -> None:
    assert value_size({"S": "abc"}) == 3
    assert value_size({"S": "é"}) == 2  # UTF-8 bytes, not characters
    assert value_size({"N": "123"}) == 3  # 3 significant digits -> 2 bytes + 1
    assert value_size({"N": "-0.0012300"}) == 3  # sign, leading and trailing zeros do not count
    assert value_size({"B": b"\x00\x01\x02"}) == 3
    assert value_size({"B": "AAEC"}) == 3  # base64 on the wire
    assert value_size({"BOOL": True}) == value_size({"NULL": True}) == 1
    assert value_size({"SS": ["a", "bc"]}) == 3
    assert value_size({"L": [{"S": "ab"}, {"N": "1"}]}) == 3 + (1 + 2) + (1 + 2)
    assert value_size({"M": {"k": {"S": "v"}}}) == 3 + 1 + 1 + 1
    assert value_size({"M": {}}) == value_size({"L": []}) == 3
    with pytest.raises(ValueError, match="not a DynamoDB attribute value"):
        value_size({"X": 1})


def test_item_size_counts_attribute_names() -> None:
    assert item_size({"pk": {"S": "tenant"}, "sk": {"S": "x"}}) == 2 + 6 + 2 + 1
    assert item_size(None) == item_size({}) == 0


def test_write_units_are_per_started_kilobyte_and_double_in_transactions() -> None:
    assert write_units(0) == write_units(1) == write_units(1024) == 1
    assert write_units(1025) == 2
    assert write_units(400 * 1024) == 400
    assert write_units(1025, transactional=True) == 4


def test_read_units_are_per_started_4kb_half_when_eventually_consistent() -> None:
    assert read_units(0) == read_units(4096) == 0.5
    assert read_units(4097) == 1.0
    assert read_units(4097, consistent=True) == 2.0
    assert read_units(4096, transactional=True) == 2.0
    assert read_units(8193, transactional=True) == 6.0


# -- buckets -----------------------------------------------------------------------------


def test_bucket_admits_its_burst_then_refills_at_its_rate() -> None:
    bucket = TokenBucket(rate=10, capacity=10, now=0.0)
    for _ in range(10):
        assert bucket.admits(1, 0.0)
        bucket.charge(1, 0.0)
    assert not bucket.admits(1, 0.0)
    assert not bucket.admits(1, 0.05)  # half a unit back
    assert bucket.admits(1, 0.1)
    bucket.charge(1, 0.1)
    assert bucket.refill(100.0) == 10  # never above its capacity


def test_a_request_larger_than_the_burst_passes_a_full_bucket_and_leaves_a_debt() -> None:
    bucket = TokenBucket(rate=5, capacity=5, now=0.0)
    assert bucket.admits(20, 0.0)
    bucket.charge(20, 0.0)
    assert bucket.tokens == -15
    assert not bucket.admits(1, 3.0)  # 15 units of debt take 3 s to repay
    assert bucket.admits(1, 3.2)
    with pytest.raises(ValueError, match="positive"):
        TokenBucket(0, 1, 0.0)


def test_partition_buckets_take_all_demands_or_none() -> None:
    clock = Clock()
    buckets = PartitionBuckets(Rates(wcu=4, rcu=6), clock=clock)
    assert buckets.take([("a", "write", 3.0)]) == []
    refused = buckets.take([("a", "write", 2.0), ("b", "write", 1.0)])
    assert refused == [("a", "write", 2.0)]
    assert buckets.tokens("b", "write") == 4  # nothing taken from b either
    assert buckets.take([("b", "write", 2.0), ("b", "write", 2.0)]) == []  # summed per bucket
    assert buckets.take([("b", "write", 1.0)]) != []
    assert buckets.take([("a", "read", 6.0)]) == []  # reads and writes are separate
    clock.now += 0.5
    assert buckets.tokens("a", "write") == pytest.approx(3.0)


def test_partition_buckets_drop_idle_buckets_when_full() -> None:
    clock = Clock()
    buckets = PartitionBuckets(Rates(wcu=1, rcu=1), clock=clock, max_buckets=3)
    for key in "abc":
        buckets.take([(key, "write", 1.0)])
    clock.now += 10  # all refilled: idle
    buckets.take([("d", "write", 1.0)])
    assert len(buckets._buckets) == 1


def test_query_partition_is_read_from_the_key_condition() -> None:
    params: dict[str, Any] = {
        "KeyConditionExpression": "#p = :tenant AND begins_with(sk, :prefix)",
        "ExpressionAttributeNames": {"#p": "pk"},
        "ExpressionAttributeValues": {":tenant": {"S": "123"}, ":prefix": {"S": "x"}},
    }
    assert _query_partition(params, "pk") == {"S": "123"}
    assert _query_partition({"KeyConditions": {"pk": {"AttributeValueList": [{"S": "9"}]}}}, "pk") == {"S": "9"}


# -- switches ----------------------------------------------------------------------------


def test_partition_limits_are_on_by_default_at_dynamodbs_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SEDO_LOCAL_PARTITION_LIMITS", "SEDO_LOCAL_WCU_PER_PARTITION", "SEDO_LOCAL_RCU_PER_PARTITION"):
        monkeypatch.delenv(name, raising=False)
    settings = PartitionSettings.from_env()
    assert settings.enabled
    assert (settings.rates.wcu, settings.rates.rcu) == (1000, 3000)
    monkeypatch.setenv("SEDO_LOCAL_PARTITION_LIMITS", "0")
    assert not PartitionSettings.from_env().enabled
    monkeypatch.setenv("SEDO_LOCAL_PARTITION_LIMITS", "1")
    monkeypatch.setenv("SEDO_LOCAL_WCU_PER_PARTITION", "5")
    monkeypatch.setenv("SEDO_LOCAL_RCU_PER_PARTITION", "7.5")
    assert PartitionSettings.from_env().rates == Rates(wcu=5, rcu=7.5)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SEDO_LOCAL_PARTITION_LIMITS", "maybe", "must be 1 .on. or 0 .off."),
        ("SEDO_LOCAL_WCU_PER_PARTITION", "lots", "must be a number"),
        ("SEDO_LOCAL_RCU_PER_PARTITION", "0", "must be positive"),
    ],
)
def test_bad_partition_settings_are_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=f"{name} {message}"):
        PartitionSettings.from_env()


def test_function_timeout_is_the_templates_unless_overridden(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SEDO_LOCAL_FUNCTION_TIMEOUT", raising=False)
    assert function_timeout() == 30  # template.yaml's ProcessorTimeoutSeconds default
    assert function_timeout({"ProcessorTimeoutSeconds": "60"}) == 60
    template = tmp_path / "template.yaml"
    template.write_text("Parameters:\n  ProcessorTimeoutSeconds: {Type: String, Default: '15'}\nX: !Ref Y\n")
    assert template_timeout(template=template) == 15
    monkeypatch.setenv("SEDO_LOCAL_FUNCTION_TIMEOUT", "2.5")
    assert function_timeout({"ProcessorTimeoutSeconds": "60"}) == 2.5
    monkeypatch.setenv("SEDO_LOCAL_FUNCTION_TIMEOUT", "0")
    assert function_timeout() == 0
    for bad in ("soon", "-1"):
        monkeypatch.setenv("SEDO_LOCAL_FUNCTION_TIMEOUT", bad)
        with pytest.raises(ValueError, match="SEDO_LOCAL_FUNCTION_TIMEOUT must"):
            function_timeout()


# -- the deadline ------------------------------------------------------------------------


def test_check_refuses_only_after_this_threads_deadline() -> None:
    check()  # no deadline: nothing to refuse
    with deadline(time.monotonic() + 60):
        check()
    with deadline(time.monotonic() - 1), pytest.raises(FunctionTimedOut):
        check()
    seen: list[BaseException] = []

    def other() -> None:
        try:
            check()
        except FunctionTimedOut as exc:  # pragma: no cover - the failure being tested for
            seen.append(exc)

    with deadline(time.monotonic() - 1):
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
    assert seen == []  # deadlines belong to the invocation's thread


def test_run_with_deadline_gives_up_at_the_deadline_and_fences_the_rest() -> None:
    release = threading.Event()
    after: list[str] = []

    def slow() -> str:
        release.wait(30)
        try:
            check()
        except FunctionTimedOut:
            after.append("fenced")
            raise
        return "late"  # pragma: no cover - must not be reached

    finished, result, error = run_with_deadline(slow, 0.2)
    assert (finished, result, error) == (False, None, None)
    release.set()
    for _ in range(300):
        if after:
            break
        time.sleep(0.01)
    assert after == ["fenced"]


def test_run_with_deadline_returns_results_and_errors_in_time() -> None:
    assert run_with_deadline(lambda: 42, 30) == (True, 42, None)
    assert run_with_deadline(lambda: 42, 0) == (True, 42, None)
    finished, result, error = run_with_deadline(lambda: 1 // 0, 30)
    assert finished and result is None and isinstance(error, ZeroDivisionError)
