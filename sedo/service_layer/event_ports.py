"""The ports of events (issue 15): the event bus, and where events, triggers and waits are kept."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sedo.domain.events.triggers import Trigger


class EventBus(Protocol):
    def put(self, entries: Sequence[Mapping[str, Any]]) -> None:
        """Put PutEvents entries (ten to a call); raises when any entry was not accepted."""
        ...


@dataclass(frozen=True)
class Subscription:
    """A waiting event step attempt, as the events handler finds it (by tenant and source)."""

    execution_key: str
    instance: int
    pattern: Mapping[str, Any]
    correlate: Mapping[str, Any]
    count: int
    since_ms: int
    expires_at: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.execution_key,
            "instance": self.instance,
            "pattern": dict(self.pattern),
            "correlate": dict(self.correlate),
            "count": self.count,
            "sinceMs": self.since_ms,
        }

    @classmethod
    def from_dict(cls, body: Mapping[str, Any], expires_at: int = 0) -> Subscription:
        return cls(
            str(body["key"]),
            int(body["instance"]),
            dict(body["pattern"]),
            dict(body.get("correlate") or {}),
            int(body["count"]),
            int(body["sinceMs"]),
            expires_at,
        )


@dataclass(frozen=True)
class Received:
    """One event recorded for a waiting step attempt (its key deduplicates it)."""

    key: str
    at_ms: int
    event: Mapping[str, Any] = field(default_factory=dict)


class EventStore(Protocol):
    # -- the trigger index: a definition's triggers under each source they name ------------
    def put_triggers(self, tenant_id: str, definition_id: str, source: str, triggers: Sequence[Trigger]) -> None: ...

    def delete_triggers(self, tenant_id: str, definition_id: str, source: str) -> None: ...

    def triggers(self, tenant_id: str, source: str) -> list[Trigger]: ...

    # -- recent events of a tenant, for lookback (and the race with a step starting to wait)
    def log_event(self, tenant_id: str, source: str, key: str, at_ms: int, event: Mapping[str, Any]) -> None: ...

    def log_events(self, logged: Sequence[tuple[str, str, Received]]) -> None:
        """Log (tenant, source, event) at once (an events handler's batch); raises if any was not logged."""
        ...

    def logged_events(self, tenant_id: str, source: str, since_ms: int) -> list[Received]: ...

    # -- waiting event steps ----------------------------------------------------------------
    def subscribe(self, tenant_id: str, source: str, subscription: Subscription) -> None: ...

    def unsubscribe(self, tenant_id: str, source: str, execution_key: str, instance: int) -> None: ...

    def subscriptions(self, tenant_id: str, source: str) -> list[Subscription]: ...

    def receive(self, tenant_id: str, execution_key: str, instance: int, received: Received) -> bool:
        """Record an event for a step attempt once; False when its key was already recorded."""
        ...

    def received(self, tenant_id: str, execution_key: str, instance: int) -> list[Received]:
        """Every event recorded for the step attempt (strongly consistent), in arrival order."""
        ...

    # -- rejected triggers, for the tenant to see -----------------------------------------------
    def reject(self, tenant_id: str, at_ms: int, record: Mapping[str, Any]) -> None: ...

    def rejected(self, tenant_id: str, limit: int) -> list[dict[str, Any]]: ...
