"""The definition language: load text, validate a whole document, report every problem.

``validate_document`` returns every problem at once, each with a JSON Pointer to
where it is, so authors fix a definition in one round trip.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from jsonschema.validators import validator_for

from sedo.domain.definition import Definition, parse_definition
from sedo.domain.errors import BadRequest, InvalidDefinition, Problem
from sedo.domain.steps import STEP_TYPES

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$"
STEP_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$"
MAX_STEPS = 500

#: Fields every step may carry, whatever its type.
COMMON_STEP_PROPERTIES: dict[str, Any] = {
    "id": {"type": "string", "pattern": STEP_ID_PATTERN},
    "type": {"type": "string"},
    "next": {"type": "string", "pattern": STEP_ID_PATTERN},
    "end": {"type": "boolean"},
    "comment": {"type": "string", "maxLength": 2048},
}

DOCUMENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "steps"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "string", "pattern": ID_PATTERN},
        "description": {"type": "string", "maxLength": 2048},
        "inputSchema": {"type": ["object", "boolean"]},
        "steps": {"type": "array", "minItems": 1, "maxItems": MAX_STEPS, "items": {"type": "object"}},
    },
}

_DOCUMENT_VALIDATOR = Draft202012Validator(DOCUMENT_SCHEMA)
_STEP_VALIDATORS = {
    name: Draft202012Validator(
        {
            "type": "object",
            "required": ["id", "type", *step_type.required],
            "additionalProperties": False,
            "properties": {**COMMON_STEP_PROPERTIES, **step_type.properties},
        }
    )
    for name, step_type in STEP_TYPES.items()
}


def pointer(*parts: object) -> str:
    """A JSON Pointer (RFC 6901) from path parts."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _schema_problems(validator: Draft202012Validator, instance: Any, *prefix: object) -> list[Problem]:
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))
    return [Problem(pointer(*prefix, *e.absolute_path), e.message) for e in errors]


# --- text -> document -------------------------------------------------------


class _StrictLoader(yaml.SafeLoader):
    """Safe YAML without aliases (no billion-laughs) and with timestamps kept as text."""

    def compose_node(self, parent: Any, index: Any) -> Any:  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None, None, "YAML aliases (*name) are not allowed in definitions", event.start_mark
            )
        return super().compose_node(parent, index)


