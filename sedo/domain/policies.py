"""Retry and catch: which policy applies to an error, and how long to wait."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping, Sequence
from typing import Any

from sedo.domain.failures import matches

RETRY_SCHEMA: dict[str, Any] = {
    "type": "array",
    "maxItems": 20,
    "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["errors"],
        "properties": {
            "errors": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}},
            "maxAttempts": {"type": "integer", "minimum": 0, "maximum": 100, "default": 3},
            "intervalSeconds": {"type": "number", "minimum": 0, "maximum": 86400, "default": 1},
            "backoffRate": {"type": "number", "minimum": 1, "maximum": 10, "default": 2},
            "maxDelaySeconds": {"type": "number", "minimum": 0, "maximum": 31_622_400},
            "jitter": {"enum": ["NONE", "FULL"], "default": "NONE"},
        },
    },
}

CATCH_SCHEMA: dict[str, Any] = {
    "type": "array",
    "maxItems": 20,
    "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["errors", "next"],
        "properties": {
            "errors": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}},
            "next": {"type": "string"},
            "resultPath": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]{0,63}$"},
        },
    },
}


def retry_delay(rules: Sequence[Mapping[str, Any]], error: str, attempt: int, seed: str) -> float | None:
    """Seconds to wait before attempt ``attempt + 1``, or None when no retry applies.

    ``attempt`` counts the attempts made so far (1 after the first failure). The
    first matching rule decides; ``maxAttempts`` counts retries, as in Step Functions.
    Full jitter draws uniformly from [0, delay], seeded by ``seed`` so a redelivered
    wake-up computes the same delay.
    """
    for rule in rules:
        if not matches(list(rule["errors"]), error):
            continue
        if attempt > int(rule.get("maxAttempts", 3)):
            return None
        delay = float(rule.get("intervalSeconds", 1)) * float(rule.get("backoffRate", 2)) ** (attempt - 1)
        if "maxDelaySeconds" in rule:
            delay = min(delay, float(rule["maxDelaySeconds"]))
        if rule.get("jitter", "NONE") == "FULL":
            digest = hashlib.sha256(f"{seed}/{attempt}".encode()).digest()
            delay = random.Random(digest).uniform(0, delay)  # jitter, not crypto
        return delay
    return None


def catcher_for(rules: Sequence[Mapping[str, Any]], error: str) -> Mapping[str, Any] | None:
    for rule in rules:
        if matches(list(rule["errors"]), error):
            return rule
    return None
