"""The events handler (issue 15): SQS batch of EventBridge events -> triggers and waits.

The rule in template.yaml sends every event of the bus that names a sedo tenant in its
``resources`` to the events queue; each record is one event. Each is handled on its own
(sedo/service_layer/events.py); a record that raises (a failed dependency, or a body that
is not an event at all) is reported in ``batchItemFailures`` so SQS retries only it and
moves it to the events DLQ after the queue's maxReceiveCount; its batch-mates succeed.
What an event gets wrong for a trigger (input that breaks inputSchema...) is recorded as a
rejected trigger the tenant can see, and the record succeeds.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from sedo import bootstrap
from sedo.config import Settings
from sedo.entrypoints.processor import partial_batch
from sedo.service_layer.events import EventService

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


class PoisonEvent(ValueError):
    """A record that is not an event: it goes to the events DLQ after maxReceiveCount."""


def parse(body: str) -> dict[str, Any]:
    try:
        event = json.loads(body)
    except ValueError as exc:
        raise PoisonEvent("the record is not JSON") from exc
    if not isinstance(event, dict) or not isinstance(event.get("source"), str):
        raise PoisonEvent("the record is not an EventBridge event (no source)")
    return event


def make_handler(events: EventService, logger: Any) -> Handler:
    def record_handler(record: SQSRecord) -> dict[str, Any]:
        try:
            event = parse(record.body)
        except PoisonEvent:
            logger.error("poison event; it reaches the events DLQ", extra={"messageId": record.message_id})
            raise
        outcome = events.handle(event)
        logger.info("event handled", extra={"eventId": event.get("id"), **outcome})
        return outcome

    return partial_batch(record_handler)


def handler_from_env() -> Handler:
    from aws_lambda_powertools import Logger

    settings = Settings.from_env()
    logger = Logger(service=settings.service_name, level=settings.log_level)
    return make_handler(bootstrap.events_handler(bootstrap.aws_adapters(settings), settings), logger)


@functools.cache
def _built() -> Handler:
    return handler_from_env()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The Lambda entrypoint (template.yaml EventsFunction); its graph is built once per container."""
    return _built()(event, context)
