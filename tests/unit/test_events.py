"""Events (issue 15) over in-memory fakes: triggers, emit and event steps, status changes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sedo import bootstrap
from sedo.adapters.clock import FakeClock
from sedo.domain.errors import InvalidDefinition
from sedo.domain.timefmt import parse_ts

T = "123"

ORDERS: dict[str, Any] = {
    "id": "orders",
    "inputSchema": {"type": "object", "required": ["orderId"]},
    "triggers": [{"event": {"source": ["shop.orders"], "detail-type": ["OrderPlaced"]}, "input": "detail"}],
    "steps": [
        {
            "id": "ask-payment",
            "type": "emit",
            "event": {"source": "shop.billing", "detailType": "PaymentRequested", "detail": "input"},
            "next": "wait-payment",
        },
        {
            "id": "wait-payment",
            "type": "event",
            "pattern": {"source": ["shop.payments"], "detail-type": ["PaymentCaptured"]},
            "correlate": {"detail.orderId": "input.orderId"},
            "timeoutSeconds": 600,
            "resultPath": "payment",
            "next": "done",
        },
        {"id": "done", "type": "succeed"},
    ],
}

BILLING: dict[str, Any] = {
    "id": "billing",
    "triggers": [
        {"event": {"source": ["shop.billing"]}, "input": "detail", "name": "join('-', ['bill', detail.orderId])"}
    ],
    "steps": [{"id": "ok", "type": "succeed"}],
}

FAN_IN: dict[str, Any] = {
    "id": "fan-in",
    "steps": [
        {
            "id": "wait-workers",
            "type": "event",
            "pattern": {"source": ["workers"], "detail-type": ["WorkerDone"]},
            "correlate": {"detail.batch": "input.batch"},
            "count": "input.workers",
            "lookbackSeconds": 60,
            "resultPath": "done",
            "end": True,
        }
    ],
}


def event(
    source: str, detail_type: str, detail: dict[str, Any], tenant: str | None = T, eid: str = ""
) -> dict[str, Any]:
    event.n += 1  # type: ignore[attr-defined]
    return {
        "id": eid or f"e-{event.n}",  # type: ignore[attr-defined]
        "source": source,
        "detail-type": detail_type,
        "resources": [f"sedo:tenant/{tenant}"] if tenant else [],
        "detail": detail,
    }


event.n = 0  # type: ignore[attr-defined]


class World:
    def __init__(self, *documents: dict[str, Any]) -> None:
        self.clock = FakeClock()
        self.adapters = bootstrap.memory_adapters(self.clock)
        self.api = bootstrap.api_services(self.adapters)
        self.events = bootstrap.events_handler(self.adapters)
        self.processor = bootstrap.processor(self.adapters)
        self.queue: Any = self.adapters.queue
        self.bus: Any = self.adapters.bus
        self.store: Any = self.adapters.events
        self.put = 0
        self.later: list[dict[str, Any]] = []
        for tenant in (T, "456"):
            for document in documents:
                self.api.definitions.create(tenant, dict(document))

    def pump(self, until: float = 0) -> None:
        """Deliver queued wake-ups (timers once due, if due by ``until`` seconds from now) and the bus's events."""
        horizon = self.clock.now().timestamp() + until
        for _ in range(1000):
            progressed = False
            self.later.extend(self.queue.drain())
            self.later.sort(key=lambda m: m.get("due") or "")
            waiting, self.later = self.later, []
            for message in waiting:
                due = message.get("due")
                if due and parse_ts(due).timestamp() > self.clock.now().timestamp():
                    if parse_ts(due).timestamp() > horizon:
                        self.later.append(message)  # not yet
                        continue
                    self.clock.moment = parse_ts(due)
                self.processor.process(message, 1)
                progressed = True
            while self.put < len(self.bus.events):
                self.events.handle(self.bus.events[self.put])
                self.put += 1
                progressed = True
            if not progressed:
                return
        raise AssertionError("never quiet")

    def executions(self, tenant: str = T, definition: str | None = None) -> list[dict[str, Any]]:
        items = self.api.executions.list(tenant, 100, None, [], definition).items
        return [self.api.executions.get(tenant, e["id"]) for e in items]

    def status_events(self) -> list[tuple[str, str]]:
        return [
            (e["detail"]["definitionId"], e["detail"]["status"])
            for e in self.bus.events
            if e["source"] == "sedo" and e["detail"]["tenantId"] == T
        ]


