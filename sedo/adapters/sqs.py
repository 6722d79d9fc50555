"""The execution queue: batched sends, each message with its own timer and its tenant as
``MessageGroupId`` (SQS fair queues keep one tenant's burst from delaying another's timers)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

#: SQS's limit on the bodies of one SendMessageBatch (and on one message).
BATCH_BYTES = 256 * 1024


class QueueSendError(RuntimeError):
    pass


class SqsQueue:
    def __init__(self, client: Any, queue_url: str, max_delay_seconds: int = 900) -> None:
        self.client = client
        self.queue_url = queue_url
        self.max_delay_seconds = max_delay_seconds

    def _entry(self, index: int, body: dict[str, Any]) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "Id": str(index),
            "MessageBody": json.dumps(body, separators=(",", ":")),
            "DelaySeconds": max(0, min(self.max_delay_seconds, int(body.get("delay", 0)))),
        }
        if body.get("tenantId"):
            # SQS fair queues: a tenant's burst of messages does not delay other tenants' wake-ups.
            entry["MessageGroupId"] = str(body["tenantId"])
        return entry

    def send(self, messages: Sequence[dict[str, Any]]) -> None:
        """Ten messages a SendMessageBatch, fewer when their bodies would pass SQS's 256 KiB per call."""
        chunk: list[dict[str, Any]] = []
        size = 0
        for body in messages:
            entry = self._entry(len(chunk), body)
            length = len(entry["MessageBody"].encode())
            if chunk and (len(chunk) == 10 or size + length > BATCH_BYTES):
                self._send(chunk)
                chunk, size = [], 0
                entry["Id"] = "0"
            chunk.append(entry)
            size += length
        if chunk:
            self._send(chunk)

    def _send(self, entries: list[dict[str, Any]]) -> None:
        response = self.client.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
        failed = response.get("Failed") or []
        if failed:
            raise QueueSendError(f"{len(failed)} of {len(entries)} messages were not sent: {failed[0]}")
