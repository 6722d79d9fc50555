"""The local stack's moto server answers DynamoDB queries as moto does, without sorting the whole
table for each one (sedo/entrypoints/local/motoserver.py, ``install_queries``).

The oracle is moto itself, unpatched, in this process (``mock_aws``): the same tables, the same
items and the same queries must give the same answers from both, page by page."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

pytestmark = pytest.mark.integration

KEYS = [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]
ATTRIBUTES = [
    {"AttributeName": name, "AttributeType": kind}
    for name, kind in (("pk", "S"), ("sk", "S"), ("g", "S"), ("due", "N"), ("h", "S"))
]
INDEXES = [
    {
        "IndexName": "byG",
        "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}, {"AttributeName": "due", "KeyType": "RANGE"}],
        "Projection": {"ProjectionType": "KEYS_ONLY"},
    },
    {
        "IndexName": "byH",
        "KeySchema": [{"AttributeName": "h", "KeyType": "HASH"}],
        "Projection": {"ProjectionType": "ALL"},
    },
]


def _items(seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    items = []
    for p in range(25):
        for s in range(rng.randint(0, 14)):
            item: dict[str, Any] = {"pk": {"S": f"t#{p:02d}"}, "sk": {"S": f"{rng.choice('abc')}#{s:03d}"}}
            item["n"] = {"N": str(rng.randint(0, 9))}
            if rng.random() < 0.6:  # a sparse index: only some items carry its keys
                item["g"] = {"S": f"d{rng.randint(0, 3)}"}
                item["due"] = {"N": str(rng.randint(0, 50))}
            if rng.random() < 0.4:
                item["h"] = {"S": f"h{rng.randint(0, 2)}"}
            items.append(item)
    return items


def _load(ddb: Any, table: str, items: list[dict[str, Any]]) -> None:
    ddb.create_table(
        TableName=table,
        KeySchema=KEYS,
        AttributeDefinitions=ATTRIBUTES,
        GlobalSecondaryIndexes=INDEXES,
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.create_table(
        TableName=f"{table}-hash",
        KeySchema=KEYS[:1],
        AttributeDefinitions=ATTRIBUTES[:1],
        BillingMode="PAY_PER_REQUEST",
    )
    for item in items:
        ddb.put_item(TableName=table, Item=item)
        ddb.put_item(TableName=f"{table}-hash", Item={"pk": item["pk"], "sk": item["sk"]})  # the last one stays
    ddb.delete_item(TableName=table, Key={"pk": items[0]["pk"], "sk": items[0]["sk"]})  # a hole


def _queries(table: str) -> Iterator[dict[str, Any]]:
    def key(condition: str, **values: Any) -> dict[str, Any]:
        return {
            "TableName": table,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": {f":{k}": v for k, v in values.items()},
        }

    for p in ("t#03", "t#07", "t#24", "t#99"):  # t#99 holds nothing
        pk = {"S": p}
        yield key("pk = :p", p=pk)
        yield {**key("pk = :p", p=pk), "ScanIndexForward": False}
        yield {**key("pk = :p", p=pk), "Limit": 3}
        yield key("pk = :p AND begins_with(sk, :s)", p=pk, s={"S": "b#"})
        yield key("pk = :p AND sk BETWEEN :a AND :b", p=pk, a={"S": "a#002"}, b={"S": "b#009"})
        yield {**key("pk = :p AND sk > :s", p=pk, s={"S": "b"}), "ScanIndexForward": False, "Limit": 2}
        yield {
            **key("pk = :p", p=pk),
            "FilterExpression": "n >= :n",
            "ExpressionAttributeValues": {":p": pk, ":n": {"N": "5"}},
        }
        yield {**key("pk = :p", p=pk), "Select": "COUNT"}
        yield {**key("pk = :p", p=pk), "ProjectionExpression": "sk, n"}
        yield {
            "TableName": f"{table}-hash",
            "KeyConditionExpression": "pk = :p",
            "ExpressionAttributeValues": {":p": pk},
        }
    for g in ("d0", "d2", "d9"):
        yield {**key("g = :g", g={"S": g}), "IndexName": "byG"}
        yield {**key("g = :g AND due <= :d", g={"S": g}, d={"N": "20"}), "IndexName": "byG", "Limit": 4}
        yield {**key("g = :g", g={"S": g}), "IndexName": "byG", "ScanIndexForward": False, "Limit": 5}
    for h in ("h0", "h1"):
        yield {**key("h = :h", h={"S": h}), "IndexName": "byH", "Limit": 6}


def _pages(ddb: Any, request: dict[str, Any]) -> list[dict[str, Any]]:
    """Every page of a query (following LastEvaluatedKey), without the per-call metadata."""
    pages = []
    start: dict[str, Any] | None = None
    while True:
        page = ddb.query(**request, **({"ExclusiveStartKey": start} if start else {}))
        page.pop("ResponseMetadata", None)
        pages.append(page)
        start = page.get("LastEvaluatedKey")
        if not start or len(pages) > 200:
            return pages


def _answers(ddb: Any, table: str) -> list[list[dict[str, Any]]]:
    answers = [_pages(ddb, request) for request in _queries(table)]
    scan = ddb.scan(TableName=table, Limit=7)  # scans still walk the table as moto does, in order
    scan.pop("ResponseMetadata", None)
    return [*answers, [scan], [{"count": ddb.scan(TableName=table, Select="COUNT")["Count"]}]]


@pytest.mark.parametrize("seed", [1, 2])
def test_queries_answer_as_unpatched_moto_does(moto_endpoint: str, seed: int) -> None:
    items = _items(seed)
    table = f"q-{uuid.uuid4().hex[:8]}"
    server = boto3.client("dynamodb", endpoint_url=moto_endpoint, region_name="us-east-1")
    _load(server, table, items)
    patched = _answers(server, table)
    with mock_aws():
        oracle_client = boto3.client(
            "dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
        )
        _load(oracle_client, table, items)
        oracle = _answers(oracle_client, table)
    assert len(patched) == len(oracle) > 50
    for request, mine, theirs in zip(_queries(table), patched, oracle, strict=False):
        assert mine == theirs, request
    assert patched[-2:] == oracle[-2:]
    # a query of a partition that holds nothing added nothing to the table
    assert patched[-1] == [{"count": len(items) - 1}]