def test_the_acceptance_story_in_memory() -> None:
    world = World(ORDERS, BILLING)
    placed = event("shop.orders", "OrderPlaced", {"orderId": "o-1"})
    world.events.handle(placed)
    world.events.handle(placed)  # delivered twice: one execution
    world.pump()
    [order] = world.executions(definition="orders")
    assert order["state"] == "StepStarted" and order["step"] == "wait-payment"
    assert order["awaitingEvents"] == {"stepId": "wait-payment", "count": 1, "correlate": {"detail.orderId": "o-1"}}
    [bill] = world.executions(definition="billing")  # started by the emit, through billing's trigger
    assert bill["state"] == "ExecutionSucceeded" and bill["name"] == "bill-o-1"
    world.events.handle(event("shop.payments", "PaymentCaptured", {"orderId": "o-2"}))  # uncorrelated
    world.pump()
    assert world.executions(definition="orders")[0]["state"] == "StepStarted"
    captured = event("shop.payments", "PaymentCaptured", {"orderId": "o-1", "amount": 5})
    world.events.handle(captured)
    world.pump()
    [order] = world.executions(definition="orders")
    assert order["state"] == "ExecutionSucceeded"
    assert order["output"]["payment"]["detail"] == {"orderId": "o-1", "amount": 5}
    assert world.executions("456") == []  # nothing of the other tenant's
    statuses = world.status_events()
    assert ("orders", "STARTED") in statuses and ("orders", "SUCCEEDED") in statuses
    assert ("billing", "SUCCEEDED") in statuses


def test_tenancy_an_event_reaches_only_its_own_tenant() -> None:
    world = World(ORDERS)
    world.events.handle(event("shop.orders", "OrderPlaced", {"orderId": "x"}, tenant="456"))
    world.events.handle(event("shop.orders", "OrderPlaced", {"orderId": "y"}, tenant=None))
    both = event("shop.orders", "OrderPlaced", {"orderId": "z"})
    both["resources"].append("sedo:tenant/456")  # two tenants: nobody's
    world.events.handle(both)
    world.pump()
    assert world.executions() == []
    assert [e["input"]["orderId"] for e in world.executions("456")] == ["x"]
    # a waiting step of tenant 123 is not resumed by tenant 456's correlated payment
    world.events.handle(event("shop.orders", "OrderPlaced", {"orderId": "o-9"}))
    world.pump()
    world.events.handle(event("shop.payments", "PaymentCaptured", {"orderId": "o-9"}, tenant="456"))
    world.pump()
    assert world.executions()[0]["step"] == "wait-payment"


def test_input_failing_inputschema_is_rejected_visibly_and_blocks_nothing() -> None:
    world = World(ORDERS)
    world.events.handle(event("shop.orders", "OrderPlaced", {"nope": 1}))
    world.events.handle(event("shop.orders", "OrderPlaced", {"orderId": "ok"}))
    world.pump()
    assert [e["input"]["orderId"] for e in world.executions()] == ["ok"]
    [rejected] = world.store.rejected(T, 10)
    assert rejected["definitionId"] == "orders" and "orderId" in rejected["reason"]
    assert world.store.rejected("456", 10) == []


def test_counted_exactly_under_duplicates_out_of_order_and_lookback() -> None:
    world = World(FAN_IN)
    # two workers finish before the fan-in waits (within its 60 s lookback), one of them twice
    early = [event("workers", "WorkerDone", {"batch": "b1", "w": i}, eid=f"w{i}") for i in (1, 2)]
    for e in (early[1], early[0], early[1]):
        world.events.handle(e)
    world.events.handle(event("workers", "WorkerDone", {"batch": "other", "w": 9}))  # uncorrelated
    world.clock.advance(30)
    world.api.executions.start(T, "fan-in", {"batch": "b1", "workers": 4})
    world.pump()
    [head] = world.executions()
    assert head["state"] == "StepStarted"
    third = event("workers", "WorkerDone", {"batch": "b1", "w": 3}, eid="w3")
    for _ in range(3):
        world.events.handle(third)  # duplicate delivery counts once
        world.pump()
    assert world.executions()[0]["state"] == "StepStarted"
    world.events.handle(event("workers", "WorkerDone", {"batch": "b1", "w": 4}, eid="w4"))
    world.pump()
    [head] = world.executions()
    assert head["state"] == "ExecutionSucceeded"
    assert sorted(e["detail"]["w"] for e in head["output"]) == [1, 2, 3, 4]  # the last step's output


