"""What sedo accepts, in one place: sizes, nesting, expression and schema limits.

Every limit here exists so that no request and no workflow can make sedo run
unbounded or produce a record its stores cannot hold:

- a DynamoDB item holds at most 400 KB (the execution head, a definition version,
  a history segment); an SQS message at most 256 KB;
- JSON and YAML parsers, the definition validator and JMESPath recurse, so nesting
  is capped well below Python's recursion limit;
- a tenant's ``inputSchema`` runs on every execution's input, so it is checked when
  it is stored (size, depth, regular expressions that can backtrack for ever,
  references that never end) and evaluated under a step budget.

The checks are pure functions of their arguments: the API, the definition language,
the engine and the step library call them. Sizes are measured as sedo stores values:
compact JSON with non-ASCII characters escaped (``json.dumps(v, separators=(",", ":"))``).

Nothing here evaluates user text as code: JMESPath and JSON Schema are data
languages, and regular expressions are only compiled after the checks below.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from sedo.domain.errors import BadRequest, TooLarge

KIB = 1024

#: An HTTP request body (JSON or YAML), before parsing. API Gateway and Lambda allow
#: more; sedo stops here so a body is never buffered or parsed beyond what it can store.
MAX_REQUEST_BYTES = 512 * KIB
#: A definition, as stored (compact JSON): one DynamoDB item per version.
MAX_DEFINITION_BYTES = 256 * KIB
#: An execution's input (compact JSON). The execution head holds it up to three times
#: (the input, the stash's ``input`` and the submitted event) in one 400 KB item.
MAX_INPUT_BYTES = 64 * KIB
#: One value a step writes into the stash (its output, an error), or a callback's output.
MAX_STASH_VALUE_BYTES = 64 * KIB
#: The whole execution head (state, stash, outbox, pending events), as stored. DynamoDB's
#: item limit is 400 KB including attribute names and keys; this leaves room for them.
MAX_HEAD_BYTES = 350 * KIB
#: One SQS message body (SQS's own limit is 256 KiB).
MAX_MESSAGE_BYTES = 240 * KIB

#: Nesting of JSON/YAML documents and values: objects and arrays inside each other.
MAX_DEPTH = 64

#: A bearer token (the Authorization value after ``Bearer``): longer ones are refused
#: before any parsing (sedo/auth/verifier.py).
MAX_TOKEN_LENGTH = 16 * KIB
#: The lifetime of a token ``sedo token`` mints for the local stack (sedo/auth/local.py).
MAX_LOCAL_TTL_SECONDS = 366 * 86400

#: JMESPath expressions: length, and nesting of brackets/parentheses.
MAX_EXPRESSION_LENGTH = 4096
MAX_EXPRESSION_DEPTH = 32

#: ``inputSchema``: size (compact JSON), nesting, regular expressions, and the number of
#: keyword evaluations one validation may take (JSON Schema's ``anyOf``/``$ref`` can
#: otherwise combine into exponential work).
MAX_SCHEMA_BYTES = 64 * KIB
MAX_SCHEMA_DEPTH = 32
MAX_PATTERN_LENGTH = 1024
MAX_SCHEMA_STEPS = 100_000
#: A reference costs more than other keywords (it is resolved each time): it counts as this many steps.
_REF_STEPS = 25


class TooDeep(BadRequest):
    title = "too deeply nested"


class TooComplex(BadRequest):
    title = "too complex"


# --- sizes and nesting of values ----------------------------------------------------


def _scalar_size(value: Any) -> int:
    if value is None or value is True:
        return 4
    if value is False:
        return 5
    if isinstance(value, str):
        return len(json.dumps(value))
    if isinstance(value, (int, float)):
        return len(json.dumps(value))
    return len(json.dumps(str(value)))


def measure(value: Any, max_bytes: int, max_depth: int = MAX_DEPTH, what: str = "the value") -> int:
    """The compact-JSON size of ``value``; :class:`TooLarge` / :class:`TooDeep` past the limits.

    Walks the value without serialising it and stops as soon as a limit is passed, so
    it is cheap even for values built to be huge (a JMESPath result that repeats the
    same list many times is measured by reference, and abandoned at ``max_bytes``).
    """
    total = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            depth += 1
            if depth > max_depth:
                raise TooDeep(f"{what} nests objects and arrays more than {max_depth} levels deep")
            total += 1 + max(1, len(node))  # braces and commas
            for key, child in node.items():
                total += _scalar_size(key if isinstance(key, str) else str(key)) + 1
                stack.append((child, depth))
        elif isinstance(node, (list, tuple)):
            depth += 1
            if depth > max_depth:
                raise TooDeep(f"{what} nests objects and arrays more than {max_depth} levels deep")
            total += 1 + max(1, len(node))
            stack.extend((child, depth) for child in node)
        elif isinstance(node, str) and len(node) > max_bytes:
            total += len(node)
        else:
            total += _scalar_size(node)
        if total > max_bytes:
            raise TooLarge(f"{what} is larger than {_kib(max_bytes)} as JSON; make it smaller")
    return total


def depth_of(value: Any) -> int:
    """How deeply objects and arrays nest in ``value`` (a scalar is 0, ``[]`` is 1)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            stack.extend((child, depth + 1) for child in node.values())
            deepest = max(deepest, depth + 1)
        elif isinstance(node, (list, tuple)):
            stack.extend((child, depth + 1) for child in node)
            deepest = max(deepest, depth + 1)
    return deepest


