"""Price what a phase of the benchmark counted, with sedo/prices.yaml and template.yaml's sizes.

The price table and the arithmetic live in the package (sedo.pricing, which `sedo simulate`
uses too); this module turns the benchmark's tallies into its counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench.instrument import Tally
from sedo import pricing
from sedo.pricing import GB, PRICES, LambdaSizing, billed_ms, lambda_sizing, load_prices

__all__ = ["GB", "PRICES", "LambdaSizing", "Usage", "billed_ms", "cost", "lambda_sizing", "load_prices"]


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
    )
    return pricing.cost(counts, prices, sizing)
