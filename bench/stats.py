"""Statistics the bench's modules share (percentiles, rates) and issue 13's goals for long waits."""

from __future__ import annotations

from typing import Any

#: Issue 13's goals for long waits (bench/longwaits.py measures them).
GOAL_LATENESS_P99_MS = 1000.0
GOAL_PER_YEAR_LONG_WAIT_USD = 0.00001


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (no interpolation); None without samples."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, int(-(-p * len(ordered) // 100)))
    return ordered[min(rank, len(ordered)) - 1]


def summary_ms(seconds: list[float]) -> dict[str, Any]:
    values = [s * 1000 for s in seconds]
    return {
        "p50": round_to(percentile(values, 50)),
        "p99": round_to(percentile(values, 99)),
        "max": round_to(max(values) if values else None),
        "n": len(values),
    }


def round_to(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def windowed_rate(stamps: list[float], low: float = 0.1, high: float = 0.9) -> tuple[float, float]:
    """Completions per second between the ``low`` and ``high`` fractions of all completions.

    Leaves out the ramp-up and the tail (the last executions' timers), so it measures the
    sustained rate. Returns (rate, window seconds).
    """
    ordered = sorted(stamps)
    if len(ordered) < 10:
        span = (ordered[-1] - ordered[0]) if len(ordered) > 1 else 0.0
        return (len(ordered) / span if span > 0 else 0.0), span
    first, last = int(low * len(ordered)), int(high * len(ordered)) - 1
    span = ordered[last] - ordered[first]
    return ((last - first) / span if span > 0 else 0.0), span
