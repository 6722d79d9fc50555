"""API Gateway proxy events, as ``sam local generate-event`` makes them, aimed at sedo's API.

events/apigateway-aws-proxy.json (payload 1.0, REST API) and
events/apigateway-http-api-proxy.json (payload 2.0, HTTP API) are that command's output,
kept as they are (test_events_are_what_sam_generates checks it); a request changes only
what API Gateway would set for it: method, path, query, headers, body. Like API Gateway,
these events carry no Content-Length header.
"""

from __future__ import annotations

import base64
import copy
import json
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

EVENTS = Path(__file__).resolve().parent / "events"
V1_FILE = EVENTS / "apigateway-aws-proxy.json"
V2_FILE = EVENTS / "apigateway-http-api-proxy.json"
PROXY_ROUTE = "/sedo/{proxy+}"


@cache
def _sample(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


def _body(body: str | bytes | None, base64_body: bool) -> tuple[str | None, bool]:
    if body is None:
        return None, False
    raw = body.encode() if isinstance(body, str) else body
    if base64_body:
        return base64.b64encode(raw).decode(), True
    return raw.decode(), False


def event(
    version: str,
    method: str,
    path: str,
    body: str | bytes | None = None,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    base64_body: bool = True,
) -> dict[str, Any]:
    """A proxy event of payload ``version`` ("1.0" or "2.0") for one request."""
    return (v1 if version == "1.0" else v2)(method, path, body, headers or {}, query or {}, base64_body)


def v1(
    method: str, path: str, body: str | bytes | None, headers: dict[str, str], query: dict[str, str], base64_body: bool
) -> dict[str, Any]:
    e = copy.deepcopy(_sample(V1_FILE))
    e["httpMethod"] = method
    e["path"] = path
    e["resource"] = PROXY_ROUTE
    e["pathParameters"] = {"proxy": path.removeprefix("/sedo/")}
    e["requestContext"].update(
        {"httpMethod": method, "path": f"/{e['requestContext']['stage']}{path}", "resourcePath": PROXY_ROUTE}
    )
    e["headers"] = {**e["headers"], **headers}
    e["multiValueHeaders"] = {**e["multiValueHeaders"], **{k: [v] for k, v in headers.items()}}
    e["queryStringParameters"] = dict(query) or None
    e["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()} or None
    e["body"], e["isBase64Encoded"] = _body(body, base64_body)
    return e


def v2(
    method: str, path: str, body: str | bytes | None, headers: dict[str, str], query: dict[str, str], base64_body: bool
) -> dict[str, Any]:
    e = copy.deepcopy(_sample(V2_FILE))
    route = f"ANY {PROXY_ROUTE}"
    e["routeKey"] = route
    e["rawPath"] = path
    e["rawQueryString"] = urlencode(query)
    e["queryStringParameters"] = dict(query) or None
    e["pathParameters"] = {"proxy": path.removeprefix("/sedo/")}
    e["headers"] = {**e["headers"], **{k.lower(): v for k, v in headers.items()}}  # HTTP APIs lower-case names
    e["requestContext"]["http"].update({"method": method, "path": path})
    e["requestContext"]["routeKey"] = route
    e["body"], e["isBase64Encoded"] = _body(body, base64_body)
    if e["body"] is None:
        del e["body"]
    return e


def header(response: dict[str, Any], name: str) -> str | None:
    for key, value in (response.get("headers") or {}).items():
        if key.lower() == name.lower():
            return str(value)
    for key, values in (response.get("multiValueHeaders") or {}).items():
        if key.lower() == name.lower() and values:
            return str(values[0])
    return None


def body_json(response: dict[str, Any]) -> Any:
    """The JSON body of a proxy response; problem+json and JSON must come back as text."""
    assert response.get("isBase64Encoded") is False, f"body sent as base64: {response}"
    return json.loads(response["body"])
