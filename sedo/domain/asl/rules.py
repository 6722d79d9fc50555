"""Choice rules as JMESPath conditions, with Step Functions' typing.

A comparison whose variable has the wrong type is false, never an error (JMESPath
would raise comparing a string to a number, or call ``true`` equal to nothing): each
operator tests the type first. Timestamps compare as instants (``epoch_seconds``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sedo.domain.asl.paths import Context, Refused, compose, literal, path_expression, pointer, resolve
from sedo.domain.timefmt import parse_ts

_KINDS = {"String": "string", "Numeric": "number", "Boolean": "boolean", "Timestamp": "timestamp"}
_OPS = {"Equals": "==", "LessThan": "<", "GreaterThan": ">", "LessThanEquals": "<=", "GreaterThanEquals": ">="}
_TESTS = {"IsNumeric": "number", "IsString": "string", "IsBoolean": "boolean"}
OPERATORS = sorted(
    [f"{k}{o}{p}" for k in _KINDS for o in _OPS for p in ("", "Path") if k != "Boolean" or o == "Equals"]
    + ["StringMatches", "IsNull", "IsPresent", "IsTimestamp", *_TESTS]
)


def condition(rule: Any, ctx: Context, where: str, top: bool) -> str:
    """The JMESPath condition of one choice rule (``top``: a rule of Choices, which has Next)."""
    if not isinstance(rule, Mapping):
        raise Refused(where, "a choice rule must be an object")
    allowed = {"Next", "Comment"} if top else {"Comment"}
    combinators = [k for k in ("And", "Or", "Not") if k in rule]
    if combinators:
        extra = sorted(set(rule) - allowed - set(combinators))
        if extra or len(combinators) > 1:
            raise Refused(where, f"a rule with {combinators[0]} takes no other operator ({', '.join(extra)})")
        name = combinators[0]
        operand = rule[name]
        if name == "Not":
            return f"!({condition(operand, ctx, f'{where}/Not', False)})"
        if not isinstance(operand, list) or not operand:
            raise Refused(f"{where}/{name}", f"{name} needs a non-empty array of rules")
        joiner = " && " if name == "And" else " || "
        return joiner.join(f"({condition(r, ctx, f'{where}/{name}/{i}', False)})" for i, r in enumerate(operand))
    if "Variable" not in rule:
        raise Refused(where, "a choice rule needs Variable (or And, Or, Not)")
    operators = sorted(set(rule) - allowed - {"Variable"})
    if len(operators) != 1:
        raise Refused(where, f"a choice rule needs exactly one comparison operator, not {operators}")
    op = operators[0]
    if op not in OPERATORS:
        raise Refused(f"{where}/{op}", f"unknown comparison operator {op!r} (known: {', '.join(OPERATORS)})")
    variable_where = f"{where}/Variable"
    value = rule[op]
    if op == "IsPresent":
        _boolean(value, f"{where}/{op}")
        base, parts = resolve(rule["Variable"], ctx, variable_where)
        args = ", ".join([base, *(literal(p) for p in parts)])
        return f"has_path({args})" if value else f"!has_path({args})"
    v = path_expression(rule["Variable"], ctx, variable_where)
    return _comparison(op, v, value, ctx, f"{where}/{op}")


def _boolean(value: Any, where: str) -> None:
    if not isinstance(value, bool):
        raise Refused(where, f"must be true or false, not {value!r}")


def _comparison(op: str, v: str, value: Any, ctx: Context, where: str) -> str:
    if op in _TESTS:
        _boolean(value, where)
        return f"type({v}) {'==' if value else '!='} '{_TESTS[op]}'"
    if op == "IsNull":
        _boolean(value, where)
        return f"{v} {'==' if value else '!='} `null`"
    if op == "IsTimestamp":
        _boolean(value, where)
        return f"epoch_seconds({v}) {'!=' if value else '=='} `null`"
    if op == "StringMatches":
        if not isinstance(value, str):
            raise Refused(where, f"StringMatches needs a string pattern, not {value!r}")
        return f"glob_match({v}, {literal(value)})"
    kind_name = next(k for k in _KINDS if op.startswith(k))
    rest = op[len(kind_name) :]
    is_path = rest.endswith("Path")
    symbol = _OPS[rest[:-4] if is_path else rest]
    kind = _KINDS[kind_name]
    other = path_expression(value, ctx, where) if is_path else _operand(kind, value, where)
    if kind == "timestamp":
        left = f"epoch_seconds({v})"
        right = f"epoch_seconds({other})" if is_path else other
        return f"{left} != `null` && {left} {symbol} {right}"
    guards = [f"type({v}) == '{kind}'"]
    if is_path:
        guards.append(f"type({other}) == '{kind}'")
    return " && ".join([*guards, f"{v} {symbol} {other}"])


def _operand(kind: str, value: Any, where: str) -> str:
    if kind == "timestamp":
        try:
            return literal(parse_ts(value).timestamp())
        except ValueError:
            raise Refused(where, f"{value!r} is not an RFC 3339 timestamp") from None
    ok = {
        "string": isinstance(value, str),
        "number": isinstance(value, (int, float)) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
    }[kind]
    if not ok:
        raise Refused(where, f"needs a {kind}, not {value!r}")
    return literal(value)


def choices(state: Mapping[str, Any], ctx: Context, where: str, ids: Mapping[str, str]) -> list[dict[str, str]]:
    """The sedo ``choices`` of a Choice state; :class:`Refused` at the first rule that does not translate."""
    found: list[dict[str, str]] = []
    rules = state.get("Choices")
    if not isinstance(rules, list) or not rules:
        raise Refused(where, "a Choice state needs a non-empty Choices array")
    for index, rule in enumerate(rules):
        rule_where = f"{where}/Choices/{index}"
        when = condition(rule, ctx, rule_where, True)
        target = rule.get("Next") if isinstance(rule, Mapping) else None
        if not isinstance(target, str) or target not in ids:
            raise Refused(f"{rule_where}/Next", f"Next must name a state of this machine, not {target!r}")
        found.append({"when": when, "next": ids[target]})
    return found


__all__ = ["choices", "compose", "condition", "pointer"]
