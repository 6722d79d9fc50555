"""The local stack's moto server answers SQS as moto does, without counting every message of a
queue where one setting is needed (sedo/entrypoints/local/motoserver.py, ``install_sqs``):
the counts, the settings, a FIFO queue's deduplication, receives and retention are as before."""

from __future__ import annotations

import time
import uuid
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.integration

COUNTS = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"]


def _sqs(endpoint: str) -> Any:
    return boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1")


def _send(sqs: Any, url: str, count: int, **extra: Any) -> None:
    for first in range(0, count, 10):
        entries = [{"Id": str(i), "MessageBody": f"m{first + i}", **extra} for i in range(min(10, count - first))]
        assert not sqs.send_message_batch(QueueUrl=url, Entries=entries).get("Failed")


def test_counts_settings_and_receives_are_moto_s(moto_endpoint: str) -> None:
    sqs = _sqs(moto_endpoint)
    url = sqs.create_queue(
        QueueName=f"q-{uuid.uuid4().hex[:8]}", Attributes={"VisibilityTimeout": "60", "MessageRetentionPeriod": "600"}
    )["QueueUrl"]
    _send(sqs, url, 300)
    _send(sqs, url, 40, DelaySeconds=60)
    received: list[str] = []
    while len(received) < 25:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60).get("Messages", [])
        received += [m["Body"] for m in batch]
    assert len(set(received)) == len(received)

    named = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=COUNTS)["Attributes"]
    assert named == {
        "ApproximateNumberOfMessages": str(300 - len(received)),
        "ApproximateNumberOfMessagesNotVisible": str(len(received)),
        "ApproximateNumberOfMessagesDelayed": "40",
    }
    every = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert {k: every[k] for k in COUNTS} == named
    assert every["VisibilityTimeout"] == "60" and every["MessageRetentionPeriod"] == "600"
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["MessageRetentionPeriod"])["Attributes"] == {
        "MessageRetentionPeriod": "600"
    }
    with pytest.raises(ClientError, match="InvalidAttributeName"):
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["NoSuchAttribute"])


def test_a_message_past_its_retention_is_never_received(moto_endpoint: str) -> None:
    sqs = _sqs(moto_endpoint)
    url = sqs.create_queue(QueueName=f"r-{uuid.uuid4().hex[:8]}", Attributes={"MessageRetentionPeriod": "60"})[
        "QueueUrl"
    ]
    sqs.send_message(QueueUrl=url, MessageBody="kept")
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)["Messages"]] == ["kept"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"MessageRetentionPeriod": "1"})  # now past it
    time.sleep(1.2)
    assert sqs.receive_message(QueueUrl=url).get("Messages", []) == []


def test_a_fifo_queue_still_deduplicates_by_content(moto_endpoint: str) -> None:
    sqs = _sqs(moto_endpoint)
    name = f"f-{uuid.uuid4().hex[:8]}.fifo"
    url = sqs.create_queue(QueueName=name, Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"})[
        "QueueUrl"
    ]
    for _ in range(3):
        sqs.send_message(QueueUrl=url, MessageBody="same", MessageGroupId="g")
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    assert counts == {"ApproximateNumberOfMessages": "1"}
    plain = sqs.create_queue(QueueName=f"p-{uuid.uuid4().hex[:8]}.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    with pytest.raises(ClientError, match="MessageDeduplicationId"):
        sqs.send_message(QueueUrl=plain, MessageBody="x", MessageGroupId="g")
