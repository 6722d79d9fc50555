"""A local stand-in for Lambda's SQS event source mapping.

Workers long-poll the queue, hand the SAME Lambda handler a Lambda-shaped SQS event,
and delete only the messages the handler did not report in ``batchItemFailures``;
failed messages come back after the visibility timeout, and SQS's redrive policy
moves them to the DLQ after maxReceiveCount receives, as on AWS.

Each invocation has the processor's function timeout (template.yaml's
ProcessorTimeoutSeconds; ``SEDO_LOCAL_FUNCTION_TIMEOUT`` overrides it, 0 switches it off;
see sedo/entrypoints/local/deadline.py). An invocation that outlives it counts as failed
whole, as Lambda reports a timed-out invocation: nothing of its batch is deleted, and
its AWS calls after the deadline fail without reaching AWS.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sedo.entrypoints.local.deadline import function_timeout as configured_timeout
from sedo.entrypoints.local.deadline import run_with_deadline, template_timeout

log = logging.getLogger("sedo.local.esm")

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


@dataclass
class LambdaContext:
    function_name: str = "sedo-processor"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:sedo-processor"
    aws_request_id: str = ""
    timeout_ms: int = 30_000
    started: float = 0.0

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(self.timeout_ms - (time.monotonic() - self.started) * 1000))


def to_lambda_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": m.get("MessageAttributes", {}),
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for m in messages
        ]
    }


class EventSourceMapping:
    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        handler: LambdaHandler,
        region: str = "us-east-1",
        workers: int = 2,
        batch_size: int = 10,
        wait_seconds: int = 1,
        duplicate_delivery: bool = False,
        function_timeout: float | None = None,
        idle_pause: float = 0.0,
    ) -> None:
        """``function_timeout``: seconds each invocation may run (0: unlimited; None: the
        template's, or ``SEDO_LOCAL_FUNCTION_TIMEOUT``). ``idle_pause``: with ``wait_seconds``
        0 (short polls), the pause after an empty receive."""
        self.idle_pause = idle_pause
        #: Fault injection: hand every batch to the handler twice, as an SQS duplicate would.
        self.duplicate_delivery = duplicate_delivery
        self.sqs = sqs
        self.queue_url = queue_url
        self.handler = handler
        self.region = region
        self.workers = workers
        self.batch_size = batch_size
        self.wait_seconds = wait_seconds
        self.queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.function_timeout = configured_timeout() if function_timeout is None else function_timeout
        #: What the handler's context reports: the enforced timeout, or the template's when off.
        self.context_timeout = self.function_timeout or template_timeout()
        self.invocations = 0
        self.errors = 0
        self.timeouts = 0

    def invoke(self, event: dict[str, Any]) -> tuple[bool, dict[str, Any] | None, BaseException | None]:
        """Call the handler with one event as Lambda would, within the function timeout.

        Returns (finished in time, its response, the exception it raised)."""
        context = LambdaContext(
            aws_request_id=str(uuid.uuid4()), timeout_ms=int(self.context_timeout * 1000), started=time.monotonic()
        )
        self.invocations += 1

        def call() -> dict[str, Any]:
            result = self.handler(event, context)
            if self.duplicate_delivery:
                again = self.handler(event, context)
                failures = {f["itemIdentifier"] for f in (again or {}).get("batchItemFailures", [])}
                result = {
                    "batchItemFailures": [
                        *result.get("batchItemFailures", []),
                        *({"itemIdentifier": i} for i in failures),
                    ]
                }
            return result

        finished, result, error = run_with_deadline(call, self.function_timeout)
        log.debug("%s ran %.2f s", context.aws_request_id, time.monotonic() - context.started)
        if not finished:
            self.errors += 1
            self.timeouts += 1
            # Lambda's own words; the whole invocation failed, so the ESM deletes nothing.
            log.error("%s Task timed out after %.2f seconds", context.aws_request_id, self.function_timeout)
        elif error is not None:
            self.errors += 1
        return finished, result, error

    def poll_once(self) -> int:
        """One receive -> invoke -> delete cycle; returns the number of messages received."""
        response = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=self.wait_seconds,
            MessageSystemAttributeNames=["All"],
        )
        messages = response.get("Messages", [])
        if not messages:
            return 0
        event = to_lambda_event(messages, self.queue_arn, self.region)
        finished, result, error = self.invoke(event)
        if not finished:
            return len(messages)
        if error is not None:
            # A failed invocation: Lambda deletes nothing; every message comes back.
            log.error("processor invocation failed; the batch will be retried", exc_info=error)
            return len(messages)
        failed = {f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done[start : start + 10])
                ],
            )
        return len(messages)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self.poll_once() == 0 and self.idle_pause:
                    self._stop.wait(self.idle_pause)
            except Exception:
                if self._stop.is_set():
                    return
                log.exception("polling the queue failed; retrying")
                self._stop.wait(1.0)

    def start(self) -> EventSourceMapping:
        for index in range(self.workers):
            thread = threading.Thread(target=self._run, name=f"sedo-esm-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()
