"""The usage ledger's cost of a known workload against the benchmark's figure for the same workload.

The benchmark's Recorder (bench/instrument.py) counts every request the API, the processor and
the event source make, with capacity units from item sizes (it knows the item each write
replaces), and bench/pricing.py prices them; the ledger (sedo/service_layer/usage.py) estimates
from what each request carries. Both price with sedo/prices.yaml.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from bench import instrument
from bench import pricing as bench_pricing
from sedo.adapters.aws import client
from sedo.domain.language import load_text
from tests.support import Harness, events_of

pytestmark = pytest.mark.integration

T = "metered"
WORKLOAD = """
id: metered
steps:
  - {id: a, type: echo, message: a, next: b}
  - {id: b, type: wait, seconds: 5, next: c}
  - {id: c, type: pass, value: {done: true}, resultPath: out, next: d}
  - {id: d, type: echo, message: d, end: true}
"""


def test_usage_reports_executions_and_transitions_exactly_and_a_cost_within_10_percent_of_the_bench(
    stack: Any,
) -> None:
    harness = Harness(stack)
    tables = {
        name: instrument.Table.describe(client("dynamodb", stack), name)
        for name in (stack.definitions_table, stack.executions_table, stack.history_table, stack.tenants_table)
    }
    recorder = instrument.Recorder(tables)
    recorder.instrument(harness.adapters.executions.client, "sedo")  # the one DynamoDB client of every store
    recorder.instrument(harness.adapters.queue.client, "sedo")
    recorder.instrument(harness.sqs, "esm")  # the event source's receives and deletes
    bus = harness.adapters.bus
    assert bus is not None
    recorder.instrument(bus.client, "sedo")  # the status-change events
    harness.services.definitions.create(T, load_text(WORKLOAD))

    invocations: list[float] = []
    inner = harness.esm.handler

    def timed(event: dict[str, Any], context: Any) -> dict[str, Any]:
        began = time.perf_counter()
        try:
            return dict(inner(event, context))
        finally:
            invocations.append(time.perf_counter() - began)

    harness.esm.handler = timed
    recorder.phase = "workload"
    api_seconds = []
    ids = []
    for _ in range(20):
        began = time.perf_counter()
        ids.append(harness.services.executions.start(T, "metered", {})[0]["id"])
        api_seconds.append(time.perf_counter() - began)
    harness.drain()
    recorder.phase = "after"

    tally = recorder.tally("workload")
    # The harness asks the queue's depth between batches (GetQueueAttributes): no Lambda poller does.
    tally.sqs_billed -= tally.calls[("sqs", "GetQueueAttributes")]
    prices = bench_pricing.load_prices()
    sizing = bench_pricing.lambda_sizing(prices)
    bench_lines = bench_pricing.cost(
        bench_pricing.Usage(
            tally=tally,
            processor_invocations=len(invocations),
            processor_billed_ms=bench_pricing.billed_ms(invocations),
            api_requests=len(ids),
            api_billed_ms=bench_pricing.billed_ms(api_seconds),
            log_bytes=0,
        ),
        prices,
        sizing,
    )
    bench = bench_lines["total"]

    assert harness.services.usage is not None
    total = harness.services.usage.report(T, None, None)["total"]
    transitions = sum(1 for i in ids for e in events_of(harness, T, i) if e["type"] == "StepStarted")
    assert total["executionsStarted"] == 20
    assert total["executionsFinished"] == {"ExecutionSucceeded": 20}
    assert total["transitions"] == transitions == 80
    ledger = total["estimatedUsd"]
    print(f"\nusage ledger ${ledger:.9f}, bench ${bench:.9f} for 20 executions: {ledger / bench - 1:+.1%}")
    assert abs(ledger - bench) <= 0.10 * bench, (ledger, bench, total)
