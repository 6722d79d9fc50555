"""DynamoDB's capacity arithmetic and per-partition token buckets, for the local stack.

Pure: no botocore here (sedo/entrypoints/local/throughput.py applies it to requests).

Sizes follow DynamoDB's item-size rules: an attribute costs its name's UTF-8 length plus
its value (S: UTF-8 length; N: one byte per two significant digits, plus one; B: its
bytes; BOOL and NULL: 1; a list or map: 3 bytes plus 1 per element plus the elements;
sets: the sum of their members). A write consumes one WCU per started KB of the item
(at least 1), a read 1 RCU per started 4 KB when strongly consistent and half that when
eventually consistent; Query and Scan round the SUM of the items they return up to 4 KB;
transactions consume twice as much.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field

# The arithmetic lives with the DynamoDB adapters (the usage ledger's meter ships to Lambda too).
from sedo.adapters.dynamodb.units import KB as KB
from sedo.adapters.dynamodb.units import READ_UNIT_BYTES as READ_UNIT_BYTES
from sedo.adapters.dynamodb.units import item_size as item_size
from sedo.adapters.dynamodb.units import read_units as read_units
from sedo.adapters.dynamodb.units import value_size as value_size
from sedo.adapters.dynamodb.units import write_units as write_units

#: DynamoDB's per-partition ceilings (a partition key's items live in one partition
#: unless it is split for heat, which takes minutes: a burst meets the ceiling).
PARTITION_WCU = 1000.0
PARTITION_RCU = 3000.0


class TokenBucket:
    """``rate`` units a second, holding at most ``capacity`` (the burst), starting full.

    A request is admitted when the bucket holds its cost, or when the bucket is full (so a
    single request larger than the burst is not refused forever; it leaves a debt that
    refills at ``rate``). :meth:`charge` takes units after the fact (reads, whose size is
    known only from the answer), and may leave the bucket in debt too.
    """

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        if rate <= 0 or capacity <= 0:
            raise ValueError("a token bucket needs a positive rate and capacity")
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.updated = now

    def refill(self, now: float) -> float:
        if now > self.updated:
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
        return self.tokens

    def admits(self, cost: float, now: float) -> bool:
        tokens = self.refill(now)
        return tokens >= cost or tokens >= self.capacity

    def charge(self, cost: float, now: float) -> None:
        self.refill(now)
        self.tokens -= cost

    def idle(self, now: float) -> bool:
        return self.refill(now) >= self.capacity


@dataclass(frozen=True)
class Rates:
    """Per-partition throughput: units a second, and how many seconds of it a burst may use."""

    wcu: float = PARTITION_WCU
    rcu: float = PARTITION_RCU
    #: DynamoDB keeps up to 300 s of a TABLE's unused capacity as burst capacity, but a
    #: partition never serves more than its ceiling in a second: one second of the rate.
    burst_seconds: float = 1.0


#: What one request asks of one partition: (bucket key, "read"|"write", units).
Demand = tuple[Hashable, str, float]


@dataclass
class PartitionBuckets:
    """A token bucket per (partition, read|write), created on first use, thread-safe."""

    rates: Rates = field(default_factory=Rates)
    clock: Callable[[], float] = time.monotonic
    #: Buckets kept before idle (full) ones are dropped, so a long run does not grow forever.
    max_buckets: int = 50_000
    _buckets: dict[tuple[Hashable, str], TokenBucket] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def _bucket(self, key: Hashable, kind: str, now: float) -> TokenBucket:
        bucket = self._buckets.get((key, kind))
        if bucket is None:
            if len(self._buckets) >= self.max_buckets:
                self._buckets = {k: b for k, b in self._buckets.items() if not b.idle(now)}
            rate = self.rates.wcu if kind == "write" else self.rates.rcu
            bucket = self._buckets[(key, kind)] = TokenBucket(rate, rate * self.rates.burst_seconds, now)
        return bucket

    def take(self, demands: Iterable[Demand]) -> list[Demand]:
        """Take every demand, or none: returns the demands that were refused (empty: all taken).

        Several demands on one bucket are summed first."""
        totals: dict[tuple[Hashable, str], float] = {}
        for key, kind, units in demands:
            totals[(key, kind)] = totals.get((key, kind), 0.0) + units
        with self._lock:
            now = self.clock()
            refused = [
                (key, kind, units)
                for (key, kind), units in totals.items()
                if not self._bucket(key, kind, now).admits(units, now)
            ]
            if not refused:
                for (key, kind), units in totals.items():
                    self._bucket(key, kind, now).charge(units, now)
            return refused

    def charge(self, demands: Iterable[Demand]) -> None:
        """Take units already consumed (a read's answer), even into debt."""
        with self._lock:
            now = self.clock()
            for key, kind, units in demands:
                self._bucket(key, kind, now).charge(units, now)

    def tokens(self, key: Hashable, kind: str) -> float:
        with self._lock:
            now = self.clock()
            return self._bucket(key, kind, now).refill(now)
