"""Example functions for the local stack: what `invoke` steps call instead of Lambda.

Each is a Lambda-style handler ``(event, context)``; `definitions/local-functions.yaml`
maps function names to them. Errors raised here reach sedo as Lambda reports them:
the exception's class name is the error (catch it by name), its message the cause.
Every call carries ``context.client_context.custom["idempotencyKey"]``
(``executionId/stepId/attempt``) so a real target can deduplicate.
"""

from __future__ import annotations

from typing import Any

from sedo.adapters.invokers import attempt_of


class PaymentDeclined(Exception):
    pass


class InventoryBusy(Exception):
    pass


def charge(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Charge a card: declines anything over 5,000."""
    amount = float(event["amount"])
    if amount > 5000:
        raise PaymentDeclined(f"amount {amount:.2f} exceeds the card limit")
    key = context.client_context.custom["idempotencyKey"]
    return {"chargeId": "ch_" + key.replace(":", "_").replace("/", "_"), "amount": amount, "status": "captured"}


def reserve_inventory(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Reserve stock. The warehouse is busy on the first two attempts of every order."""
    if attempt_of(context) < 3:
        raise InventoryBusy("the warehouse is busy, try again")
    return {"reserved": [{"sku": item["sku"], "qty": item["qty"]} for item in event["items"]]}


def refund(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"refunded": True, "reason": event.get("reason")}
