"""The definition model: what a stored, validated definition looks like in memory.

Parsing here is deliberately light (no JSON Schema): the processor loads
definitions that were validated when they were stored, and must import fast.
Validation lives in :mod:`sedo.domain.language`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Step:
    id: str
    type: str
    next: str | None
    end: bool
    config: Mapping[str, Any]


@dataclass(frozen=True)
class Definition:
    id: str
    version: int
    start_at: str
    steps: Mapping[str, Step]
    input_schema: Any = None
    document: Mapping[str, Any] = field(default_factory=dict)

    def step(self, step_id: str) -> Step:
        return self.steps[step_id]


def parse_definition(document: Mapping[str, Any], version: int = 0) -> Definition:
    """Build the model from an already validated document."""
    steps: dict[str, Step] = {}
    for raw in document["steps"]:
        steps[raw["id"]] = Step(
            id=raw["id"],
            type=raw["type"],
            next=raw.get("next"),
            end=bool(raw.get("end", False)),
            config=raw,
        )
    return Definition(
        id=document["id"],
        version=version,
        start_at=document["steps"][0]["id"],
        steps=steps,
        input_schema=document.get("inputSchema"),
        document=document,
    )
