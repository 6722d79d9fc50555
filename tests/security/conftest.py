"""One stack and one API server per module: the matrices send hundreds of requests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from sedo.adapters.aws import client
from sedo.config import Settings
from sedo.entrypoints.local.moto import provision
from tests.support import queue_depth as support_queue_depth
from tests.support import serve_api


@pytest.fixture(scope="module")
def module_stack(moto_endpoint: str) -> Settings:
    return provision(
        moto_endpoint,
        stage="s" + uuid.uuid4().hex[:12],
        parameters={"QueueVisibilityTimeoutSeconds": "1", "MaxReceiveCount": "3"},
    )


@pytest.fixture(scope="module")
def api(module_stack: Settings) -> Iterator[str]:
    with serve_api(module_stack) as base_url:
        yield base_url


def stored_items(settings: Settings, tenant: str) -> list[dict[str, Any]]:
    """Every item of every table that belongs to ``tenant``, read straight from DynamoDB, and
    every object of the payload bucket under its prefix."""
    dynamodb = client("dynamodb", settings)
    items = []
    for table in (settings.definitions_table, settings.executions_table, settings.history_table):
        pages = dynamodb.get_paginator("scan").paginate(
            TableName=table,
            ConsistentRead=True,
            FilterExpression="pk = :t OR begins_with(pk, :p)",
            ExpressionAttributeValues={":t": {"S": tenant}, ":p": {"S": tenant + "#"}},
        )
        for page in pages:
            items.extend({"table": table, **item} for item in page["Items"])
    if settings.payload_bucket:
        listed = client("s3", settings).list_objects_v2(Bucket=settings.payload_bucket, Prefix=tenant + "/")
        for entry in listed.get("Contents", []):
            items.append({"table": "s3", "pk": {"S": entry["Key"]}, "sk": entry["ETag"]})
    return sorted(items, key=lambda i: (i["table"], i["pk"]["S"], str(i["sk"])))


def queue_depth(settings: Settings) -> int:
    return support_queue_depth(client("sqs", settings), settings.queue_url)


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"] == "application/problem+json", response.headers
    body = response.json()
    assert {"type", "title", "status", "detail"} <= set(body), body
    assert body["status"] == status and body["type"].startswith("https://sedo.dev/problems/")
    return dict(body)
