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
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from sedo import bootstrap
from sedo.adapters.aws import THROTTLING_CODES, throttled
from sedo.config import Settings
from sedo.entrypoints import batch
from sedo.service_layer.processing import PoisonMessage, WakeUpProcessor

__all__ = ["THROTTLE_DELAY", "THROTTLING_CODES", "make_handler", "partial_batch", "throttled"]

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


#: A throttled wake-up comes back after a jittered delay in this range (seconds).
THROTTLE_DELAY = (1, 10)


def make_handler(
    wakeups: WakeUpProcessor, logger: Any, max_receive_count: int | None = None, threads: int = 1
) -> Handler:
    """``max_receive_count``: the queue's redrive threshold; a record failing on its last receive
    marks its execution failed (States.Runtime) before it goes to the DLQ. ``threads`` above 1:
    a batch's executions are processed that many at a time (sedo/entrypoints/batch.py), each
    execution's records in order."""
    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="sedo-wake") if threads > 1 else None

    def record_handler(record: SQSRecord) -> str:
        try:
            body = json.loads(record.body)
        except ValueError as exc:
            raise PoisonMessage(f"message {record.message_id} is not JSON") from exc
        # A throttled message comes back as a new one: count its earlier receives too, so a
        # redelivered producer of the head still re-flushes its outbox.
        earlier = int(body.get("throttled", 0) or 0) if isinstance(body, dict) else 0
        receives = int(record.attributes.approximate_receive_count or 2) + earlier
        try:
            return wakeups.process(body, receives, record.message_id)
        except Exception as exc:
            if throttled(exc) and isinstance(body, dict):
                return _retry_later(body, exc)
            if max_receive_count is not None and receives >= max_receive_count:
                kind = body.get("kind") if isinstance(body, dict) else None
                cause = f"the {kind!r} wake-up failed on its last receive ({receives}): {exc}"[:2000]
                try:
                    wakeups.dead_letter(body, cause)
                except Exception:  # the record still goes to the DLQ; the sweeper finds the head
                    logger.exception("could not mark the execution of a dead-lettered wake-up")
            if isinstance(exc, PoisonMessage):
                logger.error(
                    "poison message; it will reach the DLQ after the queue's maxReceiveCount",
                    extra={"messageId": record.message_id},
                )
            raise

    def _retry_later(body: dict[str, Any], exc: BaseException) -> str:
        """Throttling slows down, never dead-letters: send the wake-up again after a short
        jittered delay (a new message, so throttles never count toward maxReceiveCount)."""
        again = {**body, "throttled": int(body.get("throttled", 0) or 0) + 1, "delay": random.randint(*THROTTLE_DELAY)}
        wakeups.queue.send([again])
        logger.warning("throttled; the wake-up is retried shortly", extra={"kind": body.get("kind"), "error": str(exc)})
        return "throttled"

    def failed(record: SQSRecord, exc: BaseException) -> None:
        logger.warning(
            "wake-up failed; SQS delivers it again", extra={"messageId": record.message_id, "error": str(exc)}
        )

    def flushed() -> None:
        try:
            wakeups.end_batch()
        except BaseException as exc:
            logger.warning(
                "the batch's flush failed; SQS delivers its messages again", extra={"error": str(exc)[:1000]}
            )
            raise

    return partial_batch(
        record_handler,
        pool,
        failed,
        lambda n, seconds: _batch_done(wakeups, logger, n, seconds),
        wakeups.new_batch,
        flushed,
    )


def partial_batch(
    record_handler: Callable[[SQSRecord], Any],
    pool: ThreadPoolExecutor | None = None,
    failed: Callable[[SQSRecord, BaseException], None] | None = None,
    done: Callable[[int, float], None] | None = None,
    started: Callable[[float | None], None] | None = None,
    ended: Callable[[], None] | None = None,
) -> Handler:
    """An SQS batch handler answering with a partial batch response: the records whose
    ``record_handler`` raised are reported in ``batchItemFailures``, the rest succeed. With a
    ``pool``, a batch's executions run side by side (sedo/entrypoints/batch.py); ``done`` is
    told each batch's size and seconds; ``started`` the seconds the invocation has left when it
    begins (None: not known); ``ended`` runs once every record was handled, and when it raises
    every record of the batch is reported failed (sedo/service_layer/batchflush.py)."""

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        began = time.perf_counter()
        records = event.get("Records") or []
        if started is not None:
            remaining = getattr(context, "get_remaining_time_in_millis", None)
            started(remaining() / 1000 if remaining is not None else None)
        if pool is not None and failed is not None and len(records) > 1:
            answer = batch.process_concurrently(records, record_handler, pool, failed)
        else:
            answer = dict(
                process_partial_response(
                    event=event,
                    record_handler=record_handler,
                    processor=BatchProcessor(EventType.SQS, raise_on_entire_batch_failure=False),
                    context=context,
                )
            )
        if ended is not None:
            try:
                ended()
            except Exception:  # nothing of the batch is acknowledged: every message comes back
                answer = {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in records]}
        if done is not None:
            done(len(records), time.perf_counter() - began)
        return answer

    return handler


def _batch_done(wakeups: WakeUpProcessor, logger: Any, records: int, seconds: float) -> None:
    """Tell the observers the batch ended (the usage ledger and the metrics write per batch,
    sedo/entrypoints/metrics.py); their failure never fails the batch, which is committed."""
    done = getattr(wakeups.observer, "batch_done", None)
    if done is None:
        return
    try:
        done(records, seconds)
    except Exception:
        logger.exception("could not record the batch's usage and metrics")


def handler_from_env() -> Handler:
    """The handler configured from the environment (Lambda, or ``make run``'s exported settings)."""
    from aws_lambda_powertools import Logger

    settings = Settings.from_env()
    logger = Logger(service=settings.service_name, level=settings.log_level)
    wakeups = bootstrap.processor(bootstrap.aws_adapters(settings), settings, logger)
    from sedo.entrypoints.metrics import traced  # Powertools Tracer when Tracing=Active

    return traced(make_handler(wakeups, logger, settings.max_receive_count, settings.processor_threads))
