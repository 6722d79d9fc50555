"""The event bus (issue 15): EventBridge PutEvents, an in-memory bus for tests, and the
invoker door through which ``emit`` steps reach the bus."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sedo.domain import failures
from sedo.domain.events.triggers import entry
from sedo.domain.steps.base import Invoker, InvokeRequest, InvokeResult


class EventPutError(RuntimeError):
    pass


class EventBridgeBus:
    def __init__(self, client: Any) -> None:
        self.client = client

    def put(self, entries: Sequence[Mapping[str, Any]]) -> None:
        for start in range(0, len(entries), 10):
            chunk = [dict(e) for e in entries[start : start + 10]]
            response = self.client.put_events(Entries=chunk)
            if response.get("FailedEntryCount"):
                failed = [e for e in response.get("Entries", []) if e.get("ErrorCode")]
                raise EventPutError(f"{len(failed)} of {len(chunk)} events were not put: {failed[:1]}")


class MemoryEventBus:
    """Keeps what was put, as EventBridge would deliver it (with ``id``, ``detail-type``...)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def put(self, entries: Sequence[Mapping[str, Any]]) -> None:
        for e in entries:
            self.events.append(
                {
                    "version": "0",
                    "id": f"mem-{len(self.events) + 1}",
                    "source": e["Source"],
                    "detail-type": e["DetailType"],
                    "resources": list(e.get("Resources") or []),
                    "detail": json.loads(e["Detail"]),
                }
            )


class EmittingInvoker:
    """Routes ``{"event": ...}`` targets (emit steps) to the bus, everything else to ``inner``."""

    def __init__(self, inner: Invoker | None, bus: Any, bus_name: str) -> None:
        self.inner = inner
        self.bus = bus
        self.bus_name = bus_name

    def invoke(self, request: InvokeRequest) -> InvokeResult:
        target = request.target.get("event")
        if target is None:
            if self.inner is None:
                return InvokeResult(error=failures.RUNTIME, cause="this processor has no invoker configured")
            return self.inner.invoke(request)
        if self.bus is None:
            return InvokeResult(error=failures.RUNTIME, cause="this processor has no event bus configured")
        try:
            self.bus.put(
                [
                    entry(
                        target["tenantId"],
                        target["source"],
                        target["detailType"],
                        request.payload,
                        self.bus_name,
                        request.idempotency_key,
                    )
                ]
            )
        except Exception as exc:
            return InvokeResult(error=failures.RUNTIME, cause=f"the event could not be put: {exc}"[:1000])
        return InvokeResult(output=None)