def test_events_before_the_lookback_window_do_not_count() -> None:
    world = World(FAN_IN)
    world.events.handle(event("workers", "WorkerDone", {"batch": "b1"}, eid="old"))
    world.clock.advance(61)
    world.api.executions.start(T, "fan-in", {"batch": "b1", "workers": 1})
    world.pump()
    assert world.executions()[0]["state"] == "StepStarted"


def test_lookback_zero_ignores_earlier_events_and_times_out() -> None:
    world = World(ORDERS)
    world.events.handle(event("shop.payments", "PaymentCaptured", {"orderId": "o-5"}))  # too early
    world.clock.advance(1)
    world.events.handle(event("shop.orders", "OrderPlaced", {"orderId": "o-5"}))
    world.pump()
    assert world.executions()[0]["step"] == "wait-payment"
    world.pump(until=601)
    [head] = world.executions()
    assert head["state"] == "ExecutionFailed" and head["error"] == "States.Timeout"
    assert ("orders", "FAILED") not in world.status_events()
    assert ("orders", "TIMED_OUT") in world.status_events()
    assert world.store.subscriptions(T, "shop.payments") == []  # the ended wait forgot its subscription
    world.events.handle(event("shop.payments", "PaymentCaptured", {"orderId": "o-5"}))
    world.pump()  # a late event resumes nothing
    assert world.executions()[0]["state"] == "ExecutionFailed"


def test_a_repeated_emit_starts_its_consumer_once() -> None:
    world = World(ORDERS, BILLING)
    world.events.handle(event("shop.orders", "OrderPlaced", {"orderId": "o-7"}))
    world.pump()
    emitted = [e for e in world.bus.events if e["source"] == "shop.billing"]
    again = {**emitted[0], "id": "another-eventbridge-id"}  # the same put, repeated
    world.events.handle(again)
    world.pump()
    assert len(world.executions(definition="billing")) == 1
    assert any(r.startswith("sedo:event/") for r in emitted[0]["resources"])


@pytest.mark.parametrize(
    ("triggers", "path"),
    [
        ([{"event": {"source": "shop"}}], "/triggers/0/event/source"),
        ([{"event": {"detail-type": ["X"]}}], "/triggers/0/event"),
        ([{"event": {"source": ["a"], "detail": {"n": [{"numeric": [">"]}]}}}], "/triggers/0/event/detail/n/0/numeric"),
        ([{"event": {"source": ["a"]}, "input": "detail.["}], "/triggers/0/input"),
        ([{"event": {"source": ["a"]}, "extra": 1}], "/triggers/0/extra"),
    ],
)
def test_bad_triggers_are_400s_with_their_path(triggers: list[Any], path: str) -> None:
    world = World()
    with pytest.raises(InvalidDefinition) as caught:
        world.api.definitions.create(T, {**BILLING, "triggers": triggers})
    assert path in [p.path for p in caught.value.problems]


def test_bad_event_step_pattern_has_its_path() -> None:
    world = World()
    steps = [{**FAN_IN["steps"][0], "pattern": {"source": ["w"], "detail": {"n": [{"prefix": 3}]}}}]
    with pytest.raises(InvalidDefinition) as caught:
        world.api.definitions.create(T, {**FAN_IN, "steps": steps})
    assert [p.path for p in caught.value.problems] == ["/steps/0/pattern/detail/n/0/prefix"]


def test_the_trigger_index_follows_versions_and_deletes() -> None:
    world = World(BILLING)
    assert [t.definition_id for t in world.store.triggers(T, "shop.billing")] == ["billing"]
    world.api.definitions.update(T, "billing", {**BILLING, "triggers": [{"event": {"source": ["elsewhere"]}}]})
    assert world.store.triggers(T, "shop.billing") == []
    assert [t.version for t in world.store.triggers(T, "elsewhere")] == [2]
    world.api.definitions.delete(T, "billing")
    assert world.store.triggers(T, "elsewhere") == []


