"""What map and parallel share: the schema of a nested step list.

A fan-out step runs each of its iterations (map) or branches (parallel) as a child
execution of the same language. The step awaits its fan-in; the processor creates
the children (at most ``maxConcurrency`` at a time, each finishing one starting the
next) and wakes the parent exactly once when the last one ends. The language checks
a nested list as a definition of its own through :attr:`CheckContext.nested`.
"""

from __future__ import annotations

from typing import Any

from sedo.domain.limits import MAX_STEPS

NESTED_STEPS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["steps"],
    "properties": {"steps": {"type": "array", "minItems": 1, "maxItems": MAX_STEPS, "items": {"type": "object"}}},
}
