"""Quotas per tenant: running executions, starts a second, definitions (docs/DESIGN.md, Tenants).

A platform admin sets a tenant's quotas (``PUT /sedo/admin/tenants/{t}/quotas``); a tenant
without its own gets the deployment's defaults (template.yaml ``Default*`` parameters). 0 is
unlimited, and an unlimited quota costs no request at all.

- **maxRunningExecutions** counts top-level executions from their start to their end (map and
  parallel children are bounded by their step's ``maxConcurrency`` and the parent's slot). The
  count is a set of execution keys spread over ``S = ceil(max / 32)`` shard items (at most 256),
  shard ``i`` admitting its share of ``max``: a start adds its key to its home shard (CRC of
  the key) with a conditional update (``size(members) < share``), trying the next shards when
  that one is full, so the running count never exceeds the quota however many starts race,
  and no key is hot. Adding and removing a key are idempotent (set semantics), so a
  redelivered end releases nothing twice. A start is refused when the shards it probes (all
  of them up to 8) are full; with more than 8 shards it may be refused a little before the
  exact limit, never after. A quota lowered while executions run applies to each shard's
  share at once and in full once those executions have ended (each is released from the
  shard it took, wherever that is).
- **startsPerSecond**: a token bucket holding one second of starts, kept as GCRA's theoretical
  arrival time in one item per shard (``ceil(rate / 100)`` shards, at most 16): admitting a
  start is one conditional update (two when the bucket is not full), with no read.
- **maxDefinitions**: live definitions are counted when one is created (definitions change
  rarely); two creates racing at the limit may both pass.

A refusal is :class:`~sedo.domain.errors.TooManyRequests` (429, ``Retry-After``) before
anything of the execution or definition is stored.
"""

from __future__ import annotations

import builtins
import math
import random
import time
import zlib
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from sedo.domain import limits
from sedo.domain.errors import BadRequest, TooManyRequests
from sedo.domain.execution import Execution
from sedo.service_layer.sidebyside import side_by_side

QUOTA_NAMES = ("maxRunningExecutions", "startsPerSecond", "maxDefinitions")
#: Shards a start probes for a free running slot before it is refused.
RUNNING_PROBES = 8
#: How long a process keeps a tenant's quotas before reading them again (a change made
#: through another API container takes effect within this many seconds).
QUOTA_CACHE_SECONDS = 10.0


@dataclass(frozen=True)
class Quotas:
    max_running_executions: int = 0
    starts_per_second: int = 0
    max_definitions: int = 0

    def to_api(self) -> dict[str, int]:
        return {
            "maxRunningExecutions": self.max_running_executions,
            "startsPerSecond": self.starts_per_second,
            "maxDefinitions": self.max_definitions,
        }

    @classmethod
    def from_api(cls, body: dict[str, Any], base: Quotas) -> Quotas:
        """``base`` with the quotas ``body`` names; BadRequest for anything but whole numbers in range."""
        values = base.to_api()
        errors = []
        for name, value in body.items():
            if name not in QUOTA_NAMES:
                errors.append(f"{name!r} is not a quota; quotas are {', '.join(QUOTA_NAMES)}")
            elif isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= limits.MAX_QUOTA_VALUE:
                errors.append(f"{name} must be a whole number from 0 (unlimited) to {limits.MAX_QUOTA_VALUE}")
            else:
                values[name] = value
        if errors:
            raise BadRequest("; ".join(errors), errors=errors)
        return cls(values["maxRunningExecutions"], values["startsPerSecond"], values["maxDefinitions"])


