"""The API's Lambda adapter in-process: Content-Length from the body, text response types."""

from __future__ import annotations

import asyncio
import base64
import threading
from typing import Any

from sedo.entrypoints.api.lambda_handler import TEXT_MIME_TYPES, make_handler, with_content_length
from tests.deploy import apigw


def test_content_length_is_added_from_the_decoded_body() -> None:
    event = apigw.event("2.0", "POST", "/sedo/x", "héllo", {"Content-Type": "text/plain"})
    assert event["isBase64Encoded"] is True
    assert with_content_length(event)["headers"]["content-length"] == str(len("héllo".encode()))
    plain = apigw.event("1.0", "POST", "/sedo/x", "héllo", base64_body=False)
    fixed = with_content_length(plain)
    assert fixed["headers"]["content-length"] == "6"
    assert fixed["multiValueHeaders"]["content-length"] == ["6"]  # Mangum reads these for payload 1.0
    assert "content-length" not in plain["headers"]  # the event itself is left alone


def test_an_existing_content_length_and_an_empty_body_are_respected() -> None:
    event = apigw.event("2.0", "POST", "/sedo/x", "abc", {"Content-Length": "3"})
    assert with_content_length(event) is event
    empty = apigw.event("2.0", "GET", "/sedo/x")
    assert with_content_length(empty)["headers"]["content-length"] == "0"
    assert with_content_length({"not": "api gateway"}) == {"not": "api gateway"}


def test_problem_json_and_yaml_come_back_as_text() -> None:
    for kind in ("application/problem+json", "application/json", "application/yaml", "application/vnd.x+json"):
        assert any(t in kind for t in TEXT_MIME_TYPES), kind


def test_the_adapter_hands_the_body_to_an_asgi_app_with_its_length() -> None:
    seen: dict[str, Any] = {}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        message = await receive()
        seen["body"] = message["body"]
        seen["length"] = dict(scope["headers"]).get(b"content-length")
        await send(
            {"type": "http.response.start", "status": 400, "headers": [(b"content-type", b"application/problem+json")]}
        )
        await send({"type": "http.response.body", "body": b'{"status": 400}'})

    handler = make_handler(app)
    for version in ("1.0", "2.0"):
        response = _as_lambda_runs_it(
            handler, apigw.event(version, "POST", "/sedo/x", '{"a": 1}', {"Content-Type": "application/json"})
        )
        assert seen == {"body": b'{"a": 1}', "length": b"8"}
        assert response["statusCode"] == 400
        assert response["isBase64Encoded"] is False
        assert response["body"] == '{"status": 400}'
    assert base64  # the events above carry base64 bodies, as API Gateway forwards them


def _as_lambda_runs_it(handler: Any, event: dict[str, Any]) -> dict[str, Any]:
    """Call the handler on a thread of its own with a fresh event loop, as Lambda's runtime does.

    Mangum runs the app on the thread's current loop; in a test worker another fixture (the
    browser tests' Playwright session) may already be running one on the main thread.
    """
    result: dict[str, Any] = {}

    def run() -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            result.update(handler(event, None))
        finally:
            loop.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    assert not thread.is_alive(), "the handler did not answer within 30 s"
    return result
