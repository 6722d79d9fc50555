"""Tenants' pure parts: quota arithmetic and validation, the admin claim, the meter's units, the ledger's day."""

from __future__ import annotations

from typing import Any

import pytest

from sedo.auth.errors import AuthError
from sedo.auth.grants import Principal, authorize, parse_admin_claim
from sedo.domain import limits
from sedo.domain.errors import BadRequest, TooManyRequests
from sedo.entrypoints import metering
from sedo.service_layer.quotas import (
    Quotas,
    QuotaService,
    home_shard,
    running_shards,
    shard_share,
    start_shards,
)
from sedo.service_layer.usage import describe_day


class FakeQuotaStore:
    """The QuotaStore port in memory, with DynamoDB's conditions."""

    def __init__(self) -> None:
        self.quotas: dict[str, tuple[Quotas, int]] = {}
        self.shards: dict[tuple[str, int], set[str]] = {}
        self.tats: dict[tuple[str, int], int] = {}

    def get_quotas(self, tenant_id: str) -> tuple[Quotas, int] | None:
        return self.quotas.get(tenant_id)

    def put_quotas(self, tenant_id: str, quotas: Quotas, running_shards: int, now: str) -> None:
        self.quotas[tenant_id] = (quotas, running_shards)

    def take_slot(self, tenant_id: str, shard: int, key: str, share: int) -> bool:
        members = self.shards.setdefault((tenant_id, shard), set())
        if key in members or len(members) < share:
            members.add(key)
            return True
        return False

    def give_back_slots(self, tenant_id: str, shard: int, keys: set[str]) -> set[str]:
        members = self.shards.get((tenant_id, shard), set())
        held = members & keys
        members -= keys
        return held

    def running(self, tenant_id: str, shards: int) -> dict[int, set[str]]:
        return {i: set(self.shards[(tenant_id, i)]) for i in range(shards) if (tenant_id, i) in self.shards}

    def take_token(self, tenant_id: str, shard: int, now_ms: int, interval_ms: int, tolerance_ms: int) -> int:
        tat = self.tats.get((tenant_id, shard))
        if tat is None or tat <= now_ms:
            self.tats[(tenant_id, shard)] = now_ms + interval_ms
            return 0
        if tat <= now_ms + tolerance_ms:
            self.tats[(tenant_id, shard)] = tat + interval_ms
            return 0
        return tat - tolerance_ms - now_ms


@pytest.mark.parametrize("maximum", [1, 3, 31, 32, 33, 100, 1000, 8191, 10_000, 1_000_000])
def test_running_shards_share_the_quota_exactly(maximum: int) -> None:
    shards = running_shards(maximum)
    assert 1 <= shards <= limits.MAX_RUNNING_SHARDS
    assert sum(shard_share(maximum, shards, i) for i in range(shards)) == maximum
    if maximum <= limits.MAX_RUNNING_SHARDS * limits.MAX_RUNNING_PER_SHARD:
        assert max(shard_share(maximum, shards, i) for i in range(shards)) <= limits.MAX_RUNNING_PER_SHARD
    assert all(0 <= home_shard(f"k{i}", shards) < shards for i in range(50))


def test_start_buckets_spread_fast_rates() -> None:
    assert [start_shards(r) for r in (1, 100, 101, 1600, 100_000)] == [1, 1, 2, 16, 16]


def test_quota_updates_are_whole_numbers_in_range_and_keep_the_rest() -> None:
    base = Quotas(10, 5, 7)
    assert Quotas.from_api({"startsPerSecond": 0}, base) == Quotas(10, 0, 7)
    for bad in ({"maxRunningExecutions": -1}, {"maxDefinitions": 1.5}, {"startsPerSecond": True}, {"other": 1}):
        with pytest.raises(BadRequest):
            Quotas.from_api(bad, base)
    with pytest.raises(BadRequest) as refused:
        Quotas.from_api({"maxRunningExecutions": limits.MAX_QUOTA_VALUE + 1, "x": 1}, base)
    assert len(refused.value.extra["errors"]) == 2


def test_a_slot_taken_under_other_quotas_is_found_and_given_back_once() -> None:
    store = FakeQuotaStore()
    service = QuotaService(store, Quotas(max_running_executions=1000))  # 32 shards
    keys = [f"key-{i}" for i in range(40)]
    for key in keys:
        assert service.admit_start("t", key)
    service.set("t", {"maxRunningExecutions": 5}, "now")  # one shard now; the 40 stay counted
    assert service.describe("t")["running"] == 40
    for key in keys:  # each is released where it went, once
        assert service.release("t", key)
        assert not service.release("t", key)
    assert service.describe("t")["running"] == 0
    for i in range(5):
        assert service.admit_start("t", f"new-{i}")
    with pytest.raises(TooManyRequests):
        service.admit_start("t", "one-too-many")