class QuotaStore(Protocol):
    """Where quotas and their counters live (sedo/adapters/dynamodb/quotas.py; memory fake for unit tests)."""

    def get_quotas(self, tenant_id: str) -> tuple[Quotas, int] | None:
        """The tenant's own quotas and the most running shards it ever had; None: defaults."""
        ...

    def put_quotas(self, tenant_id: str, quotas: Quotas, running_shards: int, now: str) -> None: ...

    def take_slot(self, tenant_id: str, shard: int, key: str, share: int) -> bool:
        """Add ``key`` to running shard ``shard`` unless it holds ``share`` keys (a key already
        there: True)."""
        ...

    def give_back_slots(self, tenant_id: str, shard: int, keys: set[str]) -> set[str]:
        """Remove ``keys`` from the shard (one write); those of them that were there."""
        ...

    def running(self, tenant_id: str, shards: int) -> dict[int, set[str]]:
        """The keys in running shards ``0..shards-1`` (strongly consistent)."""
        ...

    def take_token(self, tenant_id: str, shard: int, now_ms: int, interval_ms: int, tolerance_ms: int) -> int:
        """GCRA on bucket ``shard``: 0 when a start is admitted, else milliseconds until one would be."""
        ...


def running_shards(maximum: int) -> int:
    return max(1, min(limits.MAX_RUNNING_SHARDS, math.ceil(maximum / limits.MAX_RUNNING_PER_SHARD)))


def shard_share(maximum: int, shards: int, shard: int) -> int:
    return maximum // shards + (1 if shard < maximum % shards else 0)


def home_shard(key: str, shards: int) -> int:
    return zlib.crc32(key.encode()) % shards


def start_shards(rate: int) -> int:
    return max(1, min(limits.MAX_START_SHARDS, math.ceil(rate / limits.MAX_STARTS_PER_SHARD)))


