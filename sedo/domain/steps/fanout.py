"""What map and parallel share: nested step lists, and awaiting the fan-in.

A fan-out step runs each of its iterations (map) or branches (parallel) as a child
execution of the same language. The step awaits ``fanin``; the processor creates
the children (at most ``maxConcurrency`` at a time, each finishing one starting the
next) and wakes the parent exactly once when the last one ends.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sedo.domain.errors import Problem

NESTED_STEPS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["steps"],
    "properties": {"steps": {"type": "array", "minItems": 1, "maxItems": 500, "items": {"type": "object"}}},
}


def nested_problems(steps: Any, path: str, options: Any) -> list[Problem]:
    """Validate a nested step list as a definition of its own, with paths below ``path``."""
    from sedo.domain.language import validate_document  # the language validates its nested parts

    found = validate_document({"id": "nested", "steps": steps}, options)
    return [Problem(path + p.path, p.message) for p in found if p.path.startswith("/steps")]


def nested_definition(steps: list[Mapping[str, Any]], name: str) -> dict[str, Any]:
    return {"id": name, "steps": list(steps)}
