"""sedo.domain.limits: sizes, nesting, JMESPath, regular expressions and schema budgets."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sedo.domain import limits, schemas
from sedo.domain.errors import TooLarge
from sedo.domain.language import input_problems, load_text, validate_document

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=30,
)


@given(JSON)
def test_measure_is_the_stored_size(value: Any) -> None:
    stored = len(json.dumps(value, separators=(",", ":")))
    assert limits.measure(value, 10**9, 10**6) == stored
    assert limits.depth_of(value) <= 10**6


def test_measure_stops_at_the_limit_without_serialising_a_huge_value() -> None:
    shared: Any = ["x" * 100]
    for _ in range(60):
        shared = [shared, shared]  # 2**60 references: serialising would never end
    with pytest.raises(TooLarge, match="larger than 64 KiB"):  # it returns (serialising would never end)
        limits.measure(shared, 64 * limits.KIB, limits.MAX_DEPTH, "the value")


def test_measure_refuses_deep_nesting_with_a_readable_message() -> None:
    deep: Any = 1
    for _ in range(limits.MAX_DEPTH + 1):
        deep = {"a": deep}
    with pytest.raises(limits.TooDeep, match="more than 64 levels"):
        limits.check_input(deep)
    limits.check_input(deep["a"])  # exactly at the limit


def test_the_documented_value_limits() -> None:
    """Inputs and step or callback outputs up to 10 MiB (kept apart from the head); bodies up to
    5 MiB (API Gateway's event within Lambda's 6 MB synchronous payload); one head 350 KiB."""
    assert limits.MAX_INPUT_BYTES == limits.MAX_STASH_VALUE_BYTES == 10 * 1024 * 1024
    assert limits.MAX_REQUEST_BYTES == 5 * 1024 * 1024 < 6 * 1000 * 1000
    assert limits.MAX_HEAD_BYTES == 350 * 1024 < 400 * 1000
    assert limits.CLAIM_THRESHOLD_BYTES < limits.MAX_ITEM_PAYLOAD_BYTES < limits.MAX_HEAD_BYTES
    assert limits.MAX_SIGNAL_BYTES < 256 * 1024  # one SQS message
    limits.check_stash_value("x" * (limits.MAX_STASH_VALUE_BYTES - 2))
    with pytest.raises(TooLarge, match="larger than 10 MiB"):
        limits.check_stash_value("x" * (limits.MAX_STASH_VALUE_BYTES - 1))


def test_causes_are_cut_and_say_so() -> None:
    assert limits.clip_cause("short") == "short"
    cut = limits.clip_cause("c" * 100_000)
    assert len(cut) <= limits.MAX_CAUSE_CHARS + 10 and cut.endswith("more characters)")


def test_input_is_measured_with_escapes_as_stored() -> None:
    limits.check_input("x" * (limits.MAX_INPUT_BYTES - 2))
    with pytest.raises(TooLarge):
        limits.check_input("é" * (limits.MAX_INPUT_BYTES // 6 + 1))


@pytest.mark.parametrize(
    ("text", "deep"),
    [
        (b"[" * 65 + b"]" * 65, True),
        (b"[" * 64 + b"]" * 64, False),
        (b"[" * 1_000_000, True),
        (b'{"a": "' + b"[" * 1000 + b'"}', False),  # brackets inside strings do not count
        (b'["\\"[[[[' + b"[" * 100 + b'"]', False),  # nor after an escaped quote
        (b"[" * 30 + b"]" * 30 + b"[" * 30 + b"]" * 30, False),
    ],
)
def test_json_text_depth_is_found_without_parsing(text: bytes, deep: bool) -> None:
    assert limits.json_text_too_deep(text) is deep


def test_deep_text_is_refused_by_the_loader_whatever_the_format() -> None:
    for body, media in (
        (b"[" * 100_000, "application/json"),
        (b"[" * 100_000, "application/yaml"),
        ("".join(f"{'  ' * i}a{i}:\n" for i in range(70)).encode(), "application/yaml"),
    ):
        with pytest.raises(Exception, match="levels deep") as caught:
            load_text(body, media)
        assert getattr(caught.value, "status", None) == 400


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("orders[?qty > `1`].sku", None),
        ("input.items[*].{sku: sku, qty: qty}", None),
        ("a" * (limits.MAX_EXPRESSION_LENGTH + 1), "characters long"),
        ("(" * 40 + "a" + ")" * 40, "levels deep"),
        ("`" + "[" * 40 + "]" * 40 + "`", "levels deep"),
        ("a.[", "not a valid JMESPath"),
        ("'((((((((((((((((((((((((((((((((((((((((('", None),  # inside a raw string
        (42, "must be a string"),
    ],
)
def test_expression_problem(expression: Any, problem: str | None) -> None:
    found = limits.expression_problem(expression)
    assert (found is None) if problem is None else (problem in (found or "")), found


@pytest.mark.parametrize(
    ("pattern", "safe"),
    [
        ("^[a-z0-9-]{1,63}$", True),
        (r"^\d{3}-\d{4}$", True),
        (r"(\d{1,3}\.){3}\d{1,3}", True),
        ("(foo|bar)*", True),
        ("^(a+)+$", False),
        (r"(\w*\s?)*$", False),
        ("(a|aa)*b", False),
        ("(?:x*)*", False),
        ("(a{2}){1,100}", False),
        ("a" * (limits.MAX_PATTERN_LENGTH + 1), False),
        ("[unclosed", False),
    ],
)
def test_patterns_that_can_backtrack_for_ever_are_refused(pattern: str, safe: bool) -> None:
    assert (schemas.pattern_problem(pattern) is None) is safe


def test_a_refused_pattern_would_really_have_taken_long() -> None:
    import re

    started = time.monotonic()
    re.match("^(a+)+$", "a" * 22 + "!")
    assert time.monotonic() - started > 0.05  # exponential; at 40 characters, hours


def _exponential_schema(levels: int = 30) -> dict[str, Any]:
    defs: dict[str, Any] = {f"l{i}": {"anyOf": [{"$ref": f"#/$defs/l{i + 1}"}] * 2} for i in range(levels)}
    defs[f"l{levels}"] = {"type": "string"}
    return {"$defs": defs, "$ref": "#/$defs/l0"}


def test_schema_evaluation_is_bounded_by_a_step_budget() -> None:
    started = time.monotonic()
    with pytest.raises(schemas.TooComplex, match="steps"):
        schemas.schema_errors(_exponential_schema(), 1)
    assert time.monotonic() - started < 5
    # and such a schema is refused when the definition is stored
    document = {
        "id": "x",
        "inputSchema": _exponential_schema(),
        "steps": [{"id": "a", "type": "echo", "message": "m", "end": True}],
    }
    assert any("steps" in p.message for p in validate_document(document))


def test_unique_items_is_linear() -> None:
    many = [{"n": i} for i in range(20_000)]
    started = time.monotonic()
    assert input_problems({"type": "array", "uniqueItems": True}, many) == []
    assert input_problems({"uniqueItems": True}, [*many, {"n": 5}]) == [
        "the array has non-unique elements (uniqueItems)"
    ]
    assert time.monotonic() - started < 2
    assert input_problems({"uniqueItems": True}, [1, 1.0]) != []
    assert input_problems({"uniqueItems": True}, [1, True, "1", None, 0, False]) == []


def test_endless_references_are_refused_at_store_time() -> None:
    schema = {"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"}
    assert [m for _, m in schemas.schema_problems(schema)] == [
        "inputSchema refers to itself without end ($ref loops): every loop must go through an object or array"
    ]
    recursive_but_finite = {
        "$defs": {"node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/node"}}}},
        "$ref": "#/$defs/node",
    }
    assert schemas.schema_problems(recursive_but_finite) == []
