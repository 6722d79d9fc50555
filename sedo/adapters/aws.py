"""boto3 clients, made once per process and reused across invocations."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from sedo.config import Settings

_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 5},
    connect_timeout=3,
    read_timeout=10,
    tcp_keepalive=True,
    max_pool_connections=50,
)


_sessions: dict[str, boto3.session.Session] = {}
_lock = threading.Lock()  # sessions are not safe to share across threads while making clients

#: Called with (service name, client) for every client made here. Empty on AWS; the local
#: stack registers its emulation of AWS's limits (sedo/entrypoints/local/limits.py) here.
ClientHook = Callable[[str, Any], None]
_hooks: list[ClientHook] = []


def add_client_hook(hook: ClientHook) -> Callable[[], None]:
    """Run ``hook`` on every client made from now on; returns a function that removes it."""
    with _lock:
        _hooks.append(hook)

    def remove() -> None:
        with _lock:
            if hook in _hooks:
                _hooks.remove(hook)

    return remove


def client(service: str, settings: Settings, read_timeout: int | None = None) -> Any:
    """A client from one shared session per region (a session per client cost ~45 ms of cold start)."""
    config = _CONFIG if read_timeout is None else _CONFIG.merge(Config(read_timeout=read_timeout))
    with _lock:
        session = _sessions.get(settings.region)
        if session is None:
            session = _sessions[settings.region] = boto3.session.Session(region_name=settings.region)
        made = session.client(service, endpoint_url=settings.endpoint_url, config=config)  # type: ignore[call-overload]
        for hook in _hooks:
            hook(service, made)
        return made


#: Error codes AWS answers when a request was throttled (DynamoDB, SQS, Lambda, STS...).
THROTTLING_CODES = frozenset(
    {
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "Throttling",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
    }
)


def throttled(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is AWS saying "slow down"."""
    while exc is not None:
        if isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") in THROTTLING_CODES:
            return True
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return False


def transient(exc: BaseException) -> bool:
    """Whether ``exc`` is AWS failing for now (throttled after botocore's retries, a 5xx
    answer, a connection or read timeout): the caller may retry the same request."""
    if throttled(exc):
        return True
    while exc is not None:
        if isinstance(exc, BotoCoreError):
            return True
        if (
            isinstance(exc, ClientError)
            and int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)) >= 500
        ):
            return True
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return False
