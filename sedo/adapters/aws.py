"""boto3 clients, made once per process and reused across invocations."""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config

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


def client(service: str, settings: Settings, read_timeout: int | None = None) -> Any:
    """A client from one shared session per region (a session per client cost ~45 ms of cold start)."""
    config = _CONFIG if read_timeout is None else _CONFIG.merge(Config(read_timeout=read_timeout))
    with _lock:
        session = _sessions.get(settings.region)
        if session is None:
            session = _sessions[settings.region] = boto3.session.Session(region_name=settings.region)
        return session.client(service, endpoint_url=settings.endpoint_url, config=config)  # type: ignore[call-overload]
