"""Each step type's schema errors, reported at the right path when a definition is stored."""

from __future__ import annotations

from typing import Any

import pytest

from sedo.domain.language import validate_document
from sedo.domain.steps.base import LanguageOptions


def problems(step: dict[str, Any], *more: dict[str, Any], options: LanguageOptions | None = None) -> set[str]:
    steps = [step, *more, {"id": "z", "type": "succeed"}]
    return {p.path for p in validate_document({"id": "d", "steps": steps}, options)}


def paths(step: dict[str, Any], **kw: Any) -> set[str]:
    return problems(step, **kw) - {""}


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        # echo
        ({"id": "a", "type": "echo", "next": "z"}, {"/steps/0"}),
        ({"id": "a", "type": "echo", "message": 3, "next": "z"}, {"/steps/0/message"}),
        # wait
        ({"id": "a", "type": "wait", "next": "z"}, {"/steps/0"}),
        ({"id": "a", "type": "wait", "seconds": -1, "next": "z"}, {"/steps/0/seconds"}),
        ({"id": "a", "type": "wait", "until": "tomorrow", "next": "z"}, {"/steps/0/until"}),
        # pass / transform
        ({"id": "a", "type": "pass", "value": 1, "bogus": 2, "next": "z"}, {"/steps/0/bogus"}),
        ({"id": "a", "type": "transform", "next": "z"}, {"/steps/0"}),
        ({"id": "a", "type": "transform", "expression": "a[", "next": "z"}, {"/steps/0/expression"}),
        # choice
        ({"id": "a", "type": "choice", "choices": []}, {"/steps/0/choices", "/steps/1"}),
        ({"id": "a", "type": "choice", "choices": [{"when": "x >", "next": "z"}]}, {"/steps/0/choices/0/when"}),
        (
            {"id": "a", "type": "choice", "choices": [{"when": "x", "next": "nope"}]},
            {"/steps/0/choices/0/next", "/steps/1"},
        ),
        ({"id": "a", "type": "choice", "choices": [{"when": "x", "next": "z"}], "default": "q"}, {"/steps/0/default"}),
        ({"id": "a", "type": "choice", "choices": [{"when": "x", "next": "z"}], "next": "z"}, {"/steps/0"}),
        # succeed / fail
        ({"id": "a", "type": "succeed", "retry": []}, {"/steps/0/retry", "/steps/1"}),
        ({"id": "a", "type": "fail"}, {"/steps/0", "/steps/1"}),
        ({"id": "a", "type": "fail", "error": "E", "catch": []}, {"/steps/0/catch", "/steps/1"}),
        # invoke
        ({"id": "a", "type": "invoke", "next": "z"}, {"/steps/0"}),
        (
            {"id": "a", "type": "invoke", "function": "f", "http": {"url": "http://example.com"}, "next": "z"},
            {"/steps/0"},
        ),
        ({"id": "a", "type": "invoke", "function": "bad name!", "next": "z"}, {"/steps/0/function"}),
        ({"id": "a", "type": "invoke", "http": {"url": "ftp://x"}, "next": "z"}, {"/steps/0/http/url"}),
        (
            {"id": "a", "type": "invoke", "http": {"url": "http://example.com", "method": "BREW"}, "next": "z"},
            {"/steps/0/http/method"},
        ),
        (
            {"id": "a", "type": "invoke", "function": "f", "heartbeatSeconds": 5, "next": "z"},
            {"/steps/0/heartbeatSeconds"},
        ),
        (
            {"id": "a", "type": "invoke", "function": "f", "timeoutSeconds": 600, "next": "z"},
            {"/steps/0/timeoutSeconds"},
        ),
        # callback
        ({"id": "a", "type": "callback", "heartbeatSeconds": 0, "next": "z"}, {"/steps/0/heartbeatSeconds"}),
        # common fields
        ({"id": "a", "type": "echo", "message": "m", "input": "[", "next": "z"}, {"/steps/0/input"}),
        ({"id": "a", "type": "echo", "message": "m", "output": "", "next": "z"}, {"/steps/0/output"}),
        ({"id": "a", "type": "echo", "message": "m", "resultPath": "a.b", "next": "z"}, {"/steps/0/resultPath"}),
        ({"id": "a", "type": "echo", "message": "m", "timeoutSeconds": 0, "next": "z"}, {"/steps/0/timeoutSeconds"}),
        ({"id": "a", "type": "echo", "message": "m", "retry": [{"maxAttempts": 2}], "next": "z"}, {"/steps/0/retry/0"}),
        (
            {"id": "a", "type": "echo", "message": "m", "retry": [{"errors": ["X"], "backoffRate": 0.5}], "next": "z"},
            {"/steps/0/retry/0/backoffRate"},
        ),
        (
            {"id": "a", "type": "echo", "message": "m", "retry": [{"errors": ["X"], "jitter": "SOME"}], "next": "z"},
            {"/steps/0/retry/0/jitter"},
        ),
        ({"id": "a", "type": "echo", "message": "m", "catch": [{"errors": ["X"]}], "next": "z"}, {"/steps/0/catch/0"}),
        (
            {"id": "a", "type": "echo", "message": "m", "catch": [{"errors": ["X"], "next": "gone"}], "next": "z"},
            {"/steps/0/catch/0/next"},
        ),
    ],
)
def test_schema_errors_are_reported_at_their_path(step: dict[str, Any], expected: set[str]) -> None:
    assert paths(step) == expected


def test_catch_targets_make_steps_reachable() -> None:
    step = {"id": "a", "type": "echo", "message": "m", "catch": [{"errors": ["X"], "next": "handler"}], "next": "z"}
    handler = {"id": "handler", "type": "fail", "error": "Handled"}
    assert problems(step, handler) == set()


def test_allow_list_is_checked_only_when_configured() -> None:
    step = {"id": "a", "type": "invoke", "function": "billing-charge", "next": "z"}
    assert paths(step) == set()
    assert paths(step, options=LanguageOptions(allowed_functions=("billing-*",))) == set()
    assert paths(step, options=LanguageOptions(allowed_functions=("orders-*",))) == {"/steps/0/function"}
    assert paths(step, options=LanguageOptions(allowed_functions=())) == {"/steps/0/function"}


def test_definition_level_output_and_timeout() -> None:
    document = {"id": "d", "output": "a[", "timeoutSeconds": 0, "steps": [{"id": "z", "type": "succeed"}]}
    assert {p.path for p in validate_document(document)} == {"/output", "/timeoutSeconds"}
