"""Events (issue 15): triggers start executions, event steps wait, executions tell the bus.

- :meth:`EventService.handle` takes one event from the bus (or the API): it belongs to the
  tenant its ``resources`` name (``sedo:tenant/<id>``); it is logged for lookback, starts
  one execution per matching trigger of that tenant (idempotently: the event's key, or the
  trigger's ``name``, is the execution name), and is recorded for every waiting event step
  of that tenant whose pattern and correlation it matches. A step attempt with enough
  events gets an ``event`` wake-up.
- :meth:`EventService.after_commit` runs after a commit (the processor's flush): a head
  that now waits in an event step is subscribed, and events already logged since its
  ``since`` (lookback, and those that raced the subscription) are recorded for it.
- :meth:`EventService.gather` gives the processor the events of a step attempt, exactly
  ``count`` of them (recorded once per key however often they were delivered).
- :meth:`EventService.status_changed` puts "Execution Status Change" events.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sedo.domain import execution as ex
from sedo.domain import failures, limits
from sedo.domain.errors import BadRequest, NotFound, SedoError, TooManyRequests, Unavailable
from sedo.domain.events.pattern import exact_values, matches
from sedo.domain.events.triggers import (
    SEDO_SOURCE,
    STATUS_CHANGE,
    STEP_STATUS_CHANGE,
    Trigger,
    entry,
    event_key,
    sources_of,
    stable_id,
    tenant_of,
    triggers_of,
)
from sedo.domain.execution import Execution
from sedo.domain.expressions import ExpressionError, evaluate
from sedo.domain.protocol import EventAwait, WakeKind
from sedo.domain.timefmt import parse_ts
from sedo.service_layer.event_ports import EventBus, EventStore, Received, Subscription
from sedo.service_layer.ports import Clock, Queue

log = logging.getLogger("sedo.events")

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")
#: A metric sink: (name, tenant, value).
Metric = Callable[[str, str, int], None]
#: What a started execution is: (tenant, definition id, input, name) -> created now.
Starter = Callable[[str, str, Any, str], bool]

STATUSES = {ex.STARTED: "STARTED", ex.SUCCEEDED: "SUCCEEDED", ex.FAILED: "FAILED", ex.CANCELLED: "CANCELLED"}
STEP_STATUSES = {ex.STEP_STARTED: "STARTED", ex.STEP_SUCCEEDED: "SUCCEEDED", ex.STEP_FAILED: "FAILED"}


def _ms(text: str) -> int:
    return int(parse_ts(text).timestamp() * 1000)


class TriggerIndex:
    """Each tenant's triggers by source, kept with the definitions and cached a few seconds, so an
    event costs one query per (tenant, source) per cache period, never a scan of definitions."""

    def __init__(self, store: EventStore, clock: Clock, ttl_seconds: float = limits.TRIGGER_CACHE_SECONDS) -> None:
        self.store = store
        self.clock = clock
        self.ttl = ttl_seconds
        self._cache: dict[tuple[str, str], tuple[float, list[Trigger]]] = {}

    def update(
        self, tenant_id: str, definition_id: str, version: int, document: Mapping[str, Any] | None, previous: Any
    ) -> None:
        """After a definition changed: its new version's triggers (none once deleted) replace the old."""
        new = triggers_of(document, version) if document is not None else []
        old = triggers_of(previous, 0) if isinstance(previous, Mapping) else []
        for source in sorted(sources_of(new)):
            self.store.put_triggers(
                tenant_id,
                definition_id,
                source,
                [t for t in new if source in (exact_values(t.pattern, "source") or [])],
            )
        for source in sorted(sources_of(old) - sources_of(new)):
            self.store.delete_triggers(tenant_id, definition_id, source)
        self._cache = {k: v for k, v in self._cache.items() if k[0] != tenant_id}

    def lookup(self, tenant_id: str, source: str) -> list[Trigger]:
        now = self.clock.now().timestamp()
        cached = self._cache.get((tenant_id, source))
        if cached is not None and cached[0] > now:
            return cached[1]
        triggers = self.store.triggers(tenant_id, source)
        if len(self._cache) > 4096:
            self._cache.clear()
        self._cache[(tenant_id, source)] = (now + self.ttl, triggers)
        return triggers


