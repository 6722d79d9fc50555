"""The definition language: load text, validate a whole document, report every problem.

``validate_document`` returns every problem at once, each with a JSON Pointer to
where it is, so authors fix a definition in one round trip.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.validators import validator_for
from referencing import Registry
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012, UnknownDialect, specification_with

from sedo.domain import limits, schemas
from sedo.domain.definition import Definition, parse_definition
from sedo.domain.errors import InvalidDefinition, Problem
from sedo.domain.events.triggers import EVENTS_OPTIONS_SCHEMA, TRIGGERS_SCHEMA, trigger_problems
from sedo.domain.expressions import ExpressionError, compile_expression
from sedo.domain.policies import CATCH_SCHEMA, RETRY_SCHEMA
from sedo.domain.steps import STEP_TYPES
from sedo.domain.steps.base import CheckContext, LanguageOptions

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$"
STEP_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$"

#: Fields every step may carry, whatever its type.
COMMON_STEP_PROPERTIES: dict[str, Any] = {
    "id": {"type": "string", "pattern": STEP_ID_PATTERN},
    "type": {"type": "string"},
    "next": {"type": "string", "pattern": STEP_ID_PATTERN},
    "end": {"type": "boolean"},
    "comment": {"type": "string", "maxLength": 2048},
    # data flow: JMESPath over the stash selects the step's input; over the result, its output
    "input": {"type": "string", "minLength": 1},
    "output": {"type": "string", "minLength": 1},
    "resultPath": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]{0,63}$"},
    # errors: per-attempt timeout, retries with backoff, catchers that route to a step
    "timeoutSeconds": {"type": "integer", "minimum": 1, "maximum": 31_622_400},
    "retry": RETRY_SCHEMA,
    "catch": CATCH_SCHEMA,
}
#: Common fields that hold JMESPath expressions.
COMMON_EXPRESSIONS = ("input", "output")

DOCUMENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "steps"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "string", "pattern": ID_PATTERN},
        "description": {"type": "string", "maxLength": 2048},
        "inputSchema": {"type": ["object", "boolean"]},
        "steps": {"type": "array", "minItems": 1, "maxItems": limits.MAX_STEPS, "items": {"type": "object"}},
        "timeoutSeconds": {"type": "integer", "minimum": 1, "maximum": 31_622_400},
        "output": {"type": "string", "minLength": 1},
        # events (issue 15): EventBridge patterns that start an execution
        "triggers": TRIGGERS_SCHEMA,
        "events": EVENTS_OPTIONS_SCHEMA,
        # operating executions (sedo/domain/operate.py): indexed values, and the pause rule
        "searchAttributes": {
            "type": "object",
            "maxProperties": limits.MAX_SEARCH_ATTRIBUTES,
            "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]{0,63}$"},
            "additionalProperties": {"type": "string", "minLength": 1},
        },
        "timeoutsWhilePaused": {"enum": ["extend", "count"]},
    },
}

_DOCUMENT_VALIDATOR = Draft202012Validator(DOCUMENT_SCHEMA)
_COMMON_STEP_VALIDATOR = Draft202012Validator(
    {
        "type": "object",
        "required": ["id"],
        "properties": {k: v for k, v in COMMON_STEP_PROPERTIES.items() if k != "type"},
    }
)
_STEP_VALIDATORS = {
    name: Draft202012Validator(
        {
            "type": "object",
            "required": ["id", "type", *step_type.required],
            "additionalProperties": False,
            "properties": {
                **{k: v for k, v in COMMON_STEP_PROPERTIES.items() if k not in step_type.excluded_common},
                **step_type.properties,
            },
        }
    )
    for name, step_type in STEP_TYPES.items()
}


def pointer(*parts: object) -> str:
    """A JSON Pointer (RFC 6901) from path parts."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _schema_problems(validator: Draft202012Validator, instance: Any, *prefix: object) -> list[Problem]:
    errors = sorted(validator.iter_errors(instance), key=lambda e: _document_order(e.absolute_path))
    problems: list[Problem] = []
    for error in errors:
        where = (*prefix, *error.absolute_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
            # One problem per unknown field, located at the field itself.
            allowed = sorted(error.schema.get("properties", {}))
            for key in sorted(k for k in error.instance if k not in allowed):
                problems.append(Problem(pointer(*where, key), f"unknown field {key!r} (allowed: {', '.join(allowed)})"))
        else:
            problems.append(Problem(pointer(*where), _short_message(error)))
    return problems


def _document_order(path: Iterable[Any]) -> list[tuple[int, int, str]]:
    """Sort key for paths: /steps/2 before /steps/10."""
    return [(0, part, "") if isinstance(part, int) else (1, 0, str(part)) for part in path]


def _short_message(error: Any) -> str:
    """jsonschema's message, without repeating a long instance back at the author."""
    if error.validator in ("maxItems", "maxLength") and isinstance(error.instance, (list, str)):
        unit = "items" if isinstance(error.instance, list) else "characters"
        return f"has {len(error.instance)} {unit}; at most {error.validator_value} are allowed"
    message = str(error.message)
    return message if len(message) <= 300 else message[:297] + "..."


# --- text -> document -------------------------------------------------------


class _StrictLoader(yaml.SafeLoader):
    """Safe YAML without aliases (no billion-laughs) and with timestamps kept as text."""

    def compose_node(self, parent: Any, index: Any) -> Any:  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None, None, "YAML aliases (*name) are not allowed in definitions", event.start_mark
            )
        # The composer recurses once per level: stop at the nesting limit, not at the stack's.
        depth: int = getattr(self, "_depth", 0)
        if self.check_event(yaml.SequenceStartEvent, yaml.MappingStartEvent):
            if depth >= limits.MAX_DEPTH:
                event = self.peek_event()  # type: ignore[no-untyped-call]
                raise yaml.composer.ComposerError(
                    None, None, f"the document nests more than {limits.MAX_DEPTH} levels deep", event.start_mark
                )
            self._depth = depth + 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth = depth

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:  # type: ignore[override]
        """Keys as JSON will see them (``1`` -> ``"1"``, ``true`` -> ``"true"``), each at most once.

        PyYAML would silently keep the last of two ``next:``, and fold ``true:`` into ``1:``.
        """
        if not isinstance(node, yaml.MappingNode):
            return super().construct_mapping(node, deep)
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self._key(key_node)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (each key may appear once)", key_node.start_mark
                )
            seen.add(key)
        self.flatten_mapping(node)  # merge keys ("<<"): the mapping's own keys win
        return {
            self._key(key_node): self.construct_object(value_node, deep=deep)  # type: ignore[no-untyped-call]
            for key_node, value_node in node.value
        }

    def _key(self, key_node: Any) -> Any:
        key = self.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
        if isinstance(key, _JSON_SCALARS):
            return _json_key(key)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, "a key must be a string, not a list or a mapping", key_node.start_mark
            ) from None
        return key


