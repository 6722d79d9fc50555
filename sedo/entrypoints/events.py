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
import random
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from sedo import bootstrap
from sedo.adapters.aws import throttled
from sedo.config import Settings
from sedo.domain.errors import TooManyRequests
from sedo.domain.limits import MAX_SQS_DELAY_SECONDS
from sedo.entrypoints.processor import THROTTLE_DELAY, partial_batch
from sedo.service_layer.events import EventService, Prepared
from sedo.service_layer.ports import Queue

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
    event.pop("delay", None)  # a throttled event put back (make_handler), not part of the event
    return event


def make_handler(events: EventService, logger: Any, again: Queue | None = None) -> Handler:
    """``again``: the events queue; a throttled event is put back on it after a short jittered
    delay (a new message, so throttles never count toward maxReceiveCount), as the processor does.

    A batch's events are first logged together and its subscriptions read once
    (:meth:`EventService.prepare`); should that fail, each event does both on its own."""

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        records = event.get("Records") or []
        parsed = {str(r.get("messageId")): _parsed(str(r.get("body"))) for r in records}  # each body once
        prepared = _prepare([e for e in parsed.values() if not isinstance(e, PoisonEvent)])
        return partial_batch(lambda record: record_handler(record, parsed.get(record.message_id), prepared))(
            event, context
        )

    def _parsed(body: str) -> dict[str, Any] | PoisonEvent:
        try:
            return parse(body)
        except PoisonEvent as exc:
            return exc  # its record fails on its own

    def _prepare(bodies: list[dict[str, Any]]) -> Prepared | None:
        try:
            return events.prepare(bodies)
        except Exception as exc:
            logger.warning(
                "could not log the batch at once; its events are handled one by one", extra={"error": str(exc)}
            )
            return None

    def record_handler(
        record: SQSRecord, parsed: dict[str, Any] | PoisonEvent | None, prepared: Prepared | None
    ) -> dict[str, Any]:
        event = _parsed(record.body) if parsed is None else parsed  # None: a record without a messageId
        if isinstance(event, PoisonEvent):
            logger.error("poison event; it reaches the events DLQ", extra={"messageId": record.message_id})
            raise event
        try:
            outcome = events.handle(event, prepared)
        except TooManyRequests as exc:  # a start over the tenant's quota: retried later, never dropped
            if again is None:
                raise
            delay = min(MAX_SQS_DELAY_SECONDS, exc.retry_after + random.randint(*THROTTLE_DELAY))
            again.send([{**event, "delay": delay}])
            logger.warning("over quota; the event is handled again later", extra={"eventId": event.get("id")})
            return {"overQuota": True, "retryAfter": delay}
        except Exception as exc:
            if again is None or not throttled(exc):
                raise
            again.send([{**event, "delay": random.randint(*THROTTLE_DELAY)}])
            logger.warning("throttled; the event is handled again shortly", extra={"eventId": event.get("id")})
            return {"throttled": True}
        logger.info("event handled", extra={"eventId": event.get("id"), **outcome})
        return outcome

    return handler


def handler_from_env() -> Handler:
    from aws_lambda_powertools import Logger

    settings = Settings.from_env()
    logger = Logger(service=settings.service_name, level=settings.log_level)
    adapters = bootstrap.aws_adapters(settings)
    again = None
    if settings.events_queue_url:
        from sedo.adapters.aws import client
        from sedo.adapters.sqs import SqsQueue

        again = SqsQueue(client("sqs", settings), settings.events_queue_url, settings.max_delay_seconds)
    return make_handler(bootstrap.events_handler(adapters, settings), logger, again)


@functools.cache
def _built() -> Handler:
    return handler_from_env()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The Lambda entrypoint (template.yaml EventsFunction); its graph is built once per container."""
    return _built()(event, context)
