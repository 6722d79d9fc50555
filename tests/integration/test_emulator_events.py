"""The local stack's moto server delivers EventBridge events as moto does while parsing each
JSONPath of a target's input template once (sedo/entrypoints/local/motoserver.py,
``install_events``): a target without an InputTransformer gets the whole event, one with an
InputTransformer its template filled from each event's own values, event after event."""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3
import pytest

pytestmark = pytest.mark.integration


def _client(service: str, endpoint: str) -> Any:
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1")


def _drain(sqs: Any, url: str, count: int) -> list[Any]:
    bodies: list[Any] = []
    for _ in range(20):
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        bodies += [json.loads(m["Body"]) for m in batch]
        if batch:
            sqs.delete_message_batch(
                QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)]
            )
        if len(bodies) >= count:
            break
    return bodies


def test_targets_get_each_event_s_own_values(moto_endpoint: str) -> None:
    events, sqs = _client("events", moto_endpoint), _client("sqs", moto_endpoint)
    name = f"e-{uuid.uuid4().hex[:8]}"
    whole_url = sqs.create_queue(QueueName=f"{name}-whole")["QueueUrl"]
    shaped_url = sqs.create_queue(QueueName=f"{name}-shaped")["QueueUrl"]
    arns = [
        sqs.get_queue_attributes(QueueUrl=u, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        for u in (whole_url, shaped_url)
    ]
    events.put_rule(Name=name, EventPattern=json.dumps({"source": [name]}))
    events.put_targets(
        Rule=name,
        Targets=[
            {"Id": "whole", "Arn": arns[0]},
            {
                "Id": "shaped",
                "Arn": arns[1],
                "InputTransformer": {
                    "InputPathsMap": {"n": "$.detail.n", "kind": "$.detail-type"},
                    "InputTemplate": '{"number": <n>, "kind": "<kind>"}',
                },
            },
        ],
    )
    sent = 12
    for n in range(sent):
        entry = {"Source": name, "DetailType": f"kind-{n % 3}", "Detail": json.dumps({"n": n})}
        assert not events.put_events(Entries=[entry]).get("FailedEntryCount")

    whole = _drain(sqs, whole_url, sent)
    shaped = _drain(sqs, shaped_url, sent)

    assert sorted(b["detail"]["n"] for b in whole) == list(range(sent))
    assert all(b["source"] == name and b["detail-type"] == f"kind-{b['detail']['n'] % 3}" for b in whole)
    assert sorted((b["number"], b["kind"]) for b in shaped) == [(n, f"kind-{n % 3}") for n in range(sent)]
