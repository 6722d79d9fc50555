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
class DefinitionRef:
    """Which definition version an execution runs, without the definition itself."""

    id: str
    version: int


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


def scoped(definition: Definition, scope: list[str] | tuple[str, ...]) -> Definition:
    """The nested definition a child execution runs: ``scope`` names the map step (``id``)
    or parallel branch (``id#n``) at each level below the root."""
    current = definition
    for part in scope:
        step_id, _, branch = part.partition("#")
        config = current.step(step_id).config
        steps = config["branches"][int(branch)]["steps"] if branch else config["iterator"]["steps"]
        current = parse_definition({"id": f"{current.id}/{part}", "steps": steps}, definition.version)
    return current


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