def test_a_batch_of_ended_executions_gives_back_its_slots_in_one_write_per_home_shard() -> None:
    from sedo.domain.execution import Execution

    store = FakeQuotaStore()
    writes: list[tuple[int, set[str]]] = []
    give_back = store.give_back_slots

    def counted(tenant_id: str, shard: int, keys: set[str]) -> set[str]:
        writes.append((shard, set(keys)))
        return give_back(tenant_id, shard, keys)

    store.give_back_slots = counted  # type: ignore[method-assign]
    service = QuotaService(store, Quotas(max_running_executions=1000))  # 32 shards
    keys = [f"key-{i}" for i in range(40)]
    for key in keys:
        assert service.admit_start("t", key)
    heads = [
        Execution(tenant_id="t", key=key, definition_id="d", definition_version=1, input={}, created_at="now")
        for key in keys[:30]
    ]
    service.finished(heads + heads[:5])  # a redelivered end among them counts once
    assert service.describe("t")["running"] == 10
    homes = {home_shard(key, running_shards(1000)) for key in keys[:30]}
    assert sorted(shard for shard, _ in writes) == sorted(homes)  # one write per home shard
    assert set().union(*(group for _, group in writes)) == set(keys[:30])
    service.finished(heads)  # again: nothing held, nothing released twice
    assert service.describe("t")["running"] == 10


def test_unlimited_quotas_cost_no_request() -> None:
    store = FakeQuotaStore()
    service = QuotaService(store, Quotas())
    assert service.admit_start("t", "k") is False
    assert service.release("t", "k") is False
    assert store.shards == {} and store.tats == {}


def test_refusals_are_reported_with_the_quota_they_hit() -> None:
    refused: list[tuple[str, str]] = []
    service = QuotaService(FakeQuotaStore(), Quotas(1, 1, 0), now_ms=lambda: 0, on_refusal=lambda *a: refused.append(a))
    service.admit_start("t", "a")
    with pytest.raises(TooManyRequests) as rate:
        service.admit_start("t", "b")
    assert rate.value.retry_after == 1
    assert refused == [("t", "startsPerSecond")]


def test_the_admin_claim_is_a_boolean_and_only_it_reaches_admin_operations() -> None:
    assert parse_admin_claim(True) and parse_admin_claim("true")
    assert not parse_admin_claim(None) and not parse_admin_claim(False) and not parse_admin_claim("false")
    with pytest.raises(ValueError, match="true or false"):
        parse_admin_claim("yes")
    author = Principal("a", {"t": "author"})
    admin = Principal("b", {}, admin=True)
    authorize(admin, "put_quotas", "t")
    authorize(author, "get_usage", "t")
    for principal, operation in ((author, "put_quotas"), (author, "admin_usage"), (admin, "get_usage")):
        with pytest.raises(AuthError) as refused:
            authorize(principal, operation, "t")
        assert refused.value.status == 403


def test_the_meter_counts_units_as_dynamodb_bills_them() -> None:
    big = {"pk": {"S": "t"}, "doc": {"S": "x" * 3000}}
    assert metering.dynamodb_units("PutItem", {"Item": big}, {}) == {"dynamodbWriteUnits": 3.0}
    created = {
        "Item": {**big, "dpk": {"S": "t#d"}, "dueAt": {"N": "1"}},
        "ConditionExpression": "attribute_not_exists(pk)",
    }
    assert metering.dynamodb_units("PutItem", created, {})["dynamodbWriteUnits"] == 3.0 + 2  # two index entries
    moved = {"Item": {**big, "dpk": {"S": "t#d"}, "dueAt": {"N": "2"}}, "ConditionExpression": "seq = :s"}
    assert metering.dynamodb_units("PutItem", moved, {})["dynamodbWriteUnits"] == 3.0 + 2  # the due entry moves
    assert metering.dynamodb_units("GetItem", {"ConsistentRead": True}, {"Item": big}) == {"dynamodbReadUnits": 1.0}
    assert metering.dynamodb_units("GetItem", {}, {"Item": big}) == {"dynamodbReadUnits": 0.5}
    query = metering.dynamodb_units("Query", {}, {"Items": [big, big]})
    assert query == {"dynamodbReadUnits": 1.0}  # 6 KB rounded once, eventually consistent
    transaction = {"TransactItems": [{"Put": {"Item": big}}, {"Update": {"Key": {"pk": {"S": "t"}}}}]}
    assert metering.dynamodb_units("TransactWriteItems", transaction, {}) == {"dynamodbWriteUnits": 8.0}
    entries = [{"MessageBody": "x" * 40_000}, {"MessageBody": "y" * 40_000}]
    assert metering.sqs_requests("SendMessageBatch", {"Entries": entries}, {}) == 2
    assert metering.sqs_requests("ReceiveMessage", {}, {}) == 1


def test_a_day_is_shown_by_service_and_operation_and_priced() -> None:
    amounts: dict[str, Any] = {
        "executionsStarted": 2.0,
        "executionsFinished.ExecutionSucceeded": 2.0,
        "transitions": 6.0,
        "requests.dynamodb.PutItem": 8.0,
        "requests.sqs.SendMessageBatch": 4.0,
        "dynamodbWriteUnits": 16.0,
        "dynamodbReadUnits": 4.0,
        "sqsRequests": 6.0,
        "processorInvocations": 1.0,
        "processorMs": 100.0,
    }
    day = describe_day("2026-12-01", amounts)
    assert day["date"] == "2026-12-01" and day["transitions"] == 6
    assert day["executionsFinished"] == {"ExecutionSucceeded": 2}
    assert day["requests"] == {"dynamodb": {"PutItem": 8}, "sqs": {"SendMessageBatch": 4}}
    writes = 16 * 0.625 / 1e6
    assert writes < day["estimatedUsd"] < writes * 3
