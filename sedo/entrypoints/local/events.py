"""``make run``'s events handler (issue 15): the EventsFunction's Lambda handler, fed from the
events queue that template.yaml's tenant-events rule fills (moto delivers matching events to
SQS targets), by the same local event source mapping as the processor."""

from __future__ import annotations

from sedo.adapters.aws import client
from sedo.config import Settings
from sedo.entrypoints.local.esm import EventSourceMapping


def start_events(settings: Settings, workers: int = 1, function_timeout: float | None = None) -> EventSourceMapping:
    """Start polling the events queue (the settings must be exported: the handler reads them)."""
    from sedo.entrypoints.events import handler_from_env

    if not settings.events_queue_url:
        raise RuntimeError("the stack has no events queue (template.yaml EventsQueue)")
    esm = EventSourceMapping(
        client("sqs", settings),
        settings.events_queue_url,
        handler_from_env(),
        settings.region,
        max(1, workers // 2),
        function_timeout=function_timeout,
    )
    esm.start()
    return esm
