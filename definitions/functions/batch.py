"""Example functions for fan-out: score one applicant, look things up."""

from __future__ import annotations

from typing import Any


def score(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A toy credit score: deterministic, so results can be checked."""
    income = float(event.get("income", 0))
    debts = float(event.get("debts", 0))
    value = max(300, min(850, int(300 + income / 1000 - debts / 500)))
    return {"id": event.get("id"), "score": value}


def lookup(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"source": event.get("source", "registry"), "found": True}
