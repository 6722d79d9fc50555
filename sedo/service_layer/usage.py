"""The usage and cost ledger: what each tenant used, per day (docs/DESIGN.md, Tenants).

Recorded without a write per transition and without a hot key:

- the processor's :class:`UsageMeter` (a wake-up observer, sedo/service_layer/observe.py)
  adds up, per tenant, what the wake-ups of one Lambda batch used (transitions, wake-ups,
  finished executions, AWS requests and their capacity units, history bytes, the batch's
  Lambda invocation and duration and the event source's receive and delete, shared by
  records), and writes it when the batch ends: one ``UpdateItem ADD`` per tenant in the
  batch, on one of :data:`~sedo.domain.limits.MAX_USAGE_SHARDS` shard items of the day
  chosen at random;
- the batch's flush (its history, list items, outbox sends and status-change events written
  together when the batch ends, sedo/service_layer/batchflush.py) is shared among the tenants
  of its executions (:meth:`UsageMeter.flush_ran`);
- an execution's start (one execution started, its AWS requests, one API Gateway request and
  the API function's time up to the send) rides in its first wake-up (the ``usage`` field of
  the start message, :func:`with_start_usage`), and the meter adds it to the batch's sums
  when that wake-up commits: no write of its own. What the send itself costs (its request,
  the time after it) cannot be in the message it sends: it is carried into the tenant's next
  start from the same process (:meth:`UsageLedger.take_carried`);
- the API's cancel writes its own (one such write).

Only a wake-up that *committed* counts its transitions, a finished execution and a start it
carries, and a commit happens once whatever the redeliveries (the head's ``seq`` guard), so
duplicates and redeliveries never count twice. The ledger is a meter, not the history (which
stays exact): a batch whose invocation dies before it ends (a timeout, a crash) loses its
counts, and a start whose first wake-up never commits loses its start's counts (the message
was lost and the sweeper re-sent the head's copy, which carries none; a pause got there
first; it dead-lettered). A cancel that got there first counts the execution as started.

The cost is priced at read time from sedo/prices.yaml (sedo/pricing.py), like ``make bench``;
each write of the ledger counts itself (one request and its write unit).
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any, Protocol

from sedo.domain import limits
from sedo.domain.engine import Commit
from sedo.domain.errors import BadRequest
from sedo.domain.execution import STEP_STARTED
from sedo.service_layer.observe import FlushReport, PerTenant, WakeReport
from sedo.service_layer.ports import Clock

#: Each ledger write counts itself: one UpdateItem of a small item.
LEDGER_WRITE = {"requests.dynamodb.UpdateItem": 1.0, "dynamodbWriteUnits": 1.0}
#: ...and the day index's put, once per process, tenant and day.
DAY_INDEX_WRITE = {"requests.dynamodb.PutItem": 1.0, "dynamodbWriteUnits": 1.0}
#: The start message's field with the start's usage (only the nonzero amounts).
START_USAGE = "usage"


class UsageStore(Protocol):
    def add(self, tenant_id: str, day: str, shard: int, amounts: Mapping[str, float]) -> None: ...

    def register(self, tenant_id: str, day: str) -> None:
        """Note that ``tenant_id`` has usage on ``day`` (for the admin's listing across tenants)."""
        ...

    def days(self, tenant_id: str, first: str, last: str, shards: int) -> dict[str, dict[str, float]]:
        """Amounts per day from ``first`` to ``last`` (ISO dates), summed over shards."""
        ...

    def tenants(self, day: str) -> list[str]: ...


def add_into(total: dict[str, float], amounts: Mapping[str, float]) -> None:
    for name, amount in amounts.items():
        total[name] = total.get(name, 0.0) + amount


def with_start_usage(outbox: Sequence[dict[str, Any]], amounts: Mapping[str, float]) -> list[dict[str, Any]]:
    """The start's outbox as sent: its start message carries ``amounts`` (a copy; the head keeps
    its outbox without them, so a wake-up the sweeper re-sends carries none)."""
    compact = {name: round(amount, 3) for name, amount in amounts.items() if round(amount, 3)}
    return [{**message, START_USAGE: compact} if message.get("kind") == "start" else message for message in outbox]


def start_amounts(used: Mapping[str, float], seconds: float, carried: Mapping[str, float]) -> dict[str, float]:
    """What an execution's start message carries into the ledger: one execution started, one API
    Gateway request, the requests ``used`` so far, the API function's ``seconds`` so far, and what
    the process ``carried`` for the tenant (:meth:`UsageLedger.take_carried`)."""
    amounts = {**used, "executionsStarted": 1.0, "apiRequests": 1.0}
    amounts["apiMs"] = amounts.get("apiMs", 0.0) + seconds * 1000
    add_into(amounts, carried)
    return amounts


def start_usage(body: Any) -> dict[str, float]:
    """The start's usage a wake-up carries (nothing for any other message, or one sent before
    starts carried theirs); what is not a name and a finite number is ignored."""
    carried = body.get(START_USAGE) if isinstance(body, dict) else None
    if not isinstance(carried, dict):
        return {}
    return {
        name: float(amount)
        for name, amount in carried.items()
        if isinstance(name, str)
        and isinstance(amount, int | float)
        and not isinstance(amount, bool)
        and math.isfinite(amount)
    }


class UsageLedger:
    """Writes and reads the ledger; prices what it read."""

    def __init__(self, store: UsageStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self._registered: set[tuple[str, str]] = set()
        #: Per tenant, what this process used that its last write or start message could not hold.
        self._carried: dict[str, dict[str, float]] = {}
        self._lock = threading.Lock()

    def today(self) -> str:
        return self.clock.now().date().isoformat()

    def record(self, tenant_id: str, amounts: Mapping[str, float], timed: str, day: str | None = None) -> None:
        """Add ``amounts`` to the tenant's day. ``timed`` names the Lambda time this write itself
        spends (``apiMs`` or ``processorMs``): it cannot be in its own write, so it is carried into
        the tenant's next one from this process."""
        began = time.perf_counter()
        day = day or self.today()
        with self._lock:
            new = (tenant_id, day) not in self._registered
            self._registered.add((tenant_id, day))
            carried = self._carried.get(tenant_id, {}).pop(timed, 0.0)
        total = dict(amounts)
        add_into(total, LEDGER_WRITE)
        total[timed] = total.get(timed, 0.0) + carried
        if new:  # once per process, tenant and day
            self.store.register(tenant_id, day)
            add_into(total, DAY_INDEX_WRITE)
        self.store.add(tenant_id, day, random.randrange(limits.MAX_USAGE_SHARDS), total)
        self.carry(tenant_id, {timed: (time.perf_counter() - began) * 1000})

    def carry(self, tenant_id: str, amounts: Mapping[str, float]) -> None:
        """Keep ``amounts`` for the tenant's next write or start from this process."""
        with self._lock:
            add_into(self._carried.setdefault(tenant_id, {}), amounts)

    def take_carried(self, tenant_id: str) -> dict[str, float]:
        """What this process carried for the tenant, for its next start message."""
        with self._lock:
            return self._carried.pop(tenant_id, {})

    # -- reading -------------------------------------------------------------------------

    def _range(self, first: str | None, last: str | None) -> tuple[date, date]:
        today = self.clock.now().date()
        try:
            end = date.fromisoformat(last) if last else today
            start = date.fromisoformat(first) if first else end - timedelta(days=6)
        except ValueError:
            raise BadRequest("from and to are dates: YYYY-MM-DD") from None
        if start > end:
            raise BadRequest(f"from ({start}) is after to ({end})")
        if (end - start).days + 1 > limits.MAX_USAGE_DAYS:
            raise BadRequest(f"a usage request spans at most {limits.MAX_USAGE_DAYS} days")
        return start, end

    def report(self, tenant_id: str, first: str | None, last: str | None) -> dict[str, Any]:
        start, end = self._range(first, last)
        stored = self.store.days(tenant_id, start.isoformat(), end.isoformat(), limits.MAX_USAGE_SHARDS)
        days = [describe_day(day, stored[day]) for day in sorted(stored)]
        return {
            "tenantId": tenant_id,
            "from": start.isoformat(),
            "to": end.isoformat(),
            "days": days,
            "total": describe_day(None, _sum(stored.values())),
        }

    def report_all(self, first: str | None, last: str | None) -> dict[str, Any]:
        start, end = self._range(first, last)
        tenants: set[str] = set()
        day = start
        while day <= end:
            tenants.update(self.store.tenants(day.isoformat()))
            day += timedelta(days=1)
        rows = [self.report(tenant, start.isoformat(), end.isoformat()) for tenant in sorted(tenants)]
        totals = [row["total"] for row in rows]
        return {
            "from": start.isoformat(),
            "to": end.isoformat(),
            "tenants": [{"tenantId": row["tenantId"], **row["total"]} for row in rows],
            "estimatedUsd": round(sum(t["estimatedUsd"] for t in totals), 9),
        }


def _sum(days: Any) -> dict[str, float]:
    total: dict[str, float] = {}
    for amounts in days:
        add_into(total, amounts)
    return total


def describe_day(day: str | None, amounts: Mapping[str, float]) -> dict[str, Any]:
    """One day (or a total) as the API shows it, priced with sedo/prices.yaml."""
    from sedo import pricing

    finished: dict[str, int] = {}
    requests: dict[str, dict[str, int]] = defaultdict(dict)
    for name, amount in amounts.items():
        if name.startswith("executionsFinished."):
            finished[name.split(".", 1)[1]] = round(amount)
        elif name.startswith("requests."):
            _, service, operation = name.split(".", 2)
            requests[service][operation] = round(amount)
    prices = pricing.load_prices()
    sizing = pricing.lambda_sizing(prices)
    counts = pricing.Counts(
        write_units=amounts.get("dynamodbWriteUnits", 0.0),
        read_units=amounts.get("dynamodbReadUnits", 0.0),
        sqs_requests=round(amounts.get("sqsRequests", 0.0)),
        processor_invocations=round(amounts.get("processorInvocations", 0.0)),
        processor_billed_ms=amounts.get("processorMs", 0.0),
        api_requests=round(amounts.get("apiRequests", 0.0)),
        api_billed_ms=amounts.get("apiMs", 0.0),
        log_bytes=round(amounts.get("logBytes", 0.0)),
        events_put=round(amounts.get("eventbridgeEvents", 0.0)),
    )
    lines = pricing.cost(counts, prices, sizing)
    body: dict[str, Any] = {} if day is None else {"date": day}
    body.update(
        {
            "executionsStarted": round(amounts.get("executionsStarted", 0.0)),
            "executionsFinished": finished,
            "transitions": round(amounts.get("transitions", 0.0)),
            "wakeUps": round(amounts.get("wakeUps", 0.0)),
            "requests": {service: dict(sorted(ops.items())) for service, ops in sorted(requests.items())},
            "dynamodb": {
                "writeUnits": round(counts.write_units, 1),
                "readUnits": round(counts.read_units, 1),
            },
            "sqsRequests": counts.sqs_requests,
            "eventbridgeEvents": counts.events_put,
            "lambda": {
                "processorInvocations": round(amounts.get("processorInvocations", 0.0), 2),
                "processorMs": round(counts.processor_billed_ms, 1),
                "apiRequests": counts.api_requests,
                "apiMs": round(counts.api_billed_ms, 1),
            },
            "bytesStored": round(amounts.get("bytesStored", 0.0)),
            "estimatedUsd": round(lines["total"], 9),
        }
    )
    return body


class UsageMeter:
    """The processor's half of the ledger: a wake-up observer that writes per batch."""

    def __init__(self, ledger: UsageLedger) -> None:
        self.ledger = ledger
        self.batch: PerTenant[dict[str, float]] = PerTenant(dict)

    def batch_began(self) -> None:
        self.batch.begin()

    def wake_up(self, report: WakeReport) -> None:
        with self.batch.lock:
            self._wake_up(report)

    def _wake_up(self, report: WakeReport) -> None:
        amounts = self.batch.of(report)
        if amounts is None:
            return
        add_into(amounts, report.usage)
        amounts["records"] = amounts.get("records", 0.0) + 1
        amounts["wakeUps"] = amounts.get("wakeUps", 0.0) + 1
        decision = report.decision
        if report.result != "committed" or not isinstance(decision, Commit):
            return
        add_into(amounts, start_usage(report.body))  # the start it carries counts once: with its commit
        head = decision.head
        events = head.pending_events
        amounts["transitions"] = amounts.get("transitions", 0.0) + sum(
            1 for event in events if event.get("type") == STEP_STARTED
        )
        amounts["bytesStored"] = amounts.get("bytesStored", 0.0) + len(_compact(events))
        if head.finished and head.parent_key is None:
            name = f"executionsFinished.{head.state}"
            amounts[name] = amounts.get(name, 0.0) + 1

    def segment_ran(self, commit: Commit) -> None:
        """An inline iteration's segment (sedo/service_layer/observe.py): its transitions count."""
        events = commit.head.pending_events
        with self.batch.lock:
            amounts = self.batch.of_tenant(commit.head.tenant_id)
            amounts["transitions"] = amounts.get("transitions", 0.0) + sum(
                1 for event in events if event.get("type") == STEP_STARTED
            )

    def flush_ran(self, report: FlushReport) -> None:
        """The batch's flush: what it used, shared among its tenants by their executions in it."""
        total = sum(report.heads.values())
        if not total or not report.usage:
            return
        with self.batch.lock:
            for tenant, count in report.heads.items():
                share = {name: amount * count / total for name, amount in report.usage.items()}
                add_into(self.batch.of_tenant(tenant), share)

    def batch_done(self, records: int, seconds: float) -> None:
        """The Lambda batch ended: share its invocation among its records' tenants, and write."""
        batch = self.batch.take()
        total = sum(a.get("records", 0.0) for a in batch.values()) or float(records) or 1.0
        for tenant, amounts in batch.items():
            share = amounts.pop("records", 0.0) / total
            amounts["processorInvocations"] = amounts.get("processorInvocations", 0.0) + share
            amounts["processorMs"] = amounts.get("processorMs", 0.0) + seconds * 1000 * share
            # The event source's ReceiveMessage and DeleteMessageBatch for the batch.
            amounts["sqsRequests"] = amounts.get("sqsRequests", 0.0) + 2 * share
            self.ledger.record(tenant, amounts, "processorMs")


def _compact(value: Any) -> str:
    import json

    return json.dumps(value, separators=(",", ":"), default=str)


__all__ = [
    "UsageLedger",
    "UsageMeter",
    "UsageStore",
    "describe_day",
    "start_amounts",
    "start_usage",
    "with_start_usage",
]
