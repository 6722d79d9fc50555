"""What the search index adds in the bench (bench/search.py): index writes picked out of the
counted units, cost with and without the attributes, and their difference."""

from __future__ import annotations

import pytest

from bench import pricing, search
from bench.instrument import Load, Tally
from bench.workload import WORKLOADS_DIR, load

TABLE = "sedo-t-executions"
SIZING = pricing.LambdaSizing(processor_memory_mb=512, api_memory_mb=1024, architecture="x86_64", source="test")


def tally(executions: int, index_wcu: float, other_wcu: float) -> Tally:
    """``executions`` heads of ``other_wcu`` each and, per execution, one index item per
    attribute of ``index_wcu`` on the values' partitions; another tenant's index item too."""
    t = Tally()
    for n in range(executions):
        key = f"k{n:04d}"
        for ref in ((TABLE, "", "acme", key), (TABLE, "", f"acme#{key}.0", "")):  # a head, not an index item
            t.items[ref] = Load(wcu=other_wcu / 2)
            t.partitions[ref[:3]].wcu += other_wcu / 2
        for name, value in (("customer", "c-1"), ("region", "eu")):
            if index_wcu:
                t.items[(TABLE, "", f"acme#attr#{name}#{value}", key)] = Load(wcu=index_wcu / 2)
                t.partitions[(TABLE, "", f"acme#attr#{name}#{value}")].wcu += index_wcu / 2
        t.calls[("dynamodb", "PutItem")] += 1
        t.calls[("dynamodb", "BatchWriteItem")] += 1 if index_wcu else 0
    t.items[(TABLE, "", "other#attr#customer#c-1", "k9999")] = Load(wcu=5.0)  # not this tenant's
    t.wcu = sum(load.wcu for load in t.items.values())
    t.calls[("sqs", "ReceiveMessage")] += 3
    t.sqs_idle_polls = 3 if index_wcu else 1
    return t


def usage(t: Tally, invocations: int, api_ms: float) -> pricing.Usage:
    return pricing.Usage(t, invocations, invocations * 40.0, 0, api_ms, 0)


def test_index_writes_are_the_tenants_index_items_only() -> None:
    items, wcu, hottest = search.index_writes(tally(4, index_wcu=2.0, other_wcu=3.0), TABLE, "acme")
    assert (items, wcu, hottest) == (8, 8.0, 4.0)
    assert search.index_writes(tally(4, index_wcu=0.0, other_wcu=3.0), TABLE, "acme") == (0, 0, 0.0)


def test_the_delta_is_with_minus_without_per_million_executions() -> None:
    prices = pricing.load_prices()
    write = float(prices["dynamodb"]["write_request_unit_per_million"])
    # 10 executions with attributes, 20 without: per execution 2 index WCU more, 0.5 head WCU
    # more; and the timing lines differ (processor invocations, API time)
    figures = search.figures(
        (usage(tally(10, index_wcu=2.0, other_wcu=3.5), invocations=7, api_ms=900.0), 10),
        (usage(tally(20, index_wcu=0.0, other_wcu=3.0), invocations=9, api_ms=100.0), 20),
        ["region", "customer"],
        prices,
        SIZING,
        table=TABLE,
        tenant="acme",
        partition_wcu=1000.0,
    )
    # 5 WCU of another tenant's index item land in both runs' totals: 0.5 and 0.25 per execution
    wcu_delta = (2.0 + 3.5 + 0.5) - (3.0 + 0.25)
    assert figures["attributes"] == ["customer", "region"]
    assert figures["indexItemsPerExecution"] == 2.0
    assert figures["indexWcuPerExecution"] == 2.0
    assert figures["indexWritesUsdPerMillionExecutions"] == pytest.approx(2.0 * write)
    assert figures["startsPerSecondPerValue"] == 1000.0  # 1 WCU per start on each value's partition
    assert figures["perExecutionDelta"]["wcu"] == pytest.approx(wcu_delta)
    # idle polls are left out: 3 receives, all idle, against 2 of 3 that were not (over 20)
    assert figures["perExecutionDelta"]["requests"] == {"dynamodb:BatchWriteItem": 1.0, "sqs:ReceiveMessage": -0.1}
    cost = figures["costPerMillionExecutionsUsd"]
    for line, value in cost["delta"].items():
        assert value == pytest.approx(cost["withAttributes"][line] - cost["withoutAttributes"][line], abs=1e-3)
    assert cost["delta"]["dynamodbWrites"] == pytest.approx(wcu_delta * write, abs=1e-3)
    assert cost["delta"]["lambdaApiDuration"] > 0  # timing: in the delta, not in the counted delta
    assert figures["countedDeltaUsdPerMillionExecutions"] == pytest.approx(wcu_delta * write, abs=1e-3)
    besides = figures["countedDeltaBesidesIndexUsdPerMillionExecutions"]
    assert besides == pytest.approx((wcu_delta - 2.0) * write, abs=1e-3)


def test_a_run_with_attributes_and_no_index_item_is_an_error() -> None:
    plain = usage(tally(2, index_wcu=0.0, other_wcu=1.0), invocations=1, api_ms=1.0)
    with pytest.raises(RuntimeError, match="no index item"):
        search.figures((plain, 2), (plain, 2), ["customer"], pricing.load_prices(), SIZING, table=TABLE, tenant="acme")


def test_the_search_workload_and_its_baseline() -> None:
    workload = load(WORKLOADS_DIR / "example-search.yaml")
    assert workload.search_baseline and not workload.throughput
    assert workload.document["searchAttributes"] == {"customer": "input.customer", "region": "input.region"}
    assert set(workload.document["inputSchema"]["properties"]) == {"foo", "customer", "region"}
    assert workload.document["steps"][1]["seconds"] == 3
    plain = workload.without_search()
    assert "searchAttributes" not in plain.document and "searchAttributes" in workload.document
    assert plain.definition_id == f"{workload.definition_id}-plain" != "example-definition"
    assert plain.input == workload.input and plain.executions == workload.executions
