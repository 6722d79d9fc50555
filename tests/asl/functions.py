"""Lambda-style handlers the ASL corpus's tasks call on the local stack (see functions.yaml)."""

from __future__ import annotations

import time
from typing import Any

from sedo.adapters.invokers import attempt_of


class Busy(Exception):
    pass


class PaymentDeclined(Exception):
    pass


def double(event: Any, context: Any) -> dict[str, Any]:
    return {"value": event["value"] * 2}


def echo(event: Any, context: Any) -> Any:
    return event


def greet(event: Any, context: Any) -> str:
    return f"Hello, {event['name']}"


def flaky(event: Any, context: Any) -> dict[str, Any]:
    """Busy on the first two attempts of every call."""
    attempt = attempt_of(context)
    if attempt < 3:
        raise Busy(f"attempt {attempt}: busy")
    return {"attempts": attempt, "order": event["order"]}


def charge(event: Any, context: Any) -> dict[str, Any]:
    if event["amount"] > 100:
        raise PaymentDeclined(f"{event['amount']} is over the limit")
    return {"charged": event["amount"]}


def slow(event: Any, context: Any) -> dict[str, Any]:
    time.sleep(3)
    return {"late": True}


def notify(event: Any, context: Any) -> None:
    """Started with waitForCompletion: the test completes the step through the service."""
    return None
