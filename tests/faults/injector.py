"""Faults at named points, injected with botocore event hooks on the adapters' own clients.

Nothing in sedo is replaced: the processor talks to the same boto3 clients as in
production, and the hooks make those clients fail the way AWS and Lambda do:

``crash-after-commit``
    The conditional commit of a transition succeeds, then the worker dies (the
    call raises after DynamoDB wrote the head): no history, no send, no ack.
``crash-after-send``
    The outbox was sent, then the worker dies before the ack.
``ddb-throttle``
    DynamoDB answers HTTP 400 ThrottlingException /
    ProvisionedThroughputExceededException on a first attempt (``before-send``
    returns the response; nothing reaches the emulator); botocore's standard
    retry mode retries it.
``ddb-throttle-exhausted``
    A ThrottlingException that outlived botocore's retries reaches sedo
    (raised from ``before-call``): the record fails and SQS redelivers it.
``ddb-lost-response``
    A conditional write of an execution head (a transition's commit, or the create
    of a new execution) reaches DynamoDB and is applied, but its response never
    comes back (botocore's read timeout): botocore's standard retry mode sends it
    again, and the retry meets its own write (``ConditionalCheckFailed``).
``sqs-failed-entries``
    SendMessageBatch reports some entries in ``Failed`` and does not send them.
``sqs-send-error``
    SendMessageBatch raises a connection error (nothing sent).

Each point fires for a seeded-random fraction of the calls it applies to, at most
once per identity (the transition, the message) so that redelivery, not the DLQ,
must repair the damage; ``counts`` says how often each one fired.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from botocore.httpsession import URLLib3Session


class Point(StrEnum):
    """The named points a fault fires at (the module's docstring says what each does)."""

    CRASH_AFTER_COMMIT = "crash-after-commit"
    CRASH_AFTER_SEND = "crash-after-send"
    DDB_THROTTLE = "ddb-throttle"
    DDB_THROTTLE_EXHAUSTED = "ddb-throttle-exhausted"
    DDB_LOST_RESPONSE = "ddb-lost-response"
    SQS_FAILED_ENTRIES = "sqs-failed-entries"
    SQS_SEND_ERROR = "sqs-send-error"


#: The conditions of a transition's commit and of a new execution's create
#: (sedo.adapters.dynamodb.DynamoExecutionStore.commit and .create).
COMMIT_CONDITION = "seq = :expected"
CREATE_CONDITION = "attribute_not_exists(pk)"


class InjectedCrash(RuntimeError):
    """The worker 'died' here: the call's effect happened, its caller never learns."""


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Any:
        yield self.data


def _throttled(url: str, code: str) -> AWSResponse:
    body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": "injected throttle"})
    headers = HTTPHeaders()
    headers["Content-Type"] = "application/x-amz-json-1.0"
    headers["x-amzn-RequestId"] = "injected"
    return AWSResponse(url, 400, headers, _Body(body.encode()))


def _first_attempt(request: Any) -> bool:
    header = request.headers.get("amz-sdk-request", b"attempt=1")
    text = header.decode() if isinstance(header, bytes) else str(header)
    return "attempt=1" in text.replace(" ", "").split(";")


@dataclass
class FaultPlan:
    """A rate (0..1) per point; a point the plan does not name never fires."""

    rates: Mapping[Point, float] = field(default_factory=dict)

    def rate(self, point: Point) -> float:
        return self.rates.get(point, 0.0)


class FaultInjector:
    def __init__(self, plan: FaultPlan, seed: int = 0) -> None:
        self.plan = plan
        self.rng = random.Random(seed)
        self.active = False
        self.counts: Counter[str] = Counter()
        #: Calls botocore retried (RetryAttempts > 0 in the response metadata).
        self.retried = 0
        #: Successful commits per execution key (a fork would show as more commits than transitions).
        self.commits: Counter[str] = Counter()
        self._fired: set[tuple[Point, str]] = set()
        self._lock = threading.Lock()
        self._http: URLLib3Session | None = None

    # -- wiring ---------------------------------------------------------------------

    def install(self, dynamodb: Any, sqs: Any) -> FaultInjector:
        ddb_events = dynamodb.meta.events
        ddb_events.register("provide-client-params.dynamodb.PutItem", self._note_commit)
        ddb_events.register("before-call.dynamodb.*", self._ddb_before_call)
        ddb_events.register("before-send.dynamodb.*", self._ddb_before_send)
        ddb_events.register("after-call.dynamodb.*", self._ddb_after_call)
        sqs_events = sqs.meta.events
        sqs_events.register("provide-client-params.sqs.SendMessageBatch", self._pick_failed_entries)
        sqs_events.register("before-call.sqs.SendMessageBatch", self._sqs_before_call)
        sqs_events.register("after-call.sqs.SendMessageBatch", self._sqs_after_call)
        return self

    def install_on(self, harness: Any) -> FaultInjector:
        """:meth:`install` on a ``tests.support.Harness``'s own DynamoDB and SQS clients."""
        return self.install(harness.adapters.executions.client, harness.adapters.queue.client)

    def _fire(self, point: Point, identity: str | None = None) -> bool:
        """Whether ``point`` fires now (seeded, at most once per identity)."""
        rate = self.plan.rate(point)
        if not self.active or rate <= 0:
            return False
        with self._lock:
            if identity is not None and (point, identity) in self._fired:
                return False
            if self.rng.random() >= rate:
                return False
            if identity is not None:
                self._fired.add((point, identity))
            self.counts[point] += 1
            return True

    # -- DynamoDB -------------------------------------------------------------------

    @staticmethod
    def item_key(item: dict[str, Any]) -> str:
        """An execution head's identity in ``commits``: its table key (children's sort keys
        repeat across parents, their partition keys do not)."""
        return f"{item['pk']['S']}/{item['sk']['S']}"

    def _note_commit(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if params.get("ConditionExpression") == COMMIT_CONDITION:
            key = self.item_key(params["Item"])
            expected = params.get("ExpressionAttributeValues", {}).get(":expected", {}).get("N", "?")
            context["sedo_commit"] = (key, expected, 1)
        elif (created := self._created_seq(params)) is not None:
            # A head created after transitions of its own (an inline iteration that became a
            # child, docs/DESIGN.md *Inline iterations*): its create commits them, once.
            context["sedo_commit"] = (self.item_key(params["Item"]), "create", created)

    @staticmethod
    def _created_seq(params: dict[str, Any]) -> int | None:
        """The ``seq`` of a head a conditional create writes, when it is past 0."""
        item = params.get("Item", {})
        if params.get("ConditionExpression") != CREATE_CONDITION or "doc" not in item or "seq" not in item:
            return None
        seq = int(item["seq"]["N"])
        return seq if seq > 0 else None

    def _ddb_before_call(self, model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        # Once per commit (key, expected seq), else once per distinct request: a redelivery
        # repeats the same reads and writes, so each can fail it once, never every time.
        if "sedo_commit" in context:
            identity = f"{model.name}:{context['sedo_commit']}"
        else:
            body = params.get("body") or b""
            identity = (
                f"{model.name}:{hashlib.sha256(body if isinstance(body, bytes) else str(body).encode()).hexdigest()}"
            )
        if self._fire(Point.DDB_THROTTLE_EXHAUSTED, identity):
            error: Any = {
                "Error": {"Code": "ThrottlingException", "Message": "injected: retries exhausted"},
                "ResponseMetadata": {"HTTPStatusCode": 400, "RetryAttempts": 4},
            }
            raise ClientError(error, model.name)

    def _ddb_before_send(self, request: Any, **_: Any) -> AWSResponse | None:
        if not _first_attempt(request):
            return None
        if self._fire(Point.DDB_THROTTLE):
            code = self.rng.choice(["ThrottlingException", "ProvisionedThroughputExceededException"])
            return _throttled(request.url, code)
        head_write = self._head_write(request)
        if head_write is not None and self._fire(Point.DDB_LOST_RESPONSE, head_write):
            # The write reaches DynamoDB and is applied; its answer is lost on the way back.
            if self._http is None:
                self._http = URLLib3Session()
            response = self._http.send(request)
            if response.status_code < 300 and head_write.startswith("commit:"):
                with self._lock:
                    self.commits[head_write.split(":", 2)[1]] += 1
            elif response.status_code < 300 and (created := self._created_seq(json.loads(request.body))):
                with self._lock:
                    self.commits[head_write.split(":", 2)[1]] += created
            raise ReadTimeoutError(endpoint_url=request.url, error="injected: the response was lost")
        return None

    @classmethod
    def _head_write(cls, request: Any) -> str | None:
        """``commit:<key>:<expected seq>`` or ``create:<key>`` for a conditional write of a head."""
        target = request.headers.get("X-Amz-Target", b"")
        if (target.decode() if isinstance(target, bytes) else str(target)) != "DynamoDB_20120810.PutItem":
            return None
        params = json.loads(request.body)
        condition = params.get("ConditionExpression")
        if condition == COMMIT_CONDITION:
            expected = params.get("ExpressionAttributeValues", {}).get(":expected", {}).get("N", "?")
            return f"commit:{cls.item_key(params['Item'])}:{expected}"
        if condition == CREATE_CONDITION and "doc" in params.get("Item", {}):
            return f"create:{cls.item_key(params['Item'])}"
        return None

    def _ddb_after_call(self, http_response: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if parsed.get("ResponseMetadata", {}).get("RetryAttempts", 0) > 0:
            with self._lock:
                self.retried += 1
        commit = context.get("sedo_commit")
        if commit is None or http_response.status_code >= 300:
            return
        with self._lock:
            self.commits[commit[0]] += commit[2]
        if self._fire(Point.CRASH_AFTER_COMMIT, f"{commit[0]}@{commit[1]}"):
            raise InjectedCrash("injected: crash after the commit, before history, send and ack")

    # -- SQS ------------------------------------------------------------------------

    @staticmethod
    def _identity(entries: list[dict[str, Any]]) -> str:
        return entries[0]["MessageBody"] if entries else ""

    def _pick_failed_entries(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        entries = list(params.get("Entries") or [])
        context["sedo_identity"] = self._identity(entries)
        if not entries or not self._fire(Point.SQS_FAILED_ENTRIES, context["sedo_identity"]):
            return
        failed = [e for e in entries if self.rng.random() < 0.5] or entries[-1:]
        failures = [
            {"Id": e["Id"], "SenderFault": False, "Code": "InternalError", "Message": "injected"} for e in failed
        ]
        if len(failed) == len(entries):
            context["sedo_all_failed"] = failures  # answered in before-call, nothing sent
        else:
            params["Entries"] = [e for e in entries if e not in failed]
            context["sedo_failed"] = failures

    def _sqs_before_call(self, model: Any, context: dict[str, Any], **_: Any) -> Any:
        if "sedo_all_failed" in context:
            response = AWSResponse("injected", 200, HTTPHeaders(), _Body(b"{}"))
            return response, {"Successful": [], "Failed": context["sedo_all_failed"], "ResponseMetadata": {}}
        if self._fire(Point.SQS_SEND_ERROR, context.get("sedo_identity")):
            raise EndpointConnectionError(endpoint_url="injected://sqs")
        return None

    def _sqs_after_call(self, http_response: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if http_response.status_code >= 300 or "sedo_all_failed" in context:
            return
        if "sedo_failed" in context:
            parsed.setdefault("Failed", []).extend(context["sedo_failed"])
            return
        if self._fire(Point.CRASH_AFTER_SEND, context.get("sedo_identity")):
            raise InjectedCrash("injected: crash after the send, before the ack")
