"""JMESPath, compiled once and evaluated safely.

Expressions select a step's input from the stash, shape its output and decide
choices. They are data, never code: JMESPath has no way to call out. Besides the
standard functions they may call sedo's own (:mod:`sedo.domain.functions`); an
expression naming any other function does not compile.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError
from jmespath.parser import ParsedResult

from sedo.domain.functions import FUNCTION_NAMES, FUNCTIONS
from sedo.domain.limits import MAX_EXPRESSION_LENGTH

_OPTIONS = jmespath.Options(custom_functions=FUNCTIONS)


class ExpressionError(ValueError):
    """An expression that does not compile, or fails on the data it is given."""


@lru_cache(maxsize=1024)
def compile_expression(text: str) -> ParsedResult:
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(f"expression is longer than {MAX_EXPRESSION_LENGTH} characters")
    try:
        parsed = jmespath.compile(text)
    except JMESPathError as exc:
        raise ExpressionError(f"not a valid JMESPath expression: {_one_line(exc)}") from exc
    unknown = sorted(_function_names(parsed.parsed) - FUNCTION_NAMES)
    if unknown:
        raise ExpressionError(f"unknown function {unknown[0]}() (known: {', '.join(sorted(FUNCTION_NAMES))})")
    return parsed


def _function_names(node: Any) -> set[str]:
    names: set[str] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            if current.get("type") == "function_expression":
                names.add(str(current.get("value")))
            stack.extend(current.get("children", []))
    return names


def evaluate(text: str, data: Any) -> Any:
    try:
        return compile_expression(text).search(data, options=_OPTIONS)
    except JMESPathError as exc:
        raise ExpressionError(f"{text!r} failed: {_one_line(exc)}") from exc
    except (TypeError, ValueError, RecursionError) as exc:
        raise ExpressionError(f"{text!r} failed: {exc}") from exc


def truthy(value: Any) -> bool:
    """JMESPath truthiness: false, null, "", [] and {} are false; everything else true."""
    return not (value is None or value is False or value in ("", [], {}))


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())
