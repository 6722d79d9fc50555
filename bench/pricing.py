"""Price what a phase of the benchmark counted, with sedo/prices.yaml and template.yaml's sizes.

The price table and the arithmetic live in the package (sedo.pricing, which `sedo simulate`
uses too); this module turns the benchmark's tallies into its counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bench.instrument import Tally
from sedo import pricing
from sedo.config import REPO_ROOT
from sedo.pricing import GB, PRICES, Counts, LambdaSizing, billed_ms, lambda_sizing, load_prices
from sedo.template import load_template, template_defaults

__all__ = [
    "GB",
    "PRICES",
    "Counts",
    "LambdaSizing",
    "Usage",
    "billed_ms",
    "cost",
    "lambda_durable_functions",
    "lambda_sizing",
    "load_prices",
    "priced",
    "step_functions_express",
    "step_functions_standard",
    "sweeper_memory_mb",
    "template_defaults",
]

#: S3 operations billed at the GET tier; every other S3 call is billed at the PUT tier.
S3_READS = frozenset({"GetObject", "HeadObject"})

#: The sweeper function's memory when template.yaml does not say (its value there today).
SWEEPER_MEMORY_MB = 128


@dataclass
class Usage:
    """What one phase used, summed over its components."""

    tally: Tally
    processor_invocations: int
    processor_billed_ms: float
    api_requests: int
    api_billed_ms: float
    log_bytes: int


def cost(usage: Usage, prices: dict[str, Any], sizing: LambdaSizing) -> dict[str, float]:
    """USD by line item, and their total."""
    counts = pricing.Counts(
        write_units=usage.tally.wcu,
        read_units=usage.tally.rcu,
        sqs_requests=usage.tally.sqs_billed,
        processor_invocations=usage.processor_invocations,
        processor_billed_ms=usage.processor_billed_ms,
        api_requests=usage.api_requests,
        api_billed_ms=usage.api_billed_ms,
        log_bytes=usage.log_bytes,
        s3_get_requests=sum(n for (s, op), n in usage.tally.calls.items() if s == "s3" and op in S3_READS),
        s3_put_requests=sum(n for (s, op), n in usage.tally.calls.items() if s == "s3" and op not in S3_READS),
        events_put=usage.tally.events_billed,
    )
    return pricing.cost(counts, prices, sizing)


def priced(counts: Counts, prices: dict[str, Any], sizing: LambdaSizing) -> dict[str, float]:
    """USD by line item of counts made by hand (the long waits' sweeper shares, bench/longwaits.py)."""
    return pricing.cost(counts, prices, sizing)


def sweeper_memory_mb(template: Path = REPO_ROOT / "template.yaml") -> int:
    """``SweeperFunction``'s ``MemorySize`` in template.yaml (else :data:`SWEEPER_MEMORY_MB`)."""
    try:
        document = load_template(template)
        return int(document["Resources"]["SweeperFunction"]["Properties"]["MemorySize"])
    except (OSError, KeyError, TypeError, ValueError, AttributeError, yaml.YAMLError):
        return SWEEPER_MEMORY_MB


# -- the same workloads on Step Functions (Standard, Express) and Lambda durable functions ------


def step_functions_standard(transitions: int, prices: dict[str, Any]) -> dict[str, float]:
    """Standard workflows bill each state transition."""
    return {"transitions": transitions * float(prices["step_functions"]["standard_per_million_transitions"]) / 1e6}


def step_functions_express(durations_s: list[float], prices: dict[str, Any], memory_mb: int = 64) -> dict[str, Any]:
    """Express workflows bill each execution started and its duration (rounded up to the
    next 100 ms) times its memory (in 64 MB chunks): ``memory_mb`` 64 is the smallest chunk,
    a lower bound for small definitions and payloads."""
    sfn = prices["step_functions"]
    increment = int(sfn["express_duration_increment_ms"])
    chunk = int(sfn["express_memory_increment_mb"])
    memory = max(1, math.ceil(memory_mb / chunk)) * chunk
    billed_ms = sum(max(increment, math.ceil(d * 1000 / increment) * increment) for d in durations_s)
    lines = {
        "requests": len(durations_s) * float(sfn["express_requests_per_million"]) / 1e6,
        "duration": billed_ms / 1000 * memory / 1024 * float(sfn["express_gb_second"]),
    }
    longest = max(durations_s, default=0.0)
    return {
        "usd": lines | {"total": sum(lines.values())},
        "billedMs": billed_ms,
        "memoryMb": memory,
        "longestSeconds": round(longest, 3),
        "withinMaxDuration": longest <= float(sfn["express_max_duration_seconds"]),
    }


def lambda_durable_functions(
    operations: int,
    invocations: int,
    data_written_bytes: int,
    compute_usd: float,
    prices: dict[str, Any],
) -> dict[str, Any]:
    """A durable function bills its durable operations (steps, waits, callbacks), the data
    they checkpoint, the data retained (``retention_days``, the default), and Lambda's own
    requests and duration for every invocation (one per start or resume)."""
    durable = prices["lambda_durable_functions"]
    gigabytes = data_written_bytes / GB
    lines = {
        "operations": operations * float(durable["operations_per_million"]) / 1e6,
        "dataWritten": gigabytes * float(durable["data_written_per_gb"]),
        "dataRetained": gigabytes * float(durable["data_retained_per_gb_month"]) * int(durable["retention_days"]) / 30,
        "lambdaRequests": invocations * float(prices["lambda"]["requests_per_million"]) / 1e6,
        "lambdaDuration": compute_usd,
    }
    return {
        "usd": lines | {"total": sum(lines.values())},
        "operations": operations,
        "invocations": invocations,
        "dataWrittenBytes": data_written_bytes,
    }
