"""EventBridge event patterns: validate one (every problem with its JSON Pointer) and match events.

The pattern language of Amazon EventBridge rules
(https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns.html):

- a pattern is an object; a key whose value is an object matches the event's field of
  that name as a nested pattern; a key whose value is an array lists the values the
  field may have (any one of them matches);
- a field that holds an array matches when any of its elements matches;
- the values are exact values (strings, numbers compared as numbers, ``null``,
  booleans) or content filters: ``{"prefix": s}``, ``{"suffix": s}``,
  ``{"equals-ignore-case": s}``, ``{"wildcard": "a*b"}``, ``{"anything-but": v | [v...] |
  {"prefix": s} | {"suffix": s}}``, ``{"numeric": [">", 0, "<=", 5]}``, ``{"exists": b}``,
  ``{"cidr": "10.0.0.0/24"}``;
- ``"$or": [pattern, ...]`` at any level matches when one of the patterns does.

A field that is missing matches only ``{"exists": false}``. Pure; no library of
EventBridge's own exists for Python, and moto's matcher is a test dependency.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from sedo.domain.errors import Problem
from sedo.domain.limits import MAX_EVENT_PATTERN_BYTES

#: EventBridge's numeric matching works on numbers within this range.
NUMERIC_LIMIT = 5e9
_LOWER = (">", ">=")
_UPPER = ("<", "<=")
_MISSING = object()
_FILTERS = ("prefix", "suffix", "equals-ignore-case", "wildcard", "anything-but", "numeric", "exists", "cidr")


def _ptr(base: str, *parts: object) -> str:
    return base + "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


# --- validation -----------------------------------------------------------------------


def pattern_problems(pattern: Any, base: str = "") -> list[Problem]:
    """Every problem of an event pattern found at ``base`` (a JSON Pointer), in document order."""
    if not isinstance(pattern, Mapping):
        return [Problem(base, "an event pattern is an object, e.g. {source: [shop.orders]}")]
    if not pattern:
        return [Problem(base, "an event pattern needs at least one field to match")]
    size = len(json.dumps(pattern, separators=(",", ":"), default=str))
    if size > MAX_EVENT_PATTERN_BYTES:
        return [Problem(base, f"the pattern is {size} bytes as JSON; at most {MAX_EVENT_PATTERN_BYTES} are allowed")]
    return list(_object_problems(pattern, base))


def _object_problems(pattern: Mapping[str, Any], base: str) -> Iterable[Problem]:
    for key, value in pattern.items():
        where = _ptr(base, key)
        if key == "$or":
            if not isinstance(value, list) or len(value) < 2:
                yield Problem(where, "$or takes an array of at least two patterns")
                continue
            for index, option in enumerate(value):
                if not isinstance(option, Mapping) or not option:
                    yield Problem(_ptr(where, index), "each $or alternative is a non-empty pattern object")
                else:
                    yield from _object_problems(option, _ptr(where, index))
        elif isinstance(value, Mapping):
            if not value:
                yield Problem(where, "a nested pattern needs at least one field")
            else:
                yield from _object_problems(value, where)
        elif isinstance(value, list):
            if not value:
                yield Problem(where, "an empty array matches nothing: list at least one value")
            for index, matcher in enumerate(value):
                yield from _matcher_problems(matcher, _ptr(where, index))
        else:
            yield Problem(
                where,
                f"the values a field may have are an array (write [{json.dumps(value)}]) or a nested pattern object",
            )


def _matcher_problems(matcher: Any, where: str) -> Iterable[Problem]:
    if matcher is None or isinstance(matcher, (str, bool, int, float)):
        return
    if isinstance(matcher, list):
        yield Problem(where, "a value to match is a string, number, boolean, null or a content filter object")
        return
    if len(matcher) != 1:
        yield Problem(where, f"a content filter has exactly one of: {', '.join(_FILTERS)}")
        return
    ((name, arg),) = matcher.items()
    at = _ptr(where, name)
    if name in ("prefix", "suffix"):
        if isinstance(arg, Mapping) and set(arg) == {"equals-ignore-case"}:
            arg = arg["equals-ignore-case"]
            at = _ptr(at, "equals-ignore-case")
        if not isinstance(arg, str):
            yield Problem(at, f"{name} takes a string")
    elif name == "equals-ignore-case":
        if not isinstance(arg, str):
            yield Problem(at, "equals-ignore-case takes a string")
    elif name == "wildcard":
        if not isinstance(arg, str):
            yield Problem(at, "wildcard takes a string (* matches any characters)")
        elif "**" in arg:
            yield Problem(at, "wildcard may not have two * in a row")
    elif name == "exists":
        if not isinstance(arg, bool):
            yield Problem(at, "exists takes true or false")
    elif name == "cidr":
        try:
            if not isinstance(arg, str):
                raise ValueError(arg)
            ipaddress.ip_network(arg, strict=False)
        except ValueError:
            yield Problem(at, "cidr takes an IP network, e.g. 10.0.0.0/24")
    elif name == "numeric":
        yield from _numeric_problems(arg, at)
    elif name == "anything-but":
        yield from _anything_but_problems(arg, at)
    else:
        yield Problem(_ptr(where, name), f"unknown content filter {name!r} (known: {', '.join(_FILTERS)})")


def _numeric_problems(arg: Any, at: str) -> Iterable[Problem]:
    if not isinstance(arg, list) or len(arg) not in (2, 4):
        yield Problem(at, "numeric takes [op, n] or [lower op, n, upper op, n], e.g. ['>', 0, '<=', 5]")
        return
    sides: list[str] = []
    for index in range(0, len(arg), 2):
        op, value = arg[index], arg[index + 1]
        if op not in ("=", *_LOWER, *_UPPER):
            yield Problem(_ptr(at, index), f"unknown numeric operator {op!r} (one of =, <, <=, >, >=)")
        else:
            sides.append("lower" if op in _LOWER else "upper" if op in _UPPER else "=")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or abs(value) > NUMERIC_LIMIT:
            yield Problem(
                _ptr(at, index + 1), f"a numeric bound is a number between -{NUMERIC_LIMIT:g} and {NUMERIC_LIMIT:g}"
            )
    if len(arg) == 4 and len(sides) == 2 and sorted(sides) != ["lower", "upper"]:
        yield Problem(at, "a numeric range has one lower (>, >=) and one upper (<, <=) bound")


def _anything_but_problems(arg: Any, at: str) -> Iterable[Problem]:
    if isinstance(arg, Mapping):
        if (
            len(arg) != 1
            or next(iter(arg)) not in ("prefix", "suffix")
            or not isinstance(next(iter(arg.values())), str)
        ):
            yield Problem(at, "anything-but takes a value, an array of values, or {prefix: s} / {suffix: s}")
        return
    values = arg if isinstance(arg, list) else [arg]
    if not values:
        yield Problem(at, "anything-but needs at least one value")
    for index, value in enumerate(values):
        if not (value is None or isinstance(value, (str, int, float, bool))):
            yield Problem(_ptr(at, index) if isinstance(arg, list) else at, "anything-but lists strings or numbers")


# --- matching -------------------------------------------------------------------------


def matches(pattern: Mapping[str, Any], event: Any) -> bool:
    """Whether ``event`` (an EventBridge event, or any JSON object) matches a valid ``pattern``."""
    for key, expected in pattern.items():
        if key == "$or":
            if not any(matches(option, event) for option in expected):
                return False
            continue
        value = event.get(key, _MISSING) if isinstance(event, Mapping) else _MISSING
        if isinstance(expected, Mapping):
            if not _nested(expected, value):
                return False
        elif not any(_leaf(matcher, value) for matcher in expected):
            return False
    return True


def _nested(pattern: Mapping[str, Any], value: Any) -> bool:
    if isinstance(value, list):
        return any(isinstance(item, Mapping) and matches(pattern, item) for item in value)
    if isinstance(value, Mapping):
        return matches(pattern, value)
    # A missing object still matches a nested pattern made only of {exists: false}.
    return matches(pattern, {})


def _leaf(matcher: Any, value: Any) -> bool:
    if isinstance(matcher, Mapping) and "exists" in matcher:
        return (value is not _MISSING) == bool(matcher["exists"])
    if value is _MISSING:
        return False
    values = value if isinstance(value, list) else [value]
    return any(_one(matcher, item) for item in values)


def _same(expected: Any, value: Any) -> bool:
    if expected is None or value is None:
        return expected is value
    if isinstance(expected, bool) or isinstance(value, bool):
        return isinstance(expected, bool) and isinstance(value, bool) and expected == value
    if isinstance(expected, (int, float)) and isinstance(value, (int, float)):
        return float(expected) == float(value)
    return isinstance(expected, str) and isinstance(value, str) and expected == value


def _one(matcher: Any, value: Any) -> bool:
    if not isinstance(matcher, Mapping):
        return _same(matcher, value)
    ((name, arg),) = matcher.items()
    if name == "numeric":
        return _numeric(arg, value)
    if name == "anything-but":
        if isinstance(arg, Mapping):
            return isinstance(value, str) and not _one(arg, value)
        return not any(_same(other, value) for other in (arg if isinstance(arg, list) else [arg]))
    if name == "cidr":
        try:
            return isinstance(value, str) and ipaddress.ip_address(value) in ipaddress.ip_network(arg, strict=False)
        except ValueError:
            return False
    if not isinstance(value, str):
        return False
    fold = isinstance(arg, Mapping)
    text = arg["equals-ignore-case"] if fold else arg
    if name == "prefix":
        return value.casefold().startswith(text.casefold()) if fold else value.startswith(text)
    if name == "suffix":
        return value.casefold().endswith(text.casefold()) if fold else value.endswith(text)
    if name == "equals-ignore-case":
        return value.casefold() == str(arg).casefold()
    if name == "wildcard":
        return _wildcard(str(arg)).fullmatch(value) is not None
    return False


def _numeric(arg: list[Any], value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    for index in range(0, len(arg), 2):
        op, bound = arg[index], float(arg[index + 1])
        ok = {
            "=": value == bound,
            ">": value > bound,
            ">=": value >= bound,
            "<": value < bound,
            "<=": value <= bound,
        }[op]
        if not ok:
            return False
    return True


@lru_cache(maxsize=256)
def _wildcard(text: str) -> re.Pattern[str]:
    parts = re.split(r"(?<!\\)\*", text)
    return re.compile(".*".join(re.escape(part.replace("\\*", "*")) for part in parts), re.DOTALL)


# --- indexing ---------------------------------------------------------------------------


def exact_values(pattern: Mapping[str, Any], field: str) -> list[str] | None:
    """The exact strings a top-level ``field`` must be one of, or None when the pattern does not
    pin it that way (sedo indexes triggers and waiting steps by ``source`` and ``detail-type``)."""
    values = pattern.get(field)
    if isinstance(values, list) and values and all(isinstance(v, str) for v in values):
        return list(values)
    return None
