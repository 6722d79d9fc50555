"""The processor's Lambda entrypoint (template.yaml: ``processor.handler.handler``).

A shim: the handler itself is :mod:`sedo.entrypoints.processor`; its object graph is
built once per container (cold start) and reused by every invocation.
"""

from __future__ import annotations

from typing import Any

from sedo.entrypoints.processor import Handler, handler_from_env

_handler: Handler | None = None


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global _handler
    if _handler is None:
        _handler = handler_from_env()
    return _handler(event, context)