def test_step_level_events_are_opt_in() -> None:
    world = World(BILLING, {**FAN_IN, "id": "noisy", "events": {"steps": True}})
    world.events.handle(event("shop.billing", "X", {"orderId": "o-8"}))  # billing: no step events
    world.api.executions.start(T, "noisy", {"batch": "b", "workers": 1})
    world.pump()
    steps = [
        (e["detail"]["definitionId"], e["detail"]["stepId"], e["detail"]["status"])
        for e in world.bus.events
        if e["detail-type"] == "Step Status Change" and e["detail"]["tenantId"] == T
    ]
    assert steps == [("noisy", "wait-workers", "STARTED")]


def test_an_event_that_races_the_subscription_is_not_lost() -> None:
    """The correlated event is handled after the commit that made the step wait but before
    its flush subscribed it (lookback 0): the flush finds it in the log."""
    world = World(ORDERS)
    world.processor.events = None  # the flush's subscription comes late (below)
    world.events.handle(event("shop.orders", "OrderPlaced", {"orderId": "o-r"}))
    world.pump()
    store: Any = world.adapters.executions
    [order] = world.executions()
    head = store.get(T, order["id"].split(":")[2])
    assert world.store.subscriptions(T, "shop.payments") == []
    world.events.handle(event("shop.payments", "PaymentCaptured", {"orderId": "o-r", "amount": 2}))
    world.processor.events = world.events
    world.events.after_commit(head)  # the late flush: subscribes, then reads the log
    world.pump()
    assert world.executions()[0]["state"] == "ExecutionSucceeded"


def test_a_prepared_batch_is_logged_at_once_and_reads_each_sources_subscriptions_once() -> None:
    """The events handler's batch (EventService.prepare): the same starts and deliveries as
    one event at a time, duplicates within the batch included, with one log write and one
    subscription read per (tenant, source)."""
    world = World(FAN_IN, ORDERS)
    world.api.executions.start(T, "fan-in", {"batch": "b2", "workers": 2})
    world.pump()
    calls: list[str] = []
    for name in ("log_event", "log_events", "subscriptions"):
        original = getattr(world.store, name)

        def counted(*args: Any, _original: Any = original, _name: str = name) -> Any:
            calls.append(_name)
            return _original(*args)

        setattr(world.store, name, counted)
    done = [event("workers", "WorkerDone", {"batch": "b2", "w": i}, eid=f"b2-{i}") for i in (1, 2)]
    placed = event("shop.orders", "OrderPlaced", {"orderId": "o-77"})
    batch = [done[0], placed, done[1], done[0], placed]  # duplicate deliveries in the same batch
    prepared = world.events.prepare(batch)
    outcomes = [world.events.handle(e, prepared) for e in batch]
    assert sorted(calls) == ["log_events", "subscriptions", "subscriptions"]
    assert [o["started"] for o in outcomes] == [0, 1, 0, 0, 1]  # the name deduplicates the second start
    world.pump()
    fan_in = world.executions(definition="fan-in")
    assert [h["state"] for h in fan_in] == ["ExecutionSucceeded"]
    assert sorted(e["detail"]["w"] for e in fan_in[0]["output"]) == [1, 2]
    assert len(world.executions(definition="orders")) == 1
    assert sorted(r.key for r in world.store.logged_events(T, "workers", 0)) == ["b2-1", "b2-2"]  # once each


def test_a_rejected_trigger_is_a_metric_through_the_projects_emitter(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """RejectedTriggers: an EMF blob (sedo/entrypoints/metrics.py's Emitter) in namespace sedo,
    a Count with the tenantId dimension; none for an event that starts its execution, and none
    unless metrics are on (on Lambda, or SEDO_METRICS=1)."""
    World(ORDERS).events.handle(event("shop.orders", "OrderPlaced", {"nope": 1}))
    assert '"_aws"' not in capsys.readouterr().out  # metrics off: nothing written
    monkeypatch.setenv("SEDO_METRICS", "1")
    world = World(ORDERS)
    capsys.readouterr()
    world.events.handle(event("shop.orders", "OrderPlaced", {"orderId": "ok"}))
    world.events.handle(event("shop.orders", "OrderPlaced", {"nope": 1}))
    [blob] = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    (directive,) = blob["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "sedo"
    assert directive["Metrics"] == [{"Name": "RejectedTriggers", "Unit": "Count"}]
    assert sorted(directive["Dimensions"][0]) == ["service", "tenantId"]  # service: on every sedo metric
    assert (blob["tenantId"], blob["service"], blob["RejectedTriggers"]) == (T, "sedo", [1.0])
