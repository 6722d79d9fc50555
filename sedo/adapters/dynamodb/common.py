"""What the DynamoDB stores share: attribute values, keys, conditional writes, paging."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from botocore.exceptions import ClientError

from sedo.adapters.dynamodb.layout import head_key

BY_DEFINITION_INDEX = "byDefinition"
#: Unfinished heads by sweep shard and due time (sparse, keys only): see sedo/domain/liveness.py.
BY_DUE_INDEX = "byDue"


class TableStore:
    """A store over one DynamoDB table: the client it calls and the table's name."""

    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table


def execution_key(tenant_id: str, key: str) -> dict[str, dict[str, str]]:
    """Where a head lives: a partition of its own, top-level or a child (see layout.py)."""
    return head_key(tenant_id, key)


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def _condition_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") in (
        "ConditionalCheckFailedException",
        "TransactionCanceledException",
    )


def conditional(call: Callable[..., dict[str, Any]], **kwargs: Any) -> dict[str, Any] | None:
    """A conditional write's response, or None when DynamoDB refused it for its condition."""
    try:
        return call(**kwargs)
    except ClientError as exc:
        if _condition_failed(exc):
            return None
        raise


#: The attribute in which a head write carries its own random token (see :func:`put_once`).
WRITE_ID = "writeId"


def put_once(client: Any, **kwargs: Any) -> bool:
    """A conditional PutItem: True when this item is now stored, False when the condition
    refused it.

    botocore retries a request whose answer did not come back (a read timeout, a 5xx);
    when the lost attempt had been applied, the retry fails its condition against the
    item it wrote itself. Each write therefore carries a fresh token, and a refusal whose
    stored item (returned with the error, no extra read) holds our token is our success.
    """
    token = uuid.uuid4().hex
    kwargs["Item"] = {**kwargs["Item"], WRITE_ID: _s(token)}
    try:
        client.put_item(ReturnValuesOnConditionCheckFailure="ALL_OLD", **kwargs)
    except ClientError as exc:
        if not _condition_failed(exc):
            raise
        stored: Any = exc.response.get("Item") or {}
        return bool(stored.get(WRITE_ID, {}).get("S") == token)
    return True


def all_items(call: Callable[..., dict[str, Any]], **kwargs: Any) -> Iterator[dict[str, Any]]:
    """Every item of a Query or Scan, page after page."""
    while True:
        response = call(**kwargs)
        yield from response.get("Items", [])
        if "LastEvaluatedKey" not in response:
            return
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


#: BatchWriteItem / BatchGetItem: rounds of unprocessed items retried (with backoff) before giving up.
BATCH_ROUNDS = 8


class UnprocessedItems(RuntimeError):
    """DynamoDB kept refusing part of a batch (throttling): the caller's work is retried later."""


def _backoff(round_: int) -> None:
    time.sleep(min(1.0, 0.025 * 2**round_) * (0.5 + random.random() / 2))  # jittered


def batch_write(client: Any, table: str, requests: list[dict[str, Any]]) -> None:
    """Every ``PutRequest``/``DeleteRequest`` through BatchWriteItem, 25 a call, retrying
    the unprocessed ones with jittered backoff; raises :class:`UnprocessedItems` if some
    are still refused after :data:`BATCH_ROUNDS` rounds."""
    batch_write_tables(client, [(table, request) for request in requests])


def batch_write_tables(client: Any, requests: Sequence[tuple[str, dict[str, Any]]]) -> None:
    """:func:`batch_write` of ``(table, request)`` pairs over several tables, 25 a call."""
    for start in range(0, len(requests), 25):
        pending: dict[str, Any] = {}
        for table, request in requests[start : start + 25]:
            pending.setdefault(table, []).append(request)
        for round_ in range(BATCH_ROUNDS):
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
            if not pending:
                break
            _backoff(round_)
        else:
            left = sum(len(v) for v in pending.values())
            raise UnprocessedItems(f"{left} writes to {', '.join(sorted(pending))} kept being refused")


def batch_get(client: Any, table: str, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The items at ``keys`` that exist (strongly consistent), 100 keys a BatchGetItem call."""
    found: list[dict[str, Any]] = []
    for start in range(0, len(keys), 100):
        request: dict[str, Any] = {table: {"Keys": keys[start : start + 100], "ConsistentRead": True}}
        for round_ in range(BATCH_ROUNDS):
            response = client.batch_get_item(RequestItems=request)
            found.extend(response.get("Responses", {}).get(table, []))
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
            _backoff(round_)
        else:
            raise UnprocessedItems(f"{len(request[table]['Keys'])} reads from {table} kept being refused")
    return found
