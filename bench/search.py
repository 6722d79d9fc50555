"""What the search index adds (issue 18): a workload with ``searchBaseline`` (bench/workload.py)
runs twice, with its definition's ``searchAttributes`` and without them, the same input and count.

Both runs are counted by the same botocore hooks as every other cost run (bench/instrument.py)
and priced with sedo/prices.yaml (bench/pricing.py). ``figures`` puts side by side:

- the index items the run with attributes wrote: the items of the executions table whose
  partition key is an index entry's (``<tenant>#attr#<name>#<value>``,
  sedo/adapters/dynamodb/operations.py), their write units and those units' price;
- the cost per million executions of both runs by line item, and the difference. Lines that
  depend on timing (Lambda durations, how the event source batched the processor's
  invocations, and the logs those invocations wrote) differ from run to run even with nothing
  changed: ``countedDeltaUsdPerMillionExecutions`` leaves them out.

Every execution of the run has the same input, so the same attribute values: one index
partition per value takes a share of every start (``startsPerSecondPerValue``). The cloud
model (bench/cloud.py) leaves such workloads out: a constant value would set its per-tenant
bound, which real inputs spread over many values.
"""

from __future__ import annotations

from typing import Any

from bench import model, pricing
from bench.instrument import Tally

#: An index entry's partition key is ``<tenant>`` + this + ``<name>#<value>``.
INDEX_INFIX = "#attr#"
#: Cost lines that vary with timing, not with the requests made.
TIMING_LINES = frozenset({"lambdaProcessorRequests", "lambdaProcessorDuration", "lambdaApiDuration", "cloudwatchLogs"})
MILLION = 1_000_000


def index_writes(tally: Tally, table: str, tenant: str) -> tuple[int, float, float]:
    """The search index items ``tally`` wrote in ``table`` for ``tenant``, their write units,
    and the units of the index partition (one attribute value) that took the most."""
    prefix = tenant + INDEX_INFIX
    loads = [
        load
        for (name, index, partition, _), load in tally.items.items()
        if name == table and not index and partition.startswith(prefix) and load.wcu
    ]
    partitions = [
        load.wcu
        for (name, index, partition), load in tally.partitions.items()
        if name == table and not index and partition.startswith(prefix)
    ]
    return len(loads), sum(load.wcu for load in loads), max(partitions, default=0.0)


def _calls(tally: Tally) -> dict[str, int]:
    calls = {f"{service}:{op}": n for (service, op), n in tally.calls.items()}
    if tally.sqs_idle_polls:
        calls["sqs:ReceiveMessage"] -= tally.sqs_idle_polls
    return calls


def figures(
    with_attributes: tuple[pricing.Usage, int],
    without_attributes: tuple[pricing.Usage, int],
    attributes: list[str],
    prices: dict[str, Any],
    sizing: pricing.LambdaSizing,
    *,
    table: str,
    tenant: str,
    partition_wcu: float = model.Limits().partition_wcu,
) -> dict[str, Any]:
    """``workloads[].searchIndex``: each run is (its usage, its executions)."""
    (usage, executions), (plain, plain_executions) = with_attributes, without_attributes
    items, wcu, hottest = index_writes(usage.tally, table, tenant)
    if attributes and not items:
        raise RuntimeError(f"the run with search attributes {attributes} wrote no index item in {table}")

    def per_million(lines: dict[str, float], count: int) -> dict[str, float]:
        return {k: v / count * MILLION for k, v in lines.items()}

    with_lines = per_million(pricing.cost(usage, prices, sizing), executions)
    plain_lines = per_million(pricing.cost(plain, prices, sizing), plain_executions)
    delta = {k: with_lines[k] - plain_lines[k] for k in with_lines}
    counted = sum(v for k, v in delta.items() if k != "total" and k not in TIMING_LINES)
    index_usd = wcu / executions * float(prices["dynamodb"]["write_request_unit_per_million"])
    calls, plain_calls = _calls(usage.tally), _calls(plain.tally)
    requests = {
        name: round(calls.get(name, 0) / executions - plain_calls.get(name, 0) / plain_executions, 4)
        for name in sorted(set(calls) | set(plain_calls))
    }
    return {
        "attributes": sorted(attributes),
        "executions": executions,
        "baselineExecutions": plain_executions,
        "indexItemsPerExecution": round(items / executions, 4),
        "indexWcuPerExecution": round(wcu / executions, 4),
        "indexWritesUsdPerMillionExecutions": round(index_usd, 4),
        # every execution of the run has the same values: one value's partition takes its
        # share of every start, and a partition takes at most partition_wcu units a second
        "startsPerSecondPerValue": round(partition_wcu / (hottest / executions), 1) if hottest else None,
        "perExecutionDelta": {
            "wcu": round(usage.tally.wcu / executions - plain.tally.wcu / plain_executions, 4),
            "rcu": round(usage.tally.rcu / executions - plain.tally.rcu / plain_executions, 4),
            "requests": {name: n for name, n in requests.items() if n},
        },
        "costPerMillionExecutionsUsd": {
            "withAttributes": _rounded(with_lines),
            "withoutAttributes": _rounded(plain_lines),
            "delta": _rounded(delta),
        },
        "countedDeltaUsdPerMillionExecutions": round(counted, 4),
        # what else the two runs' counted requests differ in (e.g. an item of the tenant's
        # the first of them created, a larger head): 0 when the index is all of it
        "countedDeltaBesidesIndexUsdPerMillionExecutions": round(counted - index_usd, 4),
    }


def _rounded(lines: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 4) for k, v in lines.items()}


def markdown_lines(doc: dict[str, Any]) -> list[str]:
    """The summary's lines on the search index, one per workload with ``searchIndex``."""
    lines: list[str] = []
    for w in doc["workloads"]:
        s = w.get("searchIndex")
        if not s:
            continue
        cost = s["costPerMillionExecutionsUsd"]
        lines += [
            "",
            f"Search index ({w['name']}, attributes {', '.join(s['attributes'])}): "
            f"{s['indexItemsPerExecution']:g} index items and {s['indexWcuPerExecution']:g} WCU per execution "
            f"(${s['indexWritesUsdPerMillionExecutions']:,.4f} per million executions); per million executions "
            f"${cost['withAttributes']['total']:,.2f} with the attributes, ${cost['withoutAttributes']['total']:,.2f} "
            f"without, a difference of ${cost['delta']['total']:,.4f} "
            f"(${s['countedDeltaUsdPerMillionExecutions']:,.4f} from request counts alone, timing-dependent lines "
            "left out).",
        ]
    return lines
