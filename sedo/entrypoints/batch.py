"""A batch of SQS records processed a few at a time, with a partial batch response.

Powertools' ``BatchProcessor`` handles an SQS batch one record after another. A wake-up
mostly waits on DynamoDB and SQS, so an invocation of ten records spends most of its time
waiting: :func:`process_concurrently` runs the records on a bounded thread pool instead.
Records of one execution (the same ``tenantId`` and ``key``) stay in batch order on one
thread, one after another, as they would without threads; a record whose body is not a
wake-up is a group of its own. A record that raises is reported in ``batchItemFailures``
so that SQS retries only it, exactly as Powertools reports it.
"""

from __future__ import annotations

import contextvars
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord


def _group_of(record: dict[str, Any], position: int) -> tuple[str, ...]:
    try:
        body = json.loads(record.get("body") or "")
    except ValueError:
        return ("?", str(position))
    if isinstance(body, dict) and isinstance(body.get("tenantId"), str) and isinstance(body.get("key"), str):
        return (body["tenantId"], body["key"])
    return ("?", str(position))


def groups(records: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The records by execution, each group in batch order, groups in order of first record."""
    grouped: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for position, record in enumerate(records):
        grouped.setdefault(_group_of(record, position), []).append(record)
    return list(grouped.values())


def process_concurrently(
    records: list[dict[str, Any]],
    record_handler: Callable[[SQSRecord], Any],
    pool: ThreadPoolExecutor,
    on_failure: Callable[[SQSRecord, BaseException], None],
) -> dict[str, Any]:
    """Every record through ``record_handler``, one execution's records in order, executions
    side by side on ``pool``; the partial batch response."""

    def run(group: list[dict[str, Any]]) -> list[str]:
        failed: list[str] = []
        for raw in group:
            record = SQSRecord(raw)
            try:
                record_handler(record)
            except Exception as exc:
                on_failure(record, exc)
                failed.append(record.message_id)
        return failed

    context = contextvars.copy_context()  # the invocation's (its batch flush, sedo/service_layer/batchflush.py)

    def in_context(group: list[dict[str, Any]]) -> list[str]:
        return context.copy().run(run, group)

    failures = {message_id for failed in pool.map(in_context, groups(records)) for message_id in failed}
    return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in records if r["messageId"] in failures]}
