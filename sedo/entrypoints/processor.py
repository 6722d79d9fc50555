"""The processor's entrypoint: SQS batch -> wake-ups -> service -> partial batch response.

Lambda calls the handler with a batch of SQS records; each record is one wake-up. A
record that raises is reported in ``batchItemFailures`` so SQS retries only it (and
moves it to the DLQ after the queue's maxReceiveCount); its batch-mates succeed.
Stale, duplicate and conflicting wake-ups are acknowledged. ``processor/handler.py``
is the Lambda shim that builds this once per container; ``make run`` and the tests
build it with their own adapters.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from sedo import bootstrap
from sedo.config import Settings
from sedo.service_layer.processing import PoisonMessage, WakeUpProcessor

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def make_handler(wakeups: WakeUpProcessor, logger: Any) -> Handler:
    def record_handler(record: SQSRecord) -> str:
        try:
            body = json.loads(record.body)
        except ValueError as exc:
            raise PoisonMessage(f"message {record.message_id} is not JSON") from exc
        try:
            return wakeups.process(body, int(record.attributes.approximate_receive_count or 2))
        except PoisonMessage:
            logger.error(
                "poison message; it will reach the DLQ after the queue's maxReceiveCount",
                extra={"messageId": record.message_id},
            )
            raise

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        response = process_partial_response(
            event=event,
            record_handler=record_handler,
            processor=BatchProcessor(EventType.SQS, raise_on_entire_batch_failure=False),
            context=context,
        )
        return dict(response)

    return handler


def handler_from_env() -> Handler:
    """The handler configured from the environment (Lambda, or ``make run``'s exported settings)."""
    from aws_lambda_powertools import Logger

    settings = Settings.from_env()
    logger = Logger(service=settings.service_name, level=settings.log_level)
    wakeups = bootstrap.processor(bootstrap.aws_adapters(settings), settings, logger)
    return make_handler(wakeups, logger)