def _kib(n: int) -> str:
    return f"{n // KIB} KiB" if n % KIB == 0 else f"{n} bytes"


def check_definition(document: Any) -> None:
    measure(document, MAX_DEFINITION_BYTES, MAX_DEPTH, "the definition")


def check_input(value: Any) -> None:
    measure(value, MAX_INPUT_BYTES, MAX_DEPTH, "the execution input")


def check_stash_value(value: Any, what: str = "the step's result") -> None:
    """For the engine and step library: before a value goes into the stash."""
    measure(value, MAX_STASH_VALUE_BYTES, MAX_DEPTH, what)


def head_size(document: Any) -> int:
    """The stored size of an execution head document (raises past :data:`MAX_HEAD_BYTES`)."""
    return measure(document, MAX_HEAD_BYTES, MAX_DEPTH + 8, "the execution's state")


# --- text, before it is parsed ----------------------------------------------------

# A JSON string (with escapes), or one bracket. Strings are matched whole so the
# brackets inside them do not count.
_JSON_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')
_OPEN = frozenset(b"[{")


def json_text_too_deep(text: bytes | str, max_depth: int = MAX_DEPTH) -> bool:
    """Whether JSON text nests deeper than ``max_depth``; a linear scan, no parsing.

    ``json.loads`` recurses once per level, so this runs first: a body of 100 000
    ``[`` is refused in microseconds instead of exhausting the stack.
    """
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    if data.count(b"[") + data.count(b"{") <= max_depth:
        return False
    depth = 0
    for match in _JSON_TOKENS.finditer(data):
        first = data[match.start()]
        if first in _OPEN:
            depth += 1
            if depth > max_depth:
                return True
        elif first != 0x22:  # a closing bracket
            depth -= 1
    return False


def check_json_text(text: bytes | str, what: str = "the body") -> None:
    if json_text_too_deep(text):
        raise TooDeep(f"{what} nests objects and arrays more than {MAX_DEPTH} levels deep")


# --- JMESPath -----------------------------------------------------------------------

# JMESPath quoting: 'raw strings', "quoted identifiers" and `JSON literals`.
_EXPRESSION_TOKENS = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[\[\]{}()`]")


def expression_problem(text: Any) -> str | None:
    """Why a JMESPath expression may not be stored, or None when it may.

    Checks length and nesting before compiling (the parser recurses), then compiles.
    Evaluation is bounded by the data it runs on; callers then check the size of the
    result with :func:`check_stash_value` before storing it (an expression such as
    ``[@, @] | [@, @] | ...`` doubles its input at each stage).
    """
    if not isinstance(text, str):
        return "an expression must be a string"
    if len(text) > MAX_EXPRESSION_LENGTH:
        return f"the expression is {len(text)} characters long; at most {MAX_EXPRESSION_LENGTH} are allowed"
    depth = 0
    in_literal = False
    for match in _EXPRESSION_TOKENS.finditer(text):
        lexeme = match.group()
        if lexeme == "`":
            in_literal = not in_literal
            continue
        first = lexeme[0]
        if first in "'\"":
            continue
        if first in "[{(":
            depth += 1
            if depth > MAX_EXPRESSION_DEPTH:
                return f"the expression nests brackets more than {MAX_EXPRESSION_DEPTH} levels deep"
        else:
            depth -= 1
    import jmespath
    from jmespath.exceptions import JMESPathError

    try:
        jmespath.compile(text)
    except JMESPathError as exc:
        return "not a valid JMESPath expression: " + " ".join(str(exc).split())
    except RecursionError:  # pragma: no cover - the depth check comes first
        return f"the expression nests more than {MAX_EXPRESSION_DEPTH} levels deep"
    return None


# --- JSON Schema ----------------------------------------------------------------------

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
            name: _counted(fn, _REF_STEPS if name.lower().endswith("ref") else 1)
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


__all__ = [
    "MAX_DEFINITION_BYTES",
    "MAX_DEPTH",
    "MAX_EXPRESSION_DEPTH",
    "MAX_EXPRESSION_LENGTH",
    "MAX_HEAD_BYTES",
    "MAX_INPUT_BYTES",
    "MAX_MESSAGE_BYTES",
    "MAX_PATTERN_LENGTH",
    "MAX_REQUEST_BYTES",
    "MAX_SCHEMA_BYTES",
    "MAX_SCHEMA_STEPS",
    "MAX_STASH_VALUE_BYTES",
    "TooComplex",
    "TooDeep",
    "TooLarge",
    "check_definition",
    "check_input",
    "check_json_text",
    "check_stash_value",
    "depth_of",
    "expression_problem",
    "head_size",
    "json_text_too_deep",
    "measure",
    "pattern_problem",
    "schema_errors",
    "schema_problems",
    "schema_shape_problem",
]
