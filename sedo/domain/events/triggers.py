"""Triggers (a definition's ``triggers``), and the shape of the events sedo reads and puts.

An event belongs to exactly one tenant: the one its ``resources`` name as
``sedo:tenant/<tenantId>``. An event naming no tenant, or two, belongs to nobody. The
events sedo puts (``emit`` steps, status changes) also carry ``sedo:event/<id>``, a stable
id that the same put, repeated (at-least-once), keeps: it, not EventBridge's own ``id``
(new for every put), is what deduplicates them.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sedo.domain import limits
from sedo.domain.errors import Problem
from sedo.domain.events.pattern import exact_values, pattern_problems
from sedo.domain.expressions import ExpressionError, compile_expression

TENANT_RESOURCE = "sedo:tenant/"
EVENT_RESOURCE = "sedo:event/"
#: The source and detail-type of sedo's own status-change events.
SEDO_SOURCE = "sedo"
STATUS_CHANGE = "Execution Status Change"
STEP_STATUS_CHANGE = "Step Status Change"
#: A definition's ``events``: opt into step-level status-change events.
EVENTS_OPTIONS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"steps": {"type": "boolean", "description": "also put a Step Status Change event per step"}},
}
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")

TRIGGERS_SCHEMA: dict[str, Any] = {
    "type": "array",
    "maxItems": limits.MAX_TRIGGERS,
    "items": {
        "type": "object",
        "required": ["event"],
        "additionalProperties": False,
        "properties": {
            "event": {"type": "object", "description": "an EventBridge event pattern"},
            "input": {"type": "string", "minLength": 1, "description": "JMESPath over the event: the input"},
            "name": {"type": "string", "minLength": 1, "description": "JMESPath over the event: the name"},
        },
    },
}


def indexed_pattern_problems(pattern: Any, where: str, what: str) -> list[Problem]:
    """A pattern's problems, and that it names its ``source`` exactly (sedo indexes by it)."""
    problems = pattern_problems(pattern, where)
    if not problems and exact_values(pattern, "source") is None:
        problems.append(
            Problem(
                where,
                f"{what} must list its event sources as exact values, e.g. source: [shop.orders] "
                "(sedo looks events up by source)",
            )
        )
    return problems


def expression_problems(raw: Mapping[str, Any], fields: tuple[str, ...], where: str) -> list[Problem]:
    problems = []
    for name in fields:
        text = raw.get(name)
        if not isinstance(text, str):
            continue
        why = limits.expression_problem(text)
        if why is None:
            try:
                compile_expression(text)
            except ExpressionError as exc:
                why = str(exc)
        if why is not None:
            problems.append(Problem(f"{where}/{name}", why))
    return problems


def trigger_problems(triggers: Any, base: str = "/triggers") -> list[Problem]:
    """Semantic problems of a schema-valid ``triggers`` array (patterns and expressions)."""
    problems: list[Problem] = []
    if not isinstance(triggers, list):
        return problems
    for index, trigger in enumerate(triggers):
        if not isinstance(trigger, Mapping):
            continue
        where = f"{base}/{index}"
        if isinstance(trigger.get("event"), Mapping):  # else the schema said so
            problems.extend(indexed_pattern_problems(trigger["event"], f"{where}/event", "a trigger's pattern"))
        problems.extend(expression_problems(trigger, ("input", "name"), where))
    return problems


@dataclass(frozen=True)
class Trigger:
    """One trigger of a definition's latest version, as the index holds it."""

    definition_id: str
    version: int
    index: int
    pattern: Mapping[str, Any]
    input: str | None = None
    name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"index": self.index, "event": dict(self.pattern)}
        if self.input is not None:
            body["input"] = self.input
        if self.name is not None:
            body["name"] = self.name
        return body


def triggers_of(document: Mapping[str, Any], version: int) -> list[Trigger]:
    return [
        Trigger(str(document["id"]), version, index, raw["event"], raw.get("input"), raw.get("name"))
        for index, raw in enumerate(document.get("triggers") or [])
    ]


def sources_of(triggers: list[Trigger]) -> set[str]:
    return {source for trigger in triggers for source in exact_values(trigger.pattern, "source") or []}


# --- events ---------------------------------------------------------------------------


def tenant_of(event: Mapping[str, Any]) -> str | None:
    """The one tenant an event belongs to, or None (no tenant, two tenants, a malformed one)."""
    resources = event.get("resources")
    if not isinstance(resources, list):
        return None
    tenants = {r[len(TENANT_RESOURCE) :] for r in resources if isinstance(r, str) and r.startswith(TENANT_RESOURCE)}
    if len(tenants) != 1:
        return None
    tenant = tenants.pop()
    return tenant if _TENANT.match(tenant) else None


def event_key(event: Mapping[str, Any]) -> str:
    """What deduplicates an event: sedo's stable id when it put it, else EventBridge's id."""
    for resource in event.get("resources") or []:
        if isinstance(resource, str) and resource.startswith(EVENT_RESOURCE):
            return resource[len(EVENT_RESOURCE) :][:200]
    return str(event.get("id") or "")[:200]


def stable_id(*parts: str) -> str:
    """A short stable event id from what names the put (execution, step, attempt...)."""
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:32]


def entry(
    tenant_id: str, source: str, detail_type: str, detail: Any, bus: str, key: str | None = None
) -> dict[str, Any]:
    """A PutEvents entry for ``tenant_id``; ``key``: the stable id of a put sedo may repeat."""
    resources = [TENANT_RESOURCE + tenant_id]
    if key is not None:
        resources.append(EVENT_RESOURCE + key)
    return {
        "Source": source,
        "DetailType": detail_type,
        "Detail": json.dumps(detail if isinstance(detail, Mapping) else {"value": detail}, separators=(",", ":")),
        "Resources": resources,
        "EventBusName": bus,
    }
