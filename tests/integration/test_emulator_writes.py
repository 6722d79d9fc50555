"""The emulator applies the writes to one item one at a time, as DynamoDB does.

moto's server serves requests on threads and its DynamoDB takes no lock: concurrent
``UpdateItem`` calls on one item lost increments (3,000 guarded ``ADD members :i, n :one``
from 16 threads ended with 3,000 members and n = 2,524), which once left a 10,000-item map's
completion bucket one member short forever. The local stack's moto server
(sedo/entrypoints/local/motoserver.py) serialises DynamoDB's writes."""

from __future__ import annotations

import threading
import uuid

import boto3
import pytest

pytestmark = pytest.mark.integration

UPDATES = 1600
THREADS = 16


def test_concurrent_guarded_updates_of_one_item_all_count(moto_endpoint: str) -> None:
    def dynamodb() -> object:
        return boto3.client("dynamodb", endpoint_url=moto_endpoint, region_name="us-east-1")

    admin = dynamodb()
    table = f"atomicity-{uuid.uuid4().hex[:8]}"
    admin.create_table(  # type: ignore[attr-defined]
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    refused: list[int] = []

    def add(first: int) -> None:
        client = dynamodb()
        for i in range(first, UPDATES, THREADS):
            try:
                client.update_item(  # type: ignore[attr-defined]
                    TableName=table,
                    Key={"pk": {"S": "bucket"}},
                    UpdateExpression="ADD members :member, n :one",
                    ConditionExpression="NOT contains(members, :i)",
                    ExpressionAttributeValues={":member": {"NS": [str(i)]}, ":i": {"N": str(i)}, ":one": {"N": "1"}},
                )
            except client.exceptions.ConditionalCheckFailedException:  # type: ignore[attr-defined]
                refused.append(i)

    threads = [threading.Thread(target=add, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    item = admin.get_item(TableName=table, Key={"pk": {"S": "bucket"}}, ConsistentRead=True)["Item"]  # type: ignore[attr-defined]
    admin.delete_table(TableName=table)  # type: ignore[attr-defined]
    assert refused == []  # each index once: none may be refused
    assert len(item["members"]["NS"]) == UPDATES
    assert int(item["n"]["N"]) == UPDATES  # no increment lost to an interleaved write
