"""The API's Lambda entrypoint: API Gateway proxy events -> the Connexion app of ``make run``.

Mangum turns API Gateway proxy events (REST API payload 1.0, HTTP API payload 1.0 and
2.0) into ASGI requests for the same app ``create_app`` builds for the local stack.
Two things are fixed on the way:

- **Content-Length.** API Gateway does not forward one (HTTP API payload 2.0 never
  has it), and without it the WSGI layer under Connexion reads an empty body. The
  header is set from the body itself.
- **Text responses.** Mangum base64-encodes every body whose type it does not know as
  text; problem+json (every error), YAML and any ``+json`` type are text here.

The app is built once per container: during Lambda's init phase when running in
Lambda (``AWS_LAMBDA_INITIALIZATION_TYPE`` is set there), otherwise on first use.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from mangum import Mangum
from mangum.adapter import DEFAULT_TEXT_MIME_TYPES

from sedo.config import Settings

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]

TEXT_MIME_TYPES = [
    *DEFAULT_TEXT_MIME_TYPES,
    "application/problem+json",
    "+json",
    "application/yaml",
    "application/x-yaml",
]


def body_length(event: dict[str, Any]) -> int:
    """Bytes of the request body the event carries (decoded when base64)."""
    body = event.get("body")
    if not body:
        return 0
    if event.get("isBase64Encoded"):
        try:
            return len(base64.b64decode(body, validate=False))
        except (binascii.Error, ValueError):
            return len(body.encode())
    return len(body.encode("utf-8", "surrogateescape")) if isinstance(body, str) else len(body)


def with_content_length(event: dict[str, Any]) -> dict[str, Any]:
    """The event with a Content-Length header computed from its body, unless it has one."""
    if not isinstance(event, dict) or "requestContext" not in event:
        return event
    headers = dict(event.get("headers") or {})
    if any(name.lower() == "content-length" for name in (*headers, *(event.get("multiValueHeaders") or {}))):
        return event
    length = str(body_length(event))
    fixed = {**event, "headers": {**headers, "content-length": length}}
    if event.get("multiValueHeaders"):  # payload 1.0: Mangum prefers these over ``headers``
        fixed["multiValueHeaders"] = {**event["multiValueHeaders"], "content-length": [length]}
    return fixed


def make_handler(app: Any) -> Handler:
    """A Lambda handler serving ``app`` (any ASGI app) to API Gateway proxy events."""
    adapter = Mangum(app, lifespan="off", text_mime_types=TEXT_MIME_TYPES, api_gateway_base_path="/")

    def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return dict(adapter(with_content_length(event), context))

    return handle


_handler: Handler | None = None


@contextmanager
def _libyaml() -> Iterator[None]:
    """Connexion parses openapi/sedo.yaml with ``yaml.safe_load``, PyYAML's pure-Python parser;
    LibYAML's parser (in PyYAML's wheels) builds the same document several times faster. Only
    while the app is built: requests keep the parser the local stack uses."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", None)
    if loader is None:
        yield
        return
    pure = yaml.safe_load

    def safe_load(stream: Any) -> Any:
        return yaml.load(stream, Loader=loader)  # noqa: S506 - LibYAML's SafeLoader

    yaml.safe_load = safe_load
    try:
        yield
    finally:
        yaml.safe_load = pure


def _build() -> Handler:
    from sedo.entrypoints.api import app_from_settings
    from sedo.entrypoints.metrics import traced  # Powertools Tracer when Tracing=Active

    with _libyaml():
        app = app_from_settings(Settings.from_env())
    return traced(make_handler(app))


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The Lambda entrypoint (template.yaml: ApiFunction)."""
    global _handler
    if _handler is None:
        _handler = _build()
    return _handler(event, context)


if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE"):  # in Lambda: build during init, not on the first request
    _handler = _build()
