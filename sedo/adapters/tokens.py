"""Opaque pagination tokens, bound to the tenant that asked for them."""

from __future__ import annotations

import base64
import json
from typing import Any

from sedo.domain.errors import BadRequest


def encode(tenant_id: str, position: dict[str, Any] | None) -> str | None:
    if not position:
        return None
    raw = json.dumps({"t": tenant_id, "p": position}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(tenant_id: str, token: str | None) -> dict[str, Any] | None:
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        body = json.loads(raw)
        if body["t"] != tenant_id or not isinstance(body["p"], dict):
            raise ValueError("token is for another listing")
        return dict(body["p"])
    except (ValueError, KeyError, TypeError) as exc:
        raise BadRequest("nextToken is not valid here: pass back the value a listing returned") from exc


def encode_key(tenant_id: str, key: str) -> str:
    """A token for "after the item ``key``" (a search by attribute: sedo/adapters/dynamodb/operations.py)."""
    return str(encode(tenant_id, {"k": key}))


def decode_key(tenant_id: str, token: str | None) -> str | None:
    position = decode(tenant_id, token)
    if position is None:
        return None
    if set(position) != {"k"} or not isinstance(position["k"], str):
        raise BadRequest("nextToken is not valid here: pass back the value a listing returned")
    return str(position["k"])