_StrictLoader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_text(body: bytes | str, media_type: str = "application/yaml") -> Any:
    """Parse a JSON or YAML document; a readable :class:`BadRequest` if it is neither."""
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadRequest(f"the body is not valid UTF-8 (byte {exc.start})") from exc
    if "json" in media_type:
        try:
            document = json.loads(body)
        except json.JSONDecodeError as exc:
            raise BadRequest(f"the body is not valid JSON: {exc}") from exc
    else:
        try:
            document = yaml.load(body, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
        except yaml.YAMLError as exc:
            raise BadRequest(f"the body is not valid YAML: {exc}") from exc
    try:
        # Round-trip so the document is plain JSON (string keys, finite numbers).
        return json.loads(json.dumps(document, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise BadRequest(f"the document cannot be represented as JSON: {exc}") from exc


# --- document -> problems -----------------------------------------------------


def _input_schema_problems(schema: Any) -> list[Problem]:
    if isinstance(schema, bool):
        return []
    problems: list[Problem] = []
    cls = validator_for(schema, default=Draft202012Validator)
    for error in cls(cls.META_SCHEMA).iter_errors(schema):
        problems.append(
            Problem(
                pointer("inputSchema", *error.absolute_path),
                f"not a valid JSON Schema: {error.message}",
            )
        )
    if not problems:
        try:
            cls.check_schema(schema)
        except SchemaError as exc:  # pragma: no cover - iter_errors found none
            problems.append(Problem("/inputSchema", f"not a valid JSON Schema: {exc.message}"))
    problems.extend(_remote_ref_problems(schema, ("inputSchema",)))
    return problems


def _remote_ref_problems(node: Any, path: tuple[object, ...]) -> Iterable[Problem]:
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and not value.startswith("#"):
                yield Problem(
                    pointer(*path, key),
                    f"only local references ('#/...') are allowed, not {value!r}",
                )
            else:
                yield from _remote_ref_problems(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _remote_ref_problems(value, (*path, index))


def validate_document(document: Any) -> list[Problem]:
    """Every problem in a definition document, in document order."""
    if not isinstance(document, Mapping):
        return [Problem("", f"a definition must be an object, not {type(document).__name__}")]
    problems = _schema_problems(_DOCUMENT_VALIDATOR, document)
    if "inputSchema" in document and isinstance(document["inputSchema"], (dict, bool)):
        problems.extend(_input_schema_problems(document["inputSchema"]))
    steps = document.get("steps")
    if not isinstance(steps, list) or not steps:
        return problems
    problems.extend(_step_problems(steps))
    return problems


def _step_problems(steps: list[Any]) -> list[Problem]:
    problems: list[Problem] = []
    first_index: dict[str, int] = {}
    edges: dict[str, list[tuple[str, str]]] = {}  # step id -> [(path, target)]
    ends: set[str] = set()
    usable: list[tuple[int, Mapping[str, Any]]] = []

    for index, raw in enumerate(steps):
        path = pointer("steps", index)
        if not isinstance(raw, Mapping):
            continue  # reported by the document schema
        step_id = raw.get("id")
        type_name = raw.get("type")
        step_type = STEP_TYPES.get(type_name) if isinstance(type_name, str) else None
        if "type" not in raw:
            problems.append(Problem(f"{path}/type", "missing step type"))
        elif step_type is None:
            known = ", ".join(sorted(STEP_TYPES))
            problems.append(Problem(f"{path}/type", f"unknown step type {raw.get('type')!r} (known: {known})"))
        if step_type is not None:
            schema_problems = _schema_problems(_STEP_VALIDATORS[step_type.name], raw, "steps", index)
            problems.extend(schema_problems)
            if not schema_problems:
                problems.extend(step_type.check(raw, path))
        elif "id" not in raw:
            problems.append(Problem(path, "'id' is a required property"))
        elif not isinstance(step_id, str):
            problems.append(Problem(f"{path}/id", f"{step_id!r} is not of type 'string'"))

        decides_next = step_type is not None and step_type.decides_next
        has_next, has_end = "next" in raw, raw.get("end") is True
        if not decides_next:
            if has_next and has_end:
                problems.append(Problem(path, "a step has either 'next' or 'end: true', not both"))
            elif not has_next and not has_end:
                problems.append(Problem(path, "missing 'next' (or 'end: true' for a last step)"))
        elif has_next or "end" in raw:
            name = step_type.name if step_type else "?"
            problems.append(Problem(path, f"a {name} step decides its own successor: remove 'next'/'end'"))

        if not isinstance(step_id, str):
            continue
        if step_id in first_index:
            problems.append(
                Problem(
                    f"{path}/id",
                    f"duplicate step id {step_id!r} (first used at {pointer('steps', first_index[step_id])})",
                )
            )
            continue
        first_index[step_id] = index
        usable.append((index, raw))
        targets: list[tuple[str, str]] = []
        if isinstance(raw.get("next"), str) and not decides_next:
            targets.append((f"{path}/next", raw["next"]))
        if step_type is not None:
            targets.extend(step_type.targets(raw, path))
        edges[step_id] = targets
        if has_end or (decides_next and not targets):
            ends.add(step_id)

    known_ids = ", ".join(first_index)
    for targets in edges.values():
        for target_path, target in targets:
            if target not in first_index:
                problems.append(Problem(target_path, f"unknown step {target!r} (steps are: {known_ids})"))

    if not usable:
        return problems
    start = usable[0][1]["id"]
    reachable = _closure([start], lambda s: [t for _, t in edges.get(s, []) if t in edges])
    for index, raw in usable:
        if raw["id"] not in reachable:
            problems.append(
                Problem(pointer("steps", index), f"step {raw['id']!r} is unreachable from the first step {start!r}")
            )
    if not ends:
        problems.append(Problem("/steps", "no step ends the workflow: give the last step 'end: true'"))
    else:
        reverse: dict[str, list[str]] = {}
        for source, targets in edges.items():
            for _, target in targets:
                reverse.setdefault(target, []).append(source)
        can_end = _closure(list(ends), lambda s: reverse.get(s, []))
        for index, raw in usable:
            if raw["id"] in reachable and raw["id"] not in can_end:
                problems.append(
                    Problem(
                        pointer("steps", index),
                        f"step {raw['id']!r} can never reach an end: it loops forever",
                    )
                )
    return problems


def _closure(seeds: list[str], neighbours: Any) -> set[str]:
    seen = set(seeds)
    stack = list(seeds)
    while stack:
        for other in neighbours(stack.pop()):
            if other not in seen:
                seen.add(other)
                stack.append(other)
    return seen


def load_definition(document: Any, version: int = 0) -> Definition:
    """Validate a document and build its model; :class:`InvalidDefinition` lists every problem."""
    problems = validate_document(document)
    if problems:
        raise InvalidDefinition(problems)
    return parse_definition(document, version)


def input_problems(schema: Any, instance: Any) -> list[str]:
    """Every way ``instance`` breaks the definition's ``inputSchema``, as readable lines."""
    if schema is None:
        return []
    cls = validator_for(schema, default=Draft202012Validator)
    validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    messages = []
    for error in sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path))):
        where = pointer(*error.absolute_path)
        messages.append(f"{error.message}" + (f" (at {where})" if where else ""))
    return messages


__all__ = [
    "ID_PATTERN",
    "STEP_ID_PATTERN",
    "input_problems",
    "load_definition",
    "load_text",
    "validate_document",
]
