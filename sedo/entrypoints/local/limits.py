"""The cloud's limits on the local stack, switched by environment variables.

- ``SEDO_LOCAL_FUNCTION_TIMEOUT`` (seconds; default: template.yaml's
  ProcessorTimeoutSeconds; 0: off): the processor's function timeout
  (sedo/entrypoints/local/deadline.py, enforced by the event source mapping).
- ``SEDO_LOCAL_PARTITION_LIMITS`` (default 1; 0: off): DynamoDB's per-partition throughput
  (sedo/entrypoints/local/throughput.py), at ``SEDO_LOCAL_WCU_PER_PARTITION`` (default
  1000) write and ``SEDO_LOCAL_RCU_PER_PARTITION`` (default 3000) read capacity units a
  second per partition key.

:func:`install` hooks both into every client sedo/adapters/aws.py makes from then on in
this process (the API's and the processor's); on AWS nothing installs them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sedo.entrypoints.local.capacity import PARTITION_RCU, PARTITION_WCU, PartitionBuckets, Rates
from sedo.entrypoints.local.deadline import guard
from sedo.entrypoints.local.throughput import PartitionLimiter

PARTITION_LIMITS_VARIABLE = "SEDO_LOCAL_PARTITION_LIMITS"
WCU_VARIABLE = "SEDO_LOCAL_WCU_PER_PARTITION"
RCU_VARIABLE = "SEDO_LOCAL_RCU_PER_PARTITION"


@dataclass(frozen=True)
class PartitionSettings:
    enabled: bool = True
    rates: Rates = field(default_factory=Rates)

    @classmethod
    def from_env(cls) -> PartitionSettings:
        switch = os.environ.get(PARTITION_LIMITS_VARIABLE, "1").strip().lower()
        if switch not in ("", "0", "1", "true", "false", "on", "off"):
            raise ValueError(f"{PARTITION_LIMITS_VARIABLE} must be 1 (on) or 0 (off), not {switch!r}")
        return cls(
            enabled=switch not in ("0", "false", "off"),
            rates=Rates(wcu=_rate(WCU_VARIABLE, PARTITION_WCU), rcu=_rate(RCU_VARIABLE, PARTITION_RCU)),
        )


def _rate(name: str, default: float) -> float:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name} must be a number of capacity units a second, not {text!r}") from None
    if value <= 0:
        raise ValueError(f"{name} must be positive (switch the limits off with {PARTITION_LIMITS_VARIABLE}=0)")
    return value


@dataclass
class Installed:
    """What :func:`install` put in place; :meth:`remove` takes it away again (tests)."""

    limiter: PartitionLimiter | None
    remove: Callable[[], None]


def install(partitions: PartitionSettings | None = None) -> Installed:
    """Guard every new client against use after its invocation's deadline and, when enabled,
    limit every new DynamoDB client's partition throughput (one limiter for the process)."""
    from sedo.adapters.aws import add_client_hook

    partitions = partitions or PartitionSettings.from_env()
    limiter = PartitionLimiter(PartitionBuckets(partitions.rates)) if partitions.enabled else None

    def hook(service: str, client: Any) -> None:
        guard(client)  # first: a call after the deadline must not even take capacity
        if limiter is not None and service == "dynamodb":
            limiter.attach(client)

    return Installed(limiter, add_client_hook(hook))
