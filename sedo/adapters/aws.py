"""boto3 clients, made once per process and reused across invocations."""

from __future__ import annotations

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


def client(service: str, settings: Settings, read_timeout: int | None = None) -> Any:
    session = boto3.session.Session(region_name=settings.region)
    config = _CONFIG if read_timeout is None else _CONFIG.merge(Config(read_timeout=read_timeout))
    return session.client(service, endpoint_url=settings.endpoint_url, config=config)  # type: ignore[call-overload]
