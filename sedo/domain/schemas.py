"""JSON Schema that tenants write (``inputSchema``), made safe to store and to run.

A schema runs on every execution's input, so it is checked when it is stored (size,
depth, regular expressions that can backtrack for ever, references that never end)
and evaluated under a step budget. The numbers are in :mod:`sedo.domain.limits`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from sedo.domain.errors import BadRequest, TooLarge
from sedo.domain.limits import (
    MAX_PATTERN_LENGTH,
    MAX_SCHEMA_BYTES,
    MAX_SCHEMA_DEPTH,
    MAX_SCHEMA_REF_STEPS,
    MAX_SCHEMA_STEPS,
    TooDeep,
    measure,
)


class TooComplex(BadRequest):
    title = "too complex"


# --- checks when a schema is stored ----------------------------------------------------------------------

_REGEX_KEYWORDS = ("pattern",)
_REGEX_MAPS = ("patternProperties",)
#: Keywords whose values are data, not schemas.
_DATA_KEYWORDS = frozenset({"const", "enum", "default", "examples"})


def pattern_problem(pattern: Any) -> str | None:
    """Why a regular expression may not be used in a schema, or None when it may.

    Refuses what cannot compile, what is too long, and quantifiers nested inside
    unbounded quantifiers (``(a+)+``, ``(a|aa)*b*)*``: "star height" above one), the
    shape of regular expressions whose backtracking is exponential.
    """
    if not isinstance(pattern, str):
        return "a pattern must be a string"
    if len(pattern) > MAX_PATTERN_LENGTH:
        return f"the pattern is {len(pattern)} characters long; at most {MAX_PATTERN_LENGTH} are allowed"
    try:
        parsed = _parse_regex(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        return f"not a valid regular expression: {exc}"
    if _nested_repeat(parsed, inside_unbounded=False):
        return (
            "the pattern repeats a repetition (like (a+)+ or (\\w*\\s?)*), which can take exponential time "
            "on some inputs; rewrite it without nested quantifiers"
        )
    return None


def _parse_regex(pattern: str) -> Any:
    try:
        from re import _parser as sre_parse  # type: ignore[attr-defined]
    except ImportError:  # pragma: no cover - Python < 3.11
        import sre_parse  # type: ignore[no-redef]
    return sre_parse.parse(pattern)


def _nested_repeat(items: Any, inside_unbounded: bool) -> bool:
    """Whether a repeat that can match more than once sits inside an unbounded repeat."""
    from re import _constants as c  # type: ignore[attr-defined]

    repeats = {c.MAX_REPEAT, c.MIN_REPEAT, getattr(c, "POSSESSIVE_REPEAT", c.MAX_REPEAT)}
    for op, arg in items:
        if op in repeats:
            _low, high, sub = arg
            if inside_unbounded and high > 1:
                return True
            if _nested_repeat(sub, inside_unbounded or high == c.MAXREPEAT or high > 16):
                return True
        elif op is c.SUBPATTERN:
            if _nested_repeat(arg[-1], inside_unbounded):
                return True
        elif op is c.BRANCH:
            if inside_unbounded and not _distinct_starts(arg[1], c):
                return True  # (a|aa)*: the same text splits many ways
            if any(_nested_repeat(branch, inside_unbounded) for branch in arg[1]):
                return True
        elif op in (c.ASSERT, c.ASSERT_NOT):
            if _nested_repeat(arg[1], inside_unbounded):
                return True
        elif op is getattr(c, "ATOMIC_GROUP", None):
            if _nested_repeat(arg, inside_unbounded):
                return True
        elif op is c.GROUPREF_EXISTS:
            branches = [b for b in arg[1:] if b is not None]
            if any(_nested_repeat(b, inside_unbounded) for b in branches):
                return True
    return False


def _distinct_starts(branches: Any, c: Any) -> bool:
    """Whether alternatives begin with different literal characters (so only one can match)."""
    firsts = []
    for branch in branches:
        if not len(branch) or branch[0][0] is not c.LITERAL:
            return False
        firsts.append(branch[0][1])
    return len(set(firsts)) == len(firsts)


def schema_shape_problem(schema: Any) -> str | None:
    """Size and nesting of a schema: checked before anything (a meta-schema) walks it."""
    try:
        measure(schema, MAX_SCHEMA_BYTES, MAX_SCHEMA_DEPTH, "inputSchema")
    except (TooLarge, TooDeep) as exc:
        return exc.detail
    return None


def schema_problems(schema: Any) -> list[tuple[str, str]]:
    """Limits an ``inputSchema`` must keep, as (JSON Pointer under the schema, message).

    Run after the schema passed its meta-schema. Checks size, nesting, every regular
    expression, and that evaluating it on simple values ends within the step budget
    (a ``$ref`` that refers to itself without consuming the instance never does).
    """
    if isinstance(schema, bool):
        return []
    shape = schema_shape_problem(schema)
    if shape is not None:
        return [("", shape)]
    problems: list[tuple[str, str]] = []
    for where, pattern in _patterns(schema, ""):
        message = pattern_problem(pattern)
        if message:
            problems.append((where, message))
    if problems:
        return problems
    probes: tuple[Any, ...] = (None, {}, [], "", 0)
    for probe in probes:
        try:
            schema_errors(schema, probe)
        except TooComplex as exc:
            return [("", exc.detail)]
        except RecursionError:
            return [
                (
                    "",
                    "inputSchema refers to itself without end ($ref loops): every loop must go through an object or array",
                )
            ]
        except Exception as exc:  # anything else the validator cannot do on a probe
            return [("", f"inputSchema cannot be evaluated: {exc}")]
    return []


def _patterns(node: Any, where: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            path = f"{where}/{_escape(str(key))}"
            if key in _DATA_KEYWORDS:
                continue
            if key in _REGEX_KEYWORDS and isinstance(value, str):
                yield path, value
            elif key in _REGEX_MAPS and isinstance(value, dict):
                for name, sub in value.items():
                    yield f"{path}/{_escape(str(name))}", str(name)
                    yield from _patterns(sub, f"{path}/{_escape(str(name))}")
            elif key == "propertyNames" and isinstance(value, dict):
                yield from _patterns(value, path)
            else:
                yield from _patterns(value, path)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _patterns(value, f"{where}/{index}")


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


class _Budget:
    __slots__ = ("left",)

    def __init__(self, steps: int) -> None:
        self.left = steps


_BUDGET: ContextVar[_Budget | None] = ContextVar("sedo_schema_budget", default=None)


@contextmanager
def _budget(steps: int) -> Iterator[_Budget]:
    budget = _Budget(steps)
    token = _BUDGET.set(budget)
    try:
        yield budget
    finally:
        _BUDGET.reset(token)


def _counted(keyword: Callable[..., Any], cost: int = 1) -> Callable[..., Any]:
    def run(validator: Any, value: Any, instance: Any, schema: Any) -> Iterator[Any]:
        budget = _BUDGET.get()
        if budget is not None:
            budget.left -= cost
            if budget.left < 0:
                raise TooComplex(
                    f"checking the input against inputSchema took more than {MAX_SCHEMA_STEPS} steps; "
                    "simplify the schema (fewer nested anyOf/oneOf/$ref) or send a smaller input"
                )
        errors = keyword(validator, value, instance, schema)
        if errors:
            yield from errors

    return run


def _unique_items(validator: Any, unique: Any, instance: Any, schema: Any) -> Iterator[Any]:
    """``uniqueItems`` in linear time (jsonschema's falls back to comparing every pair)."""
    if not unique or not validator.is_type(instance, "array"):
        return
    from jsonschema.exceptions import ValidationError

    seen: set[str] = set()
    for item in instance:
        canonical = json.dumps(_normalised(item), sort_keys=True, separators=(",", ":"))
        if canonical in seen:
            yield ValidationError("the array has non-unique elements (uniqueItems)")
            return
        seen.add(canonical)


def _normalised(value: Any) -> Any:
    """JSON Schema equality: 1 == 1.0, but true != 1."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return float(value) if value != int(value) else int(value)
    if isinstance(value, dict):
        return {k: _normalised(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalised(v) for v in value]
    return value


_BOUNDED: dict[type, type] = {}


def bounded_validator_class(cls: type) -> type:
    """``cls`` (a jsonschema validator class) with every keyword counted against the budget."""
    bounded = _BOUNDED.get(cls)
    if bounded is None:
        from jsonschema.validators import extend

        keywords = {
            name: _counted(fn, MAX_SCHEMA_REF_STEPS if name.lower().endswith("ref") else 1)
            for name, fn in cls.VALIDATORS.items()  # type: ignore[attr-defined]
        }
        if "uniqueItems" in keywords:
            keywords["uniqueItems"] = _counted(_unique_items)
        bounded = extend(cls, keywords)  # type: ignore[no-untyped-call]
        _BOUNDED[cls] = bounded
    return bounded


def schema_errors(schema: Any, instance: Any, steps: int = MAX_SCHEMA_STEPS) -> list[Any]:
    """Every jsonschema error of ``instance`` under ``schema``, within ``steps`` keyword evaluations.

    :class:`TooComplex` when the budget runs out; RecursionError propagates for a
    schema whose references never end (refused at store time by :func:`schema_problems`).
    """
    from jsonschema import Draft202012Validator
    from jsonschema.validators import validator_for

    cls = bounded_validator_class(validator_for(schema, default=Draft202012Validator))
    validator = cls(schema, format_checker=cls.FORMAT_CHECKER)  # type: ignore[attr-defined]
    with _budget(steps):
        return list(validator.iter_errors(instance))
