"""sedo's own JMESPath functions, the waits that read their duration from the input, and
choices that store their output."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from sedo.domain.definition import Step
from sedo.domain.expressions import ExpressionError, compile_expression, evaluate
from sedo.domain.language import validate_document
from sedo.domain.steps.base import Await, Failed, StepContext
from sedo.domain.steps.wait import STEP as WAIT


@pytest.mark.parametrize(
    ("expression", "data", "expected"),
    [
        ("format('{} is {}', a, b)", {"a": "x", "b": [1, True]}, "x is [1,true]"),
        ("format('\\{} {}', a)", {"a": 1}, "{} 1"),
        ("to_json(a)", {"a": "s"}, '"s"'),
        ("from_json(a)", {"a": '{"k": [1]}'}, {"k": [1]}),
        ("add(a, `2`)", {"a": 40}, 42),
        ("add(a, `0.5`)", {"a": 1}, 1.5),
        ("random_int(`1`, `2`, `null`)", {}, 1),
        ("random_int(`0`, `1000`, `7`) == random_int(`0`, `1000`, `7`)", {}, True),
        ("split(a, ', ')", {"a": "a, b,,c"}, ["a", "b", "c"]),
        ("partition(a, `2`)", {"a": [1, 2, 3]}, [[1, 2], [3]]),
        ("range(`5`, `1`, `-2`)", {}, [5, 3, 1]),
        ("unique(a)", {"a": [1, 1, "1", [1], [1]]}, [1, "1", [1]]),
        ("item_at(a, `1`)", {"a": [1, 2]}, 2),
        ("base64_decode(base64_encode('hé'))", {}, "hé"),
        ("hash('abc', 'SHA-1')", {}, "a9993e364706816aba3e25717850c26c9cd0d89d"),
        ("set_path(@, `1`, 'a', 'b')", {"a": {"c": 2}}, {"a": {"c": 2, "b": 1}}),
        ("has_path(@, 'a', `0`)", {"a": [None]}, True),
        ("has_path(@, 'a', `1`)", {"a": [None]}, False),
        ("has_path(@, 'a', 'b')", {"a": "s"}, False),
        ("glob_match(a, 'x*z')", {"a": "xyyz"}, True),
        ("glob_match(a, 'x\\*z')", {"a": "xyz"}, False),
        ("glob_match(a, 'x\\*z')", {"a": "x*z"}, True),
        ("glob_match(a, '*')", {"a": 1}, False),
        ("epoch_seconds(a)", {"a": "1970-01-01T00:01:00Z"}, 60.0),
        ("epoch_seconds(a)", {"a": "yesterday"}, None),
        ("items_with(a, `7`)", {"a": ["x"]}, [{"value": "x", "index": 0, "context": 7}]),
    ],
)
def test_sedo_functions(expression: str, data: Any, expected: Any) -> None:
    assert evaluate(expression, data) == expected


@pytest.mark.parametrize(
    "expression",
    [
        "format('{}')",
        "format('x', a)",
        "from_json('{')",
        "set_path(`1`, `2`, 'a')",
        "item_at(a, `5`)",
        "range(`1`, `5000`, `1`)",
        "hash('a', 'CRC')",
        "partition(a, `0`)",
        "random_int(`2`, `1`, `null`)",
    ],
)
def test_sedo_functions_refuse_what_they_cannot_do(expression: str) -> None:
    with pytest.raises(ExpressionError):
        evaluate(expression, {"a": [1]})


def test_uuid_is_a_random_v4_uuid() -> None:
    first, second = evaluate("uuid()", {}), evaluate("uuid()", {})
    assert first != second and len(first) == 36 and first[14] == "4"


def test_unknown_functions_do_not_compile() -> None:
    with pytest.raises(ExpressionError, match="unknown function nope"):
        compile_expression("nope(@)")
    doc = {"id": "d", "steps": [{"id": "a", "type": "transform", "expression": "nope(@)", "end": True}]}
    assert [p.path for p in validate_document(doc)] == ["/steps/0/expression"]


NOW = datetime(2030, 1, 1, tzinfo=UTC)


def _wait(config: dict[str, Any], data: Any) -> Any:
    step = Step(id="w", type="wait", next=None, end=True, config={"id": "w", "type": "wait", **config})
    return WAIT.start(step, StepContext(now=NOW, tenant_id="t", execution_id="e", stash={}, input=data))


def test_waits_read_seconds_or_a_timestamp_from_the_input() -> None:
    outcome = _wait({"secondsFrom": "delay"}, {"delay": 90})
    assert isinstance(outcome, Await) and outcome.what.due == "2030-01-01T00:01:30.000Z"
    outcome = _wait({"untilFrom": "at"}, {"at": "2030-01-02T00:00:00Z"})
    assert isinstance(outcome, Await) and outcome.what.due == "2030-01-02T00:00:00.000Z"
    for config, data in [
        ({"secondsFrom": "d"}, {"d": "5"}),
        ({"secondsFrom": "d"}, {"d": -1}),
        ({"untilFrom": "d"}, {"d": 5}),
    ]:
        failed = _wait(config, data)
        assert isinstance(failed, Failed) and failed.error == "States.Runtime"
    steps = [{"id": "w", "type": "wait", "seconds": 1, "secondsFrom": "d", "end": True}]
    assert [p.path for p in validate_document({"id": "d", "steps": steps})] == ["/steps/0"]


def test_a_choice_may_store_its_output() -> None:
    doc = {
        "id": "d",
        "steps": [
            {
                "id": "c",
                "type": "choice",
                "output": "input.x",
                "resultPath": "state",
                "choices": [{"when": "`true`", "next": "s"}],
            },
            {"id": "s", "type": "succeed", "input": "state"},
        ],
    }
    assert validate_document(doc) == []