_StrictLoader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_text(body: bytes | str, media_type: str = "application/yaml") -> Any:
    """Parse a JSON or YAML document into plain JSON values.

    Text that is neither raises :class:`InvalidDefinition` (a 400) with one problem
    at the document root that says where the text breaks (line and column).
    """
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _unparsable(f"the body is not valid UTF-8 (byte {exc.start}); send UTF-8 encoded text") from exc
    if "json" in media_type:
        if limits.json_text_too_deep(body):
            raise _unparsable(f"the document nests objects and arrays more than {limits.MAX_DEPTH} levels deep")
        try:
            document = json.loads(body)
        except json.JSONDecodeError as exc:
            raise _unparsable(f"not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}") from exc
    else:
        try:
            document = yaml.load(body, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
        except yaml.MarkedYAMLError as exc:
            raise _unparsable(_yaml_message(exc)) from exc
        except yaml.YAMLError as exc:
            raise _unparsable(f"not valid YAML: {exc}") from exc
    problems = list(_unrepresentable(document, ()))
    if problems:
        raise InvalidDefinition(problems)
    try:
        # Round-trip so the document is plain JSON (string keys).
        return json.loads(json.dumps(document, allow_nan=False))
    except (TypeError, ValueError) as exc:  # pragma: no cover - _unrepresentable found none
        raise _unparsable(f"the document cannot be represented as JSON: {exc}") from exc


def _unparsable(message: str) -> InvalidDefinition:
    return InvalidDefinition([Problem("", message)])


def _yaml_message(exc: yaml.MarkedYAMLError) -> str:
    mark = exc.problem_mark or exc.context_mark
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
    message = exc.problem or exc.context or "cannot be parsed"
    if exc.problem and exc.context:
        message += f", {exc.context}"
    return f"not valid YAML{where}: {message}"


_JSON_SCALARS = (str, int, float, bool, type(None))
_YAML_ONLY = {"datetime": "a timestamp", "date": "a date", "bytes": "binary data", "set": "a set"}


def _json_key(key: Any) -> str:
    return key if isinstance(key, str) else json.dumps(key)


def _unrepresentable(node: Any, path: tuple[object, ...]) -> Iterable[Problem]:
    """Values no JSON document holds: NaN, infinities, and YAML-only types (``!!binary``, ``!!set``...)."""
    if isinstance(node, float) and not math.isfinite(node):
        yield Problem(pointer(*path), f"{node} is not a JSON number: use a finite number")
    elif isinstance(node, Mapping):
        for key, value in node.items():
            if isinstance(key, _JSON_SCALARS):
                yield from _unrepresentable(value, (*path, _json_key(key)))
            else:
                yield Problem(pointer(*path), f"the key {key!r} is not a string, number or boolean")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _unrepresentable(value, (*path, index))
    elif not isinstance(node, _JSON_SCALARS):
        what = _YAML_ONLY.get(type(node).__name__, type(node).__name__)
        yield Problem(pointer(*path), f"{what} cannot be represented in JSON: write it as a quoted string")


def _json_type(value: Any) -> str:
    """The JSON name of a value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


# --- document -> problems -----------------------------------------------------


#: Keywords whose values are data, not schemas: a "$ref" inside them is not a reference.
_DATA_KEYWORDS = frozenset({"const", "enum", "default", "examples"})
#: Keywords whose values map names (not keywords) to schemas.
_NAMED_SCHEMAS = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})


def input_schema_problems(schema: Any, base: str = "/inputSchema") -> list[Problem]:
    """Every problem of a JSON Schema a document carries at ``base`` (a JSON Pointer).

    For the definition's ``inputSchema`` and for a step's (a callback's answer): the
    same meta-schema, reference and limit checks, since both run on every call.
    """
    if isinstance(schema, bool):
        return []
    shape = schemas.schema_shape_problem(schema)
    if shape is not None:
        return [Problem(base, shape)]
    problems: list[Problem] = []
    dialect = schema.get("$schema")
    if isinstance(dialect, str) and not _known_dialect(dialect):
        problems.append(
            Problem(
                f"{base}/$schema",
                f"unknown $schema {dialect!r}: leave it out (draft 2020-12) or name a JSON Schema draft",
            )
        )
    # validator_for would crash on an unhashable "$schema"; the meta-schema reports it.
    cls = validator_for(schema, default=Draft202012Validator) if isinstance(dialect, str) else Draft202012Validator
    meta = cls(cls.META_SCHEMA, format_checker=cls.FORMAT_CHECKER)
    for error in meta.iter_errors(schema):
        problems.append(
            Problem(base + pointer(*error.absolute_path), f"not a valid JSON Schema: {_short_message(error)}")
        )
    refs: list[tuple[str, str]] = []
    scoped = _collect_refs(schema, (), refs, names=False)
    refs = [(base + where, ref) for where, ref in refs]
    for where, ref in refs:
        if not ref.startswith("#"):
            problems.append(Problem(where, f"only local references ('#/...') are allowed, not {ref!r}"))
    if problems or scoped:
        return problems  # a subschema with its own "$id" changes what "#..." means: let it be
    spec = specification_with(str(cls.META_SCHEMA.get("$id", cls.META_SCHEMA.get("id", ""))), default=DRAFT202012)
    resolver = Registry().resolver_with_root(spec.create_resource(schema))  # type: ignore[var-annotated]
    for where, ref in refs:
        try:
            resolver.lookup(ref)
        except Unresolvable:
            problems.append(Problem(where, f"{ref!r} points to nothing in inputSchema"))
    if not problems:  # regular expressions that backtrack for ever, references that never end
        problems.extend(Problem(base + where, message) for where, message in schemas.schema_problems(schema))
    return problems


def _known_dialect(dialect: str) -> bool:
    try:
        specification_with(dialect)
    except UnknownDialect:
        return False
    return True


def _collect_refs(node: Any, path: tuple[object, ...], refs: list[tuple[str, str]], names: bool) -> bool:
    """Gather each "$ref" of a schema with its pointer; True if a subschema declares its own "$id"."""
    scoped = False
    if isinstance(node, Mapping):
        for key, value in node.items():
            if not names and key == "$ref" and isinstance(value, str):
                refs.append((pointer(*path, key), value))
            elif not names and key == "$id" and isinstance(value, str):
                scoped = scoped or len(path) > 0
            elif names or key not in _DATA_KEYWORDS:
                scoped = _collect_refs(value, (*path, key), refs, names=not names and key in _NAMED_SCHEMAS) or scoped
    elif isinstance(node, list):
        for index, value in enumerate(node):
            scoped = _collect_refs(value, (*path, index), refs, names=False) or scoped
    return scoped


def _expression_problems(fields: Iterable[tuple[str, Any]]) -> list[Problem]:
    problems = []
    for where, text in fields:
        if isinstance(text, str):
            too_much = limits.expression_problem(text)  # length and nesting, before the parser recurses
            if too_much is not None:
                problems.append(Problem(where, too_much))
                continue
            try:
                compile_expression(text)
            except ExpressionError as exc:
                problems.append(Problem(where, str(exc)))
    return problems


def validate_document(document: Any, options: LanguageOptions | None = None) -> list[Problem]:
    """Every problem in a definition document, in document order."""
    if not isinstance(document, Mapping):
        return [Problem("", f"a definition must be an object, not {_json_type(document)}")]
    if limits.depth_of(document) > limits.MAX_DEPTH:
        # Parsed JSON bodies arrive here unchecked; every walk below recurses once per level.
        return [Problem("", f"the definition nests objects and arrays more than {limits.MAX_DEPTH} levels deep")]
    problems = list(_unrepresentable(document, ()))
    problems.extend(_schema_problems(_DOCUMENT_VALIDATOR, document))
    size = len(json.dumps(document, separators=(",", ":"), default=str))
    if size > limits.MAX_DEFINITION_BYTES:
        problems.append(
            Problem("", f"the definition is {size} bytes as JSON; at most {limits.MAX_DEFINITION_BYTES} are allowed")
        )
    if "inputSchema" in document and isinstance(document["inputSchema"], (dict, bool)):
        problems.extend(input_schema_problems(document["inputSchema"]))
    problems.extend(_expression_problems([("/output", document.get("output"))]))
    problems.extend(trigger_problems(document.get("triggers")))  # events (issue 15)
    attributes = document.get("searchAttributes")
    if isinstance(attributes, Mapping):
        problems.extend(_expression_problems((pointer("searchAttributes", k), v) for k, v in attributes.items()))
    steps = document.get("steps")
    if not isinstance(steps, list) or not steps:
        return problems
    problems.extend(_step_problems(steps, options or LanguageOptions()))
    return problems


def _nested_problems(options: LanguageOptions) -> Callable[[Any, str], list[Problem]]:
    """Validate a nested step list (a map's iterator, a parallel branch) as a definition of
    its own, with paths below ``path``: what :class:`CheckContext` hands a step type."""

    def nested(steps: Any, path: str) -> list[Problem]:
        found = validate_document({"id": "nested", "steps": steps}, options)
        return [Problem(path + p.path, p.message) for p in found if p.path.startswith("/steps")]

    return nested


def _step_problems(steps: list[Any], options: LanguageOptions) -> list[Problem]:
    problems: list[Problem] = []
    ctx = CheckContext(options, _nested_problems(options), input_schema_problems)
    first_index: dict[str, int] = {}
    edges: dict[str, list[tuple[str, str]]] = {}  # step id -> [(path, target)]
    ends: set[str] = set()
    usable: list[tuple[int, Mapping[str, Any]]] = []
    # Steps whose successors are unknown (unknown type, bad or unknown 'next'): already
    # reported, so they must not also be reported as loops that never end.
    opened: set[int] = set()

    for index, raw in enumerate(steps):
        path = pointer("steps", index)
        if not isinstance(raw, Mapping):
            continue  # reported by the document schema
        step_id = raw.get("id")
        type_name = raw.get("type")
        step_type = STEP_TYPES.get(type_name) if isinstance(type_name, str) else None
        known = ", ".join(sorted(STEP_TYPES))
        if "type" not in raw:
            # Like every missing field, located at the object that lacks it.
            problems.append(Problem(path, f"missing step type: 'type' is a required property (one of: {known})"))
        elif step_type is None:
            problems.append(Problem(f"{path}/type", f"unknown step type {raw.get('type')!r} (known: {known})"))
        if step_type is not None:
            schema_problems = _schema_problems(_STEP_VALIDATORS[step_type.name], raw, "steps", index)
            problems.extend(schema_problems)
            if not schema_problems:
                problems.extend(step_type.check(raw, path, ctx))
                fields = [(k, raw.get(k)) for k in COMMON_EXPRESSIONS] + step_type.expression_fields(raw)
                problems.extend(
                    _expression_problems(
                        (f"{path}/{k}" if not k.startswith("/") else path + k, text) for k, text in fields
                    )
                )
        else:
            # Unknown type: its own fields are unknown, but the common ones still have rules.
            problems.extend(_schema_problems(_COMMON_STEP_VALIDATOR, raw, "steps", index))
            opened.add(index)

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
        elif not has_end and not decides_next:
            opened.add(index)  # a 'next' that is missing or not a step id: reported above
        if step_type is not None:
            targets.extend(step_type.targets(raw, path))
        for i, catcher in enumerate(raw.get("catch") or []):
            if isinstance(catcher, Mapping) and isinstance(catcher.get("next"), str):
                targets.append((f"{path}/catch/{i}/next", catcher["next"]))
        edges[step_id] = targets
        if has_end or (decides_next and not targets):
            ends.add(step_id)

    known_ids = ", ".join(first_index)
    for source, targets in edges.items():
        for target_path, target in targets:
            if target not in first_index:
                problems.append(Problem(target_path, f"unknown step {target!r} (steps are: {known_ids})"))
                opened.add(first_index[source])

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
        seeds = ends | {raw["id"] for index, raw in usable if index in opened}
        can_end = _closure(list(seeds), lambda s: reverse.get(s, []))
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


def load_definition(document: Any, version: int = 0, options: LanguageOptions | None = None) -> Definition:
    """Validate a document and build its model; :class:`InvalidDefinition` lists every problem."""
    problems = validate_document(document, options)
    if problems:
        raise InvalidDefinition(problems)
    return parse_definition(document, version)


def input_problems(schema: Any, instance: Any) -> list[str]:
    """Every way ``instance`` breaks the definition's ``inputSchema``, as readable lines."""
    return [problem.message for problem in input_violations(schema, instance)]


def input_violations(schema: Any, instance: Any, what: str = "inputSchema") -> list[Problem]:
    """Every way ``instance`` breaks ``schema`` (the definition's ``inputSchema``, or a
    callback step's), each at its JSON Pointer in the instance and with a readable message."""
    if schema is None:
        return []
    # Within a step budget (schemas.TooComplex, a 400, when exceeded): a schema is the tenant's code.
    try:
        errors = schemas.schema_errors(schema, instance)
    except RecursionError:
        return [Problem("", f"{what} refers to itself without end; fix the definition's $ref loops")]
    problems = []
    for error in sorted(errors, key=lambda e: _document_order(e.absolute_path)):
        where = pointer(*error.absolute_path)
        problems.append(Problem(where, f"{error.message}" + (f" (at {where})" if where else "")))
    return problems


__all__ = [
    "ID_PATTERN",
    "STEP_ID_PATTERN",
    "input_problems",
    "input_schema_problems",
    "input_violations",
    "load_definition",
    "load_text",
    "validate_document",
]
