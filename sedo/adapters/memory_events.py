"""An in-memory :class:`sedo.service_layer.event_ports.EventStore` for unit tests and ``sedo simulate``."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from sedo.domain.events.triggers import Trigger
from sedo.service_layer.event_ports import Received, Subscription


class MemoryEventStore:
    def __init__(self) -> None:
        self.trigger_items: dict[tuple[str, str], dict[str, list[Trigger]]] = {}
        self.log: dict[tuple[str, str], list[Received]] = {}
        self.subs: dict[tuple[str, str], dict[tuple[str, int], Subscription]] = {}
        self.receipts: dict[tuple[str, str, int], dict[str, Received]] = {}
        self.rejections: dict[str, list[dict[str, Any]]] = {}

    def put_triggers(self, tenant_id: str, definition_id: str, source: str, triggers: Sequence[Trigger]) -> None:
        self.trigger_items.setdefault((tenant_id, source), {})[definition_id] = list(triggers)

    def delete_triggers(self, tenant_id: str, definition_id: str, source: str) -> None:
        self.trigger_items.get((tenant_id, source), {}).pop(definition_id, None)

    def triggers(self, tenant_id: str, source: str) -> list[Trigger]:
        return [t for ts in self.trigger_items.get((tenant_id, source), {}).values() for t in ts]

    def log_event(self, tenant_id: str, source: str, key: str, at_ms: int, event: Mapping[str, Any]) -> None:
        self.log.setdefault((tenant_id, source), []).append(Received(key, at_ms, copy.deepcopy(dict(event))))

    def log_events(self, logged: Sequence[tuple[str, str, Received]]) -> None:
        kept = {(t, s, r.key, r.at_ms): (t, s, r) for t, s, r in logged}  # one item per key, as in DynamoDB
        for tenant_id, source, received in kept.values():
            self.log.setdefault((tenant_id, source), []).append(
                Received(received.key, received.at_ms, copy.deepcopy(dict(received.event)))
            )

    def logged_events(self, tenant_id: str, source: str, since_ms: int) -> list[Received]:
        return sorted((r for r in self.log.get((tenant_id, source), []) if r.at_ms >= since_ms), key=lambda r: r.at_ms)

    def subscribe(self, tenant_id: str, source: str, subscription: Subscription) -> None:
        self.subs.setdefault((tenant_id, source), {})[(subscription.execution_key, subscription.instance)] = (
            subscription
        )

    def unsubscribe(self, tenant_id: str, source: str, execution_key: str, instance: int) -> None:
        self.subs.get((tenant_id, source), {}).pop((execution_key, instance), None)

    def subscriptions(self, tenant_id: str, source: str) -> list[Subscription]:
        return list(self.subs.get((tenant_id, source), {}).values())

    def receive(self, tenant_id: str, execution_key: str, instance: int, received: Received) -> bool:
        got = self.receipts.setdefault((tenant_id, execution_key, instance), {})
        if received.key in got:
            return False
        got[received.key] = received
        return True

    def received(self, tenant_id: str, execution_key: str, instance: int) -> list[Received]:
        got = self.receipts.get((tenant_id, execution_key, instance), {})
        return sorted(got.values(), key=lambda r: (r.at_ms, r.key))

    def reject(self, tenant_id: str, at_ms: int, record: Mapping[str, Any]) -> None:
        self.rejections.setdefault(tenant_id, []).append({**record, "atMs": at_ms})

    def rejected(self, tenant_id: str, limit: int) -> list[dict[str, Any]]:
        return list(reversed(self.rejections.get(tenant_id, [])))[:limit]