class QuotaService:
    def __init__(
        self,
        store: QuotaStore,
        defaults: Quotas,
        *,
        now_ms: Callable[[], int] | None = None,
        on_refusal: Callable[[str, str], None] | None = None,
    ) -> None:
        self.store = store
        self.defaults = defaults
        self._now_ms = now_ms or (lambda: int(time.time() * 1000))
        #: Told (tenant, quota name) of every refusal: the API's metrics.
        self.on_refusal = on_refusal
        self._cache: dict[str, tuple[float, Quotas, int]] = {}

    # -- quotas -----------------------------------------------------------------------

    def _entry(self, tenant_id: str) -> tuple[Quotas, int]:
        cached = self._cache.get(tenant_id)
        if cached is not None and time.monotonic() - cached[0] < QUOTA_CACHE_SECONDS:
            return cached[1], cached[2]
        stored = self.store.get_quotas(tenant_id)
        quotas, shards = stored if stored is not None else (self.defaults, 0)
        for maximum in (quotas.max_running_executions, self.defaults.max_running_executions):
            if maximum:
                shards = max(shards, running_shards(maximum))
        self._cache[tenant_id] = (time.monotonic(), quotas, shards)
        return quotas, shards

    def quotas(self, tenant_id: str) -> Quotas:
        return self._entry(tenant_id)[0]

    def describe(self, tenant_id: str) -> dict[str, Any]:
        """What ``GET .../quotas`` shows: the quotas in force, whether they are the defaults, and the running count."""
        stored = self.store.get_quotas(tenant_id)
        quotas, shards = stored if stored is not None else (self.defaults, 0)
        shards = max(shards, running_shards(quotas.max_running_executions))
        running = sum(len(keys) for keys in self.store.running(tenant_id, shards).values())
        return {"tenantId": tenant_id, **quotas.to_api(), "defaults": stored is None, "running": running}

    def set(self, tenant_id: str, body: dict[str, Any], now: str) -> dict[str, Any]:
        stored = self.store.get_quotas(tenant_id)
        base, shards = stored if stored is not None else (self.defaults, 0)
        quotas = Quotas.from_api(body, base)
        # Shards only grow: releases look in every shard a key may have gone to.
        shards = max(shards, running_shards(quotas.max_running_executions), running_shards(base.max_running_executions))
        self.store.put_quotas(tenant_id, quotas, shards, now)
        self._cache.pop(tenant_id, None)
        return self.describe(tenant_id)

    # -- starts -------------------------------------------------------------------------

    def admit_start(self, tenant_id: str, key: str) -> bool:
        """Take a start token and a running slot for execution ``key``, or raise TooManyRequests.
        True when a slot was taken (give it back with :meth:`release` if the start fails)."""
        quotas = self.quotas(tenant_id)
        if quotas.starts_per_second:
            self._take_token(tenant_id, quotas.starts_per_second)
        if not quotas.max_running_executions:
            return False
        maximum = quotas.max_running_executions
        shards = running_shards(maximum)
        home = home_shard(key, shards)
        for step in range(min(shards, RUNNING_PROBES)):
            shard = (home + step) % shards
            if self.store.take_slot(tenant_id, shard, key, shard_share(maximum, shards, shard)):
                return True
        self._refused(tenant_id, "maxRunningExecutions")
        raise TooManyRequests(
            f"tenant {tenant_id!r} has {maximum} executions running, its maxRunningExecutions quota; "
            "start again when one has finished",
            retry_after=1,
        )

    def _take_token(self, tenant_id: str, rate: int) -> None:
        buckets = start_shards(rate)
        per_bucket = rate / buckets
        interval = max(1, round(1000 / per_bucket))
        tolerance = max(0, round((max(1.0, per_bucket) - 1) * interval))  # a second's worth of burst
        first = random.randrange(buckets)
        tried = [first] if buckets == 1 else [first, (first + 1 + random.randrange(buckets - 1)) % buckets]
        waits = []
        for shard in tried:
            wait = self.store.take_token(tenant_id, shard, self._now_ms(), interval, tolerance)
            if wait <= 0:
                return
            waits.append(wait)
        self._refused(tenant_id, "startsPerSecond")
        raise TooManyRequests(
            f"tenant {tenant_id!r} may start {rate} executions a second (its startsPerSecond quota); slow down",
            retry_after=math.ceil(min(waits) / 1000),
        )

    def release(self, tenant_id: str, key: str) -> bool:
        """Give back execution ``key``'s running slot (idempotent). True when it held one."""
        return key in self.release_all(tenant_id, {key})

    def release_all(self, tenant_id: str, keys: AbstractSet[str]) -> AbstractSet[str]:
        """Give back the running slots of executions ``keys`` (idempotent): one write per home
        shard among them; the keys that held one."""
        quotas, shards_ever = self._entry(tenant_id)
        released: AbstractSet[str] = frozenset()
        if quotas.max_running_executions:
            shards = running_shards(quotas.max_running_executions)
            homes: dict[int, builtins.set[str]] = {}
            for key in keys:
                homes.setdefault(home_shard(key, shards), set()).add(key)
            writes = [
                partial(self.store.give_back_slots, tenant_id, home, group) for home, group in sorted(homes.items())
            ]
            released = frozenset().union(*side_by_side(writes))
        left = keys - released
        if not left or not shards_ever:
            return released  # never limited: nothing was counted
        # Started under other quotas, or on a shard past a full home: find them.
        for shard, held in sorted(self.store.running(tenant_id, shards_ever).items()):
            found = held & left
            if found:
                released |= self.store.give_back_slots(tenant_id, shard, found)
                left -= found
        return released

    def finished(self, heads: Sequence[Execution]) -> None:
        """Top-level executions ended: their slots back (the processor's ``on_finished``), one
        write per tenant and home shard among them."""
        by_tenant: dict[str, builtins.set[str]] = {}
        for head in heads:
            by_tenant.setdefault(head.tenant_id, set()).add(head.key)
        for tenant_id, keys in by_tenant.items():
            self.release_all(tenant_id, keys)

    def check_definitions(self, tenant_id: str, count: Callable[[int], int]) -> None:
        """Refuse a new definition at the maxDefinitions quota; ``count(at_most)`` counts live ones."""
        maximum = self.quotas(tenant_id).max_definitions
        if maximum and count(maximum) >= maximum:
            self._refused(tenant_id, "maxDefinitions")
            raise TooManyRequests(
                f"tenant {tenant_id!r} has {maximum} definitions, its maxDefinitions quota; delete one first",
                retry_after=60,
            )

    def _refused(self, tenant_id: str, quota: str) -> None:
        if self.on_refusal is not None:
            self.on_refusal(tenant_id, quota)


__all__ = ["QUOTA_NAMES", "QuotaService", "QuotaStore", "Quotas"]
