"""ASL import: every corpus machine translates to a valid definition; what cannot be
translated faithfully is refused, one problem per construct, at its path in the ASL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from sedo.domain.asl import render_yaml, translate
from sedo.domain.errors import InvalidDefinition
from sedo.domain.language import load_text, validate_document
from sedo.domain.steps.base import LanguageOptions
from sedo.entrypoints.cli import main
from tests.asl.corpus import CASES, definition_id, function_names, load

L = "arn:aws:lambda:eu-west-1:123456789012:function:"


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_every_corpus_machine_translates_to_a_valid_definition(path: Path) -> None:
    translation = translate(load(path)["stateMachine"], definition_id(path))
    options = LanguageOptions(allowed_functions=function_names())
    assert validate_document(translation.document, options) == []
    # the YAML printed is the same definition
    assert load_text(render_yaml(translation)) == translation.document


def test_the_corpus_covers_every_construct_of_the_issue() -> None:
    text = "\n".join(p.read_text() for p in CASES)
    constructs = [
        '"Pass"',
        '"Result"',
        '"Parameters"',
        ':::lambda:invoke"',
        ":function:",
        ".waitForTaskToken",
        '"Choice"',
        '"And"',
        '"Or"',
        '"Not"',
        '"IsPresent"',
        '"IsNull"',
        '"IsNumeric"',
        '"IsString"',
        '"IsBoolean"',
        '"IsTimestamp"',
        '"StringMatches"',
        '"StringEquals"',
        '"StringLessThan"',
        '"StringGreaterThan"',
        '"NumericEquals"',
        '"NumericLessThan"',
        '"NumericGreaterThan"',
        '"NumericGreaterThanEquals"',
        '"NumericLessThanEqualsPath"',
        '"BooleanEquals"',
        '"TimestampLessThan"',
        '"TimestampEqualsPath"',
        '"StringEqualsPath"',
        '"Seconds"',
        '"Timestamp"',
        '"SecondsPath"',
        '"TimestampPath"',
        '"Succeed"',
        '"Fail"',
        '"Parallel"',
        '"Map"',
        '"ItemsPath"',
        '"ItemSelector"',
        '"MaxConcurrency"',
        '"ItemProcessor"',
        '"Iterator"',
        '"Retry"',
        '"ErrorEquals"',
        '"IntervalSeconds"',
        '"MaxAttempts"',
        '"BackoffRate"',
        '"MaxDelaySeconds"',
        '"JitterStrategy"',
        '"Catch"',
        '"TimeoutSeconds"',
        '"HeartbeatSeconds"',
        '"InputPath"',
        '"ResultSelector"',
        '"ResultPath"',
        '"OutputPath"',
        "$$.Execution.Input",
        "States.Format",
        "States.StringToJson",
        "States.JsonToString",
        "States.Array(",
        "States.MathAdd",
        "States.UUID",
        "$$.Map.Item.Value",
        '"Comment"',
    ]
    assert [c for c in constructs if c not in text] == []
    assert len(CASES) >= 25


def test_names_that_are_not_step_ids_are_mapped_and_printed_as_comments() -> None:
    case = next(p for p in CASES if "state-names" in p.name)
    translation = translate(load(case)["stateMachine"], "names")
    assert ("/States/Split the work!", "Split the work!", "Split-the-work") in translation.renamed
    assert ("/States/Join (final)", "Join (final)", "Join-final") in translation.renamed
    nested = "/States/Split the work!/Branches/0/States/Map over items/ItemProcessor/States/Add one"
    assert (nested, "Add one", "Add-one") in translation.renamed
    text = render_yaml(translation)
    assert "#   /States/Join (final): 'Join (final)' -> Join-final" in text
    assert translation.document["description"] == "names with spaces and symbols become step ids"
    assert translation.document["steps"][0]["comment"] == "fan out"


def test_colliding_names_get_distinct_ids() -> None:
    asl = {
        "StartAt": "a b",
        "States": {
            "a b": {"Type": "Pass", "Next": "a-b"},
            "a-b": {"Type": "Pass", "Next": "a?b"},
            "a?b": {"Type": "Succeed"},
        },
    }
    steps = translate(asl, "x").document["steps"]
    assert [s["id"] for s in steps] == ["a-b", "a-b-2", "a-b-3"]
    assert validate_document(translate(asl, "x").document) == []


def _refused(asl: Any) -> list[tuple[str, str]]:
    with pytest.raises(InvalidDefinition) as caught:
        translate(asl, "refused")
    return [(p.path, p.message) for p in caught.value.problems]


def _machine(**states: Any) -> dict[str, Any]:
    return {"StartAt": next(iter(states)), "States": states}


def _pass(**fields: Any) -> dict[str, Any]:
    return _machine(A={"Type": "Pass", **fields, "End": True})


def _task(resource: str, name: str = "A", **fields: Any) -> dict[str, Any]:
    return _machine(**{name: {"Type": "Task", "Resource": resource, **fields, "End": True}})


def _distributed_map(**fields: Any) -> dict[str, Any]:
    processor = {
        "ProcessorConfig": {"Mode": "DISTRIBUTED"},
        "StartAt": "P",
        "States": {"P": {"Type": "Pass", "End": True}},
    }
    return _machine(M={"Type": "Map", **fields, "ItemProcessor": processor, "End": True})


REFUSALS: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "sdk-integration",
        _machine(Charge={"Type": "Task", "Resource": "arn:aws:states:::dynamodb:putItem", "End": True}),
        "/States/Charge/Resource",
        "integration sedo does not have",
    ),
    (
        "activity",
        _machine(A={"Type": "Task", "Resource": "arn:aws:states:eu-west-1:123456789012:activity:x", "End": True}),
        "/States/A/Resource",
        "integration sedo does not have",
    ),
    (
        "sync",
        _machine(A={"Type": "Task", "Resource": "arn:aws:states:::ecs:runTask.sync", "End": True}),
        "/States/A/Resource",
        ".sync",
    ),
    ("jsonata", {"QueryLanguage": "JSONata", **_machine(A={"Type": "Pass", "End": True})}, "/QueryLanguage", "JSONata"),
    ("jsonata-state", _pass(QueryLanguage="JSONata"), "/States/A/QueryLanguage", "JSONata"),
    ("variables", _pass(Assign={"x": 1}), "/States/A/Assign", "variables"),
    (
        "distributed-map-s3",
        _distributed_map(
            ItemReader={"Resource": "arn:aws:states:::s3:getObject", "Parameters": {"Bucket": "b", "Key": "k"}}
        ),
        "/States/M/ItemReader",
        "S3",
    ),
    (
        "distributed-map",
        _distributed_map(),
        "/States/M/ItemProcessor/ProcessorConfig/Mode",
        "Distributed Map",
    ),
    ("wildcard", _pass(InputPath="$.items[*].id"), "/States/A/InputPath", "wildcards"),
    ("filter", _pass(Parameters={"x.$": "$.a[?(@.b > 1)]"}), "/States/A/Parameters/x.$", "filters"),
    ("descent", _pass(OutputPath="$..id"), "/States/A/OutputPath", "recursive descent"),
    (
        "context-field",
        _pass(Parameters={"t.$": "$$.Execution.StartTime"}),
        "/States/A/Parameters/t.$",
        "context object",
    ),
    (
        "unknown-intrinsic",
        _pass(Parameters={"t.$": "States.Nope($.a)"}),
        "/States/A/Parameters/t.$",
        "no sedo equivalent",
    ),
    (
        "deep-merge",
        _pass(Parameters={"t.$": "States.JsonMerge($.a, $.b, true)"}),
        "/States/A/Parameters/t.$",
        "shallowly",
    ),
    (
        "lambda-metadata",
        _task(
            "arn:aws:states:::lambda:invoke", Parameters={"FunctionName": "echo", "Payload.$": "$"}, ResultPath="$.r"
        ),
        "/States/A",
        "metadata",
    ),
    (
        "lambda-executed-version",
        _task(
            "arn:aws:states:::lambda:invoke",
            Parameters={"FunctionName": "echo", "Payload.$": "$"},
            ResultSelector={"v.$": "$.ExecutedVersion"},
        ),
        "/States/A/ResultSelector/v.$",
        "metadata",
    ),
    (
        "dynamic-function",
        _task("arn:aws:states:::lambda:invoke", Parameters={"FunctionName.$": "$.fn", "Payload.$": "$"}),
        "/States/A/Parameters/FunctionName.$",
        "does not translate",
    ),
    (
        "async-lambda",
        _task(
            "arn:aws:states:::lambda:invoke",
            Parameters={"FunctionName": "echo", "Payload.$": "$", "InvocationType": "Event"},
            OutputPath="$.Payload",
        ),
        "/States/A/Parameters/InvocationType",
        "RequestResponse",
    ),
    (
        "token-not-passed",
        _task(
            "arn:aws:states:::lambda:invoke.waitForTaskToken",
            Parameters={"FunctionName": "notify", "Payload": {"x.$": "$"}},
        ),
        "/States/A/Parameters",
        "$$.Task.Token",
    ),
    (
        "sync-timeout",
        _machine(A={"Type": "Task", "Resource": L + "echo", "TimeoutSeconds": 300, "End": True}),
        "/States/A/TimeoutSeconds",
        "60",
    ),
    (
        "sync-heartbeat",
        _machine(A={"Type": "Task", "Resource": L + "echo", "HeartbeatSeconds": 30, "End": True}),
        "/States/A/HeartbeatSeconds",
        "heartbeats",
    ),
    (
        "map-catch-by-name",
        _machine(
            M={
                "Type": "Map",
                "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
                "Catch": [{"ErrorEquals": ["PaymentDeclined"], "Next": "F"}],
                "End": True,
            },
            F={"Type": "Succeed"},
        ),
        "/States/M/Catch/0/ErrorEquals",
        "States.ALL",
    ),
    (
        "parallel-catch-resultpath",
        _machine(
            P={
                "Type": "Parallel",
                "Branches": [{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}],
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.e", "Next": "F"}],
                "End": True,
            },
            F={"Type": "Succeed"},
        ),
        "/States/P/Catch/0/ResultPath",
        "ResultPath: null",
    ),
    (
        "tolerated",
        _machine(M={"Type": "Map", "ToleratedFailureCount": 1, "ItemProcessor": {}, "End": True}),
        "/States/M/ToleratedFailureCount",
        "Distributed Map",
    ),
    ("fail-without-error", _machine(F={"Type": "Fail"}), "/States/F", "Error"),
    ("fail-error-path", _machine(F={"Type": "Fail", "ErrorPath": "$.e"}), "/States/F/ErrorPath", "fixed error"),
    (
        "too-many-attempts",
        _task(L + "echo", Retry=[{"ErrorEquals": ["X"], "MaxAttempts": 1000}]),
        "/States/A/Retry/0/MaxAttempts",
        "0 to 100",
    ),
    ("long-wait", _machine(W={"Type": "Wait", "Seconds": 99_999_999, "End": True}), "/States/W/Seconds", "seconds"),
    (
        "unknown-operator",
        _machine(
            C={"Type": "Choice", "Choices": [{"Variable": "$.a", "NumericIs": 1, "Next": "S"}]}, S={"Type": "Succeed"}
        ),
        "/States/C/Choices/0/NumericIs",
        "unknown comparison",
    ),
    ("unknown-type", _machine(A={"Type": "Teleport", "End": True}), "/States/A/Type", "unknown state type"),
    ("unknown-next", _machine(A={"Type": "Pass", "Next": "Nowhere"}), "/States/A/Next", "Next must name"),
    (
        "http-dynamic-url",
        _task("arn:aws:states:::http:invoke", Parameters={"ApiEndpoint.$": "$.url", "Method": "GET"}, name="H"),
        "/States/H/Parameters/ApiEndpoint.$",
        "does not translate",
    ),
]


@pytest.mark.parametrize(("asl", "path", "words"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS])
def test_what_does_not_translate_is_refused_at_its_path(asl: dict[str, Any], path: str, words: str) -> None:
    problems = _refused(asl)
    assert [p for p, _ in problems] == [path], problems
    assert words in problems[0][1]


def test_every_refused_construct_is_reported_at_once() -> None:
    asl = _machine(
        A={"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "Next": "B"},
        B={"Type": "Pass", "Assign": {"x": 1}, "Next": "C"},
        C={
            "Type": "Map",
            "ItemReader": {},
            "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Teleport"}}},
            "End": True,
        },
    )
    paths = [p for p, _ in _refused(asl)]
    assert paths == ["/States/A/Resource", "/States/B/Assign", "/States/C/ItemReader"]
    nested = _machine(
        M={"Type": "Map", "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Teleport"}}}, "End": True}
    )
    assert [p for p, _ in _refused(nested)] == ["/States/M/ItemProcessor/States/P/Type"]


def test_lambda_tasks_and_http_tasks_become_invoke_steps() -> None:
    asl = _machine(
        Call={
            "Type": "Task",
            "Resource": "arn:aws:states:::http:invoke",
            "Parameters": {
                "ApiEndpoint": "https://api.example.com/orders",
                "Method": "POST",
                "Headers": {"X-Team": "a"},
                "QueryParameters": {"dry": "1"},
                "RequestBody.$": "$.order",
                "Authentication": {"ConnectionArn": "arn:aws:events:eu-west-1:123456789012:connection/c"},
            },
            "Retry": [{"ErrorEquals": ["States.Http.StatusCode.503"]}],
            "ResultSelector": {"id.$": "$.ResponseBody.id"},
            "End": True,
        }
    )
    step = translate(asl, "http").document["steps"][0]
    assert step["http"] == {"url": "https://api.example.com/orders?dry=1", "method": "POST", "headers": {"X-Team": "a"}}
    assert step["input"] == "input.order"
    assert step["retry"] == [{"errors": ["Http.503"]}]
    assert "Authentication" in step["comment"]
    callback = _machine(
        Ask={
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
            "Parameters": {"FunctionName": "notify:prod", "Payload": {"token.$": "$$.Task.Token", "q.$": "$.q"}},
            "HeartbeatSeconds": 60,
            "TimeoutSeconds": 3600,
            "End": True,
        }
    )
    step = translate(callback, "cb").document["steps"][0]
    assert step["function"] == "notify:prod" and step["waitForCompletion"] is True
    assert step["input"] == "{q: input.q}" and step["heartbeatSeconds"] == 60 and step["timeoutSeconds"] == 3600
    assert "taskToken" in step["comment"]


def test_import_asl_prints_yaml_or_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "Order Flow.json"
    source.write_text(json.dumps(load(CASES[0])["stateMachine"]))
    assert main(["import-asl", str(source)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("# Translated from Amazon States Language")
    assert yaml.safe_load(printed)["id"] == "Order-Flow"
    assert main(["import-asl", str(source), "--id", "orders"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["id"] == "orders"
    source.write_text(json.dumps(_machine(A={"Type": "Task", "Resource": "arn:aws:states:::sns:publish", "End": True})))
    assert main(["import-asl", str(source)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "/States/A/Resource: arn:aws:states:::sns:publish" in captured.err
    source.write_text("{not json")
    assert main(["import-asl", str(source)]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    assert main(["import-asl", str(tmp_path / "missing.json")]) == 2
    assert main(["import-asl", str(source), "--id", "bad id"]) == 2
