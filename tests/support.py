"""Test helpers shared by the integration and end-to-end suites."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

from sedo import bootstrap
from sedo.adapters.aws import client
from sedo.adapters.clock import FakeClock
from sedo.config import Settings
from sedo.entrypoints.local.esm import EventSourceMapping, LambdaContext, to_lambda_event
from sedo.entrypoints.local.serve import serve_api as serve_local_api
from sedo.entrypoints.processor import make_handler
from sedo.service_layer.processing import WakeUpProcessor


@contextmanager
def serve_api(settings: Settings, clock: Any = None, adapters: Any = None) -> Iterator[str]:
    """The API in-process (sedo.entrypoints.local.serve), verifying tokens from the test key."""
    with serve_local_api(with_test_auth(settings), clock, adapters) as base_url:
        yield base_url


def queue_depth(sqs: Any, queue_url: str) -> int:
    """Messages in the queue: visible, in flight and delayed."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]
    return sum(int(v) for v in attributes.values())


@dataclass
class Harness:
    """Drives the real processor handler against the emulator's real queue.

    It plays Lambda's event source mapping by hand so tests can duplicate, re-order,
    drop acks and crash at chosen points, with a fake clock for timers.
    """

    settings: Settings
    clock: FakeClock = field(default_factory=FakeClock)
    queue_delay_cap: int = 0

    def __post_init__(self) -> None:
        settings = replace(self.settings, max_delay_seconds=self.queue_delay_cap)
        self.adapters = bootstrap.aws_adapters(settings, self.clock)
        self.services = bootstrap.api_services(self.adapters, settings)
        self.processor = bootstrap.processor(self.adapters, settings)
        self.handler = make_handler(self.processor, _quiet_logger(), settings.max_receive_count)
        self.sqs = client("sqs", settings)
        self.queue_url = settings.queue_url
        self.esm = EventSourceMapping(
            self.sqs, self.queue_url, self.handler, settings.region, workers=1, wait_seconds=0
        )

    def deliver_only(self, kind: str) -> None:
        """Deliver the first queued message of one kind now; leave the rest (timers) in flight."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for message in self.receive():
                if json.loads(message["Body"])["kind"] == kind:
                    self.invoke([message])
                    self.ack([message])
                    return
        raise AssertionError(f"no {kind} message arrived")

    def sweep(self) -> Any:
        """One run of the sweeper (as the scheduled Lambda would), on the harness's clock."""
        return bootstrap.sweeper(self.adapters, self.settings).sweep()

    # -- raw queue access --------------------------------------------------------------

    def receive(self, max_messages: int = 10, wait: int = 0) -> list[dict[str, Any]]:
        return list(
            self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=max_messages,
                WaitTimeSeconds=wait,
                MessageSystemAttributeNames=["All"],
            ).get("Messages", [])
        )

    def ack(self, messages: list[dict[str, Any]]) -> None:
        for start in range(0, len(messages), 10):
            chunk = messages[start : start + 10]
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )

    def invoke(self, messages: list[dict[str, Any]], time_out_after: int | None = None) -> dict[str, Any]:
        """Call the Lambda handler with these messages, as Lambda would: within the function
        timeout (sedo/entrypoints/local/deadline.py). A timed-out invocation failed whole,
        so every message is reported failed (nothing is acknowledged; they come back).

        ``time_out_after=k``: the function hits its timeout once it has processed ``k``
        records: Lambda stops it, nothing is reported back, and :class:`FunctionTimedOut`
        is raised here (the caller acks nothing, as the event source mapping would).
        """
        event = to_lambda_event(messages, self.esm.queue_arn, self.settings.region)
        if time_out_after is not None:
            context = LambdaContext(aws_request_id="test", started=time.monotonic())
            stopping = _TimingOut(self.processor, time_out_after)
            handler = make_handler(cast(WakeUpProcessor, stopping), _quiet_logger(), self.settings.max_receive_count)
            return handler(event, context)
        finished, result, error = self.esm.invoke(event)
        if error is not None:
            raise error
        if not finished:
            return {"batchItemFailures": [{"itemIdentifier": m["MessageId"]} for m in messages]}
        return result or {}

    def dlq_url(self) -> str:
        """The execution queue's dead-letter queue (its redrive policy's target)."""
        policy = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["RedrivePolicy"])
        arn = json.loads(policy["Attributes"]["RedrivePolicy"])["deadLetterTargetArn"]
        return str(self.sqs.get_queue_url(QueueName=arn.rsplit(":", 1)[-1])["QueueUrl"])

    def redrive(self) -> list[dict[str, Any]]:
        """Move every message of the DLQ back to the execution queue, as ``aws sqs
        start-message-move-task`` does (moto has no move task): each is received, sent again
        with its body (a new message: its receive count starts at 1) and deleted from the DLQ.
        Returns the bodies moved."""
        dlq, moved = self.dlq_url(), []
        while messages := self.sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10).get("Messages", []):
            for message in messages:
                self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=message["Body"])
                self.sqs.delete_message(QueueUrl=dlq, ReceiptHandle=message["ReceiptHandle"])
                moved.append(json.loads(message["Body"]))
        return moved

    def bodies(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [json.loads(m["Body"]) for m in messages]

    def depth(self) -> int:
        return queue_depth(self.sqs, self.queue_url)

    def poll(self) -> list[dict[str, Any]] | None:
        """The next batch: ``[]`` while messages are in flight or delayed, None once the queue
        is empty. SQS's counts are approximate: a message that becomes visible while they are
        taken can be in none of them (moto takes each count at its own moment, so a message
        whose visibility timeout ends in between is neither visible nor in flight), so an
        empty count is confirmed by one more receive, which such a message cannot escape."""
        messages = self.receive()
        if messages or self.depth():
            return messages
        return self.receive() or None

    # -- running -----------------------------------------------------------------------

    def drain(
        self,
        deliver: Callable[[Harness, list[dict[str, Any]]], None] | None = None,
        max_rounds: int = 10_000,
        advance_clock: bool = True,
        stop_after: int | None = None,
    ) -> int:
        """Deliver messages until the queue is empty; timers move the fake clock to their due time.

        ``deliver`` replaces the normal invoke-then-ack, for fault injection;
        ``stop_after`` stops (without error) after that many deliveries.
        """
        rounds = 0
        while rounds < max_rounds:
            if stop_after is not None and rounds >= stop_after:
                return rounds
            messages = self.poll()
            if messages is None:
                return rounds
            if not messages:
                time.sleep(0.05)
                continue
            rounds += 1
            if advance_clock:
                dues = [b["due"] for b in self.bodies(messages) if b.get("due")]
                if dues:
                    from sedo.domain.timefmt import parse_ts

                    latest = min(parse_ts(d) for d in dues)
                    if latest > self.clock.now():
                        self.clock.moment = latest
            if deliver is None:
                result = self.invoke(messages)
                failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
                self.ack([m for m in messages if m["MessageId"] not in failed])
            else:
                deliver(self, messages)
        raise AssertionError(f"queue did not drain in {max_rounds} rounds")


class FunctionTimedOut(BaseException):
    """The processor function ran out of time mid-batch (a BaseException: no record
    handler may catch it, just as none survives Lambda stopping the function)."""


class _TimingOut:
    """The processor, stopped by its function timeout after ``records`` wake-ups."""

    def __init__(self, processor: WakeUpProcessor, records: int) -> None:
        self.processor = processor
        self.left = records

    def new_batch(self, seconds_left: float | None = None) -> None:
        self.processor.new_batch(seconds_left)

    def end_batch(self) -> int:
        return self.processor.end_batch()

    def process(self, body: Any, receive_count: int = 2, message_id: str | None = None) -> str:
        if self.left <= 0:
            raise FunctionTimedOut(f"the function timed out; {self.left} records left unprocessed")
        self.left -= 1
        return self.processor.process(body, receive_count, message_id)


def _quiet_logger() -> Any:
    import logging

    logger = logging.getLogger("sedo.test.processor")
    logger.setLevel(logging.WARNING)
    return logger


def events_of(harness: Harness, tenant: str, execution_id: str) -> list[dict[str, Any]]:
    page = harness.services.executions.history(tenant, execution_id, 10_000, None)
    return list(page.items)


def api_client(base_url: str, tenant: str | None = "123", role: str = "author", **kwargs: Any) -> Any:
    """An httpx client for the API, as curl would talk to it.

    Every HTTP test gets its client here, so authentication (when configured) is
    added in one place: the client carries a token for ``tenant`` with ``role``
    (``tenant=None``: no Authorization header at all).
    """
    import httpx

    headers = dict(kwargs.pop("headers", {}) or {})
    if tenant is not None:
        headers.update(auth_headers(tenant, role))
    return httpx.Client(base_url=base_url, headers=headers, timeout=30, **kwargs)


def auth_headers(tenant: str, role: str = "author") -> dict[str, str]:
    """``Authorization: Bearer <token>`` granting ``role`` for ``tenant``, signed with the test key."""
    return {"Authorization": f"Bearer {mint(tenant, role)}"}


# --- authentication ---------------------------------------------------------------------
#
# One EC key per test process signs every token. In-process servers (serve_api) verify
# with its public key; `sedo local` started as a subprocess finds the same key through
# SEDO_JWT_SIGNING_KEY_FILE, exported here when this module is imported (before any
# fixture starts a subprocess), so api_client works against it too.


def _create_test_key() -> Path:
    import atexit
    import shutil
    import tempfile

    from sedo.auth.local import ensure_signing_key

    directory = Path(tempfile.mkdtemp(prefix="sedo-test-key-"))
    atexit.register(shutil.rmtree, directory, True)
    path = directory / "jwt-signing-key.pem"
    ensure_signing_key(path)
    return path


TEST_SIGNING_KEY_FILE = _create_test_key()
os.environ["SEDO_JWT_SIGNING_KEY_FILE"] = str(TEST_SIGNING_KEY_FILE)


def signing_key() -> bytes:
    return TEST_SIGNING_KEY_FILE.read_bytes()


def with_test_auth(settings: Settings) -> Settings:
    """``settings`` verifying tokens from the test key, unless they already name a verifier."""
    if settings.jwt_issuer and settings.jwt_audience:
        return settings
    from sedo.auth.local import LOCAL_AUDIENCE, LOCAL_ISSUER, public_key_pem

    return replace(
        settings,
        jwt_issuer=LOCAL_ISSUER,
        jwt_audience=LOCAL_AUDIENCE,
        jwt_public_key=public_key_pem(signing_key()),
        jwt_jwks_url=None,
    )


def mint(tenant: str | dict[str, str] | None, role: str = "author", ttl: int = 3600, **options: Any) -> str:
    """A token signed with the test key. ``tenant`` may be a {tenant: role} map; ``options``
    go to :func:`sedo.auth.local.mint_token` (issuer, audience, now, extra, ...)."""
    from sedo.auth.local import mint_token

    grants = {} if tenant is None else (dict(tenant) if isinstance(tenant, dict) else {tenant: role})
    key = options.pop("key", None) or signing_key()
    return mint_token(key, grants, ttl, **options)