@dataclasses.dataclass(frozen=True)
class Prepared:
    """A batch's events as :meth:`EventService.prepare` logged them: (tenant, source, key) -> when;
    and the subscriptions of each (tenant, source), read after the last of them was logged."""

    logged: dict[tuple[str, str, str], int] = dataclasses.field(default_factory=dict)
    subscriptions: dict[tuple[str, str], list[Subscription]] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class EventService:
    store: EventStore
    queue: Queue
    clock: Clock
    bus: EventBus | None = None
    bus_name: str = "default"
    starter: Starter | None = None
    #: Counts RejectedTriggers by tenant; None: not counted.
    metric: Metric | None = None
    #: The trigger index over ``store``; the composition root hands it to the definitions.
    index: TriggerIndex = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        self.index = TriggerIndex(self.store, self.clock)

    # -- one event from the bus -----------------------------------------------------------

    def prepare(self, events: Sequence[Mapping[str, Any]]) -> Prepared:
        """An events handler's batch, before its events are handled one by one: all of them
        logged in one write, then each (tenant, source)'s subscriptions read once. Read after
        every event of the batch was logged, they serve each of them as :meth:`handle`'s own
        read would: a step subscribing later reads the log after subscribing, and finds them."""
        now_ms = int(self.clock.now().timestamp() * 1000)
        logged: dict[tuple[str, str, str], Received] = {}
        for event in events:
            tenant, source = tenant_of(event), event.get("source")
            if tenant is not None and isinstance(source, str):
                key = event_key(event)
                logged[(tenant, source, key)] = Received(key, now_ms, event)
        if not logged:
            return Prepared()
        self.store.log_events([(tenant, source, received) for (tenant, source, _), received in logged.items()])
        pairs = dict.fromkeys((tenant, source) for tenant, source, _ in logged)
        return Prepared({k: now_ms for k in logged}, {pair: self.store.subscriptions(*pair) for pair in pairs})

    def handle(self, event: Mapping[str, Any], prepared: Prepared | None = None) -> dict[str, Any]:
        """Route one event; raises (so the record is retried, then dead-lettered) only when a
        dependency failed. What the event itself gets wrong is recorded, never raised.
        ``prepared``: its batch's :meth:`prepare` (then it is logged already)."""
        tenant = tenant_of(event)
        source = event.get("source")
        if tenant is None or not isinstance(source, str):
            log.warning("event names no single tenant; it reaches nobody", extra={"eventId": event.get("id")})
            return {"tenantId": None, "started": 0, "delivered": 0, "rejected": 0}
        key = event_key(event)
        at_ms = prepared.logged.get((tenant, source, key)) if prepared is not None else None
        if at_ms is None:
            now_ms = int(self.clock.now().timestamp() * 1000)
            self.store.log_event(tenant, source, key, now_ms, event)
            subscriptions = self.store.subscriptions(tenant, source)  # after logging it: see prepare
        else:
            assert prepared is not None
            now_ms, subscriptions = at_ms, prepared.subscriptions[(tenant, source)]
        started = rejected = 0
        for trigger in self.index.lookup(tenant, source):
            if matches(trigger.pattern, event):
                if self._start(tenant, trigger, key, event, now_ms):
                    started += 1
                else:
                    rejected += 1
        delivered = 0
        for subscription in subscriptions:
            received = Received(key, now_ms, event)
            if self._deliver(tenant, source, subscription, received):
                delivered += 1
        return {"tenantId": tenant, "started": started, "delivered": delivered, "rejected": rejected}

    def _start(self, tenant: str, trigger: Trigger, key: str, event: Mapping[str, Any], now_ms: int) -> bool:
        """Start the trigger's execution; False (and a rejection the tenant can see) when the
        event cannot start it."""
        if self.starter is None:
            raise RuntimeError("this events handler has no way to start executions")
        try:
            data = evaluate(trigger.input, event) if trigger.input else dict(event)
            if trigger.name:
                name = evaluate(trigger.name, event)
                if not isinstance(name, str) or not _NAME.match(name):
                    raise BadRequest(f"name: {trigger.name!r} gave {json.dumps(name)[:100]}, not a name like order-42")
            else:
                name = f"ev-{key}-{trigger.index}"
                if not _NAME.match(name):
                    name = f"ev-{hashlib.sha256(key.encode()).hexdigest()[:40]}-{trigger.index}"
            self.starter(tenant, trigger.definition_id, data if data is not None else {}, name)
            return True
        except NotFound:
            return True  # deleted since the index was read: nothing to start
        except TooManyRequests:
            raise  # over the tenant's quota: the events handler puts the event back for later
        except (SedoError, ExpressionError) as exc:
            if isinstance(exc, SedoError) and exc.status >= 500:
                raise  # a dependency failed: the record is retried
            errors = [{"path": p.path, "message": p.message} for p in getattr(exc, "extra", {}).get("errors", [])]
            reason = exc.detail if isinstance(exc, SedoError) else str(exc)
            self.store.reject(
                tenant,
                now_ms,
                {
                    "eventId": key,
                    "source": event.get("source"),
                    "detailType": event.get("detail-type"),
                    "definitionId": trigger.definition_id,
                    "trigger": trigger.index,
                    "reason": reason[: limits.MAX_CAUSE_CHARS],
                    "errors": errors[:20],
                },
            )
            if self.metric is not None:
                self.metric("RejectedTriggers", tenant, 1)
            log.info("trigger rejected the event", extra={"tenantId": tenant, "definitionId": trigger.definition_id})
            return False

    # -- event steps ------------------------------------------------------------------------

    @staticmethod
    def correlated(subscription: Subscription, event: Mapping[str, Any]) -> bool:
        for field, value in subscription.correlate.items():
            try:
                if evaluate(field, event) != value:
                    return False
            except ExpressionError:
                return False
        return True

    def _deliver(self, tenant: str, source: str, subscription: Subscription, received: Received) -> bool:
        if received.at_ms < subscription.since_ms:
            return False
        if not matches(subscription.pattern, received.event) or not self.correlated(subscription, received.event):
            return False
        self.store.receive(tenant, subscription.execution_key, subscription.instance, received)
        # Counted from the store, not from this delivery: a duplicate counts nothing, and the
        # wake-up is sent again harmlessly (the processor drops what no longer applies).
        if len(self.store.received(tenant, subscription.execution_key, subscription.instance)) >= subscription.count:
            self.queue.send([self._wakeup(tenant, subscription)])
        return True

    @staticmethod
    def _wakeup(tenant: str, subscription: Subscription) -> dict[str, Any]:
        return {
            "tenantId": tenant,
            "key": subscription.execution_key,
            "seq": 0,
            "kind": str(WakeKind.EVENT),
            "mid": f"ev.{subscription.instance}",
            "data": {"instance": subscription.instance, "pattern": dict(subscription.pattern)},
        }

    @staticmethod
    def subscription(head: Execution) -> Subscription | None:
        awaiting = head.awaiting
        if not isinstance(awaiting, EventAwait) or head.finished or head.instance is None:
            return None
        return Subscription(
            head.key, int(head.instance), awaiting.pattern, awaiting.correlate, awaiting.count, _ms(awaiting.since)
        )

    def after_commit(self, head: Execution) -> None:
        """Subscribe a head that waits in an event step, then record what it may already have."""
        subscription = self.subscription(head)
        if subscription is None:
            return
        sources = exact_values(subscription.pattern, "source") or []
        for source in sources:
            self.store.subscribe(head.tenant_id, source, subscription)
        for source in sources:  # after subscribing: an event is logged before it looks for subscriptions
            for logged in self.store.logged_events(head.tenant_id, source, subscription.since_ms):
                self._deliver(head.tenant_id, source, subscription, logged)

    def gather(self, head: Execution) -> list[Mapping[str, Any]] | None:
        """The events of the head's event step attempt, ``count`` of them; None when fewer are in."""
        subscription = self.subscription(head)
        if subscription is None:
            return None
        received = self.store.received(head.tenant_id, head.key, subscription.instance)
        if len(received) < subscription.count:
            return None
        return [r.event for r in received[: subscription.count]]

    def flushed(self, head: Execution, steps: bool = False) -> None:
        """After a head's flush (processor, or the API's cancel); ``steps``: the definition
        opted into step-level events (``events: {steps: true}``)."""
        self.after_commit(head)
        self.status_changed(head, steps)

    def moved_on(self, before: Execution, after: Execution) -> None:
        """A commit ended an event step attempt's wait: its subscription goes."""
        awaiting = before.awaiting
        waiting = isinstance(after.awaiting, EventAwait) and after.instance == before.instance
        if isinstance(awaiting, EventAwait) and before.instance is not None and not waiting:
            self.forget(before, int(before.instance), awaiting.pattern)

    def forget(self, head: Execution, instance: int, pattern: Mapping[str, Any]) -> None:
        for source in exact_values(pattern, "source") or []:
            self.store.unsubscribe(head.tenant_id, source, head.key, instance)

    # -- events sedo puts ----------------------------------------------------------------------

    def put(self, tenant_id: str, events: Sequence[Mapping[str, Any]]) -> None:
        """Put events for ``tenant_id`` (the API's POST .../events): ``{source, detailType, detail}``."""
        if self.bus is None:
            raise RuntimeError("no event bus is configured")
        entries = []
        for index, body in enumerate(events):
            if body.get("source") == SEDO_SOURCE:
                raise BadRequest(f"event {index}: the source 'sedo' is sedo's own; name your system's source")
            try:
                limits.measure(body.get("detail", {}), limits.MAX_EVENT_DETAIL_BYTES, what=f"event {index}'s detail")
            except SedoError as exc:
                raise BadRequest(exc.detail) from exc
            try:  # EventBridge takes UTF-8 only: a lone surrogate (\ud800) cannot be put
                json.dumps(
                    [body.get("source"), body.get("detailType"), body.get("detail")], ensure_ascii=False
                ).encode()
            except UnicodeEncodeError:
                raise BadRequest(f"event {index}: its text is not valid Unicode (a lone surrogate)") from None
            entries.append(entry(tenant_id, body["source"], body["detailType"], body.get("detail", {}), self.bus_name))
        try:
            self.bus.put(entries)
        except Exception as exc:
            log.exception("could not put events for %s", tenant_id)
            raise Unavailable("the event bus did not take the events; retry") from exc

    def status_changed(self, head: Execution, steps: bool = False) -> None:
        """Put the head's :meth:`status_entries` on the bus."""
        entries = self.status_entries(head, steps)
        if entries and self.bus is not None:
            self.bus.put(entries)

    def status_entries(self, head: Execution, steps: bool = False) -> list[dict[str, Any]]:
        """An "Execution Status Change" event for each status the head's last segment reached
        (top-level executions), and with ``steps`` a "Step Status Change" per step event. Stable
        ids per execution and status (per history event for steps): a re-flush repeats them.
        Empty without a bus."""
        if self.bus is None or head.parent_key is not None:
            return []
        entries: list[dict[str, Any]] = []
        for event in head.pending_events:
            status = STATUSES.get(str(event.get("type")))
            if steps and str(event.get("type")) in STEP_STATUSES:
                entries.append(self._step_entry(head, event))
            if status is None:
                continue
            if status == "FAILED" and event.get("error") == failures.TIMEOUT:
                status = "TIMED_OUT"
            detail: dict[str, Any] = {
                "tenantId": head.tenant_id,
                "executionId": head.id,
                "definitionId": head.definition_id,
                "definitionVersion": head.definition_version,
                "status": status,
                "time": event.get("timestamp"),
            }
            if head.name:
                detail["name"] = head.name
            for field in ("error", "cause"):
                if event.get(field):
                    detail[field] = str(event[field])[:1000]
            key = stable_id(head.id, status)
            entries.append(entry(head.tenant_id, SEDO_SOURCE, STATUS_CHANGE, detail, self.bus_name, key))
        return entries

    def _step_entry(self, head: Execution, event: Mapping[str, Any]) -> dict[str, Any]:
        detail: dict[str, Any] = {
            "tenantId": head.tenant_id,
            "executionId": head.id,
            "definitionId": head.definition_id,
            "definitionVersion": head.definition_version,
            "stepId": event.get("stepId"),
            "status": STEP_STATUSES[str(event["type"])],
            "time": event.get("timestamp"),
        }
        for field in ("attempt", "error", "cause"):
            if event.get(field):
                detail[field] = str(event[field])[:1000] if field == "cause" else event[field]
        key = stable_id(head.id, "step", str(event.get("id")))
        return entry(head.tenant_id, SEDO_SOURCE, STEP_STATUS_CHANGE, detail, self.bus_name, key)
