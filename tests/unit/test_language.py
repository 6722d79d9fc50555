"""The definition language: loading text, validating a whole document, and the corpus.

Fast and pure: no I/O beyond reading the corpus and ``definitions/``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sedo.domain.definition import Definition
from sedo.domain.errors import BadRequest, InvalidDefinition, Problem
from sedo.domain.language import (
    input_problems,
    load_definition,
    load_text,
    validate_document,
)
from sedo.domain.limits import MAX_DEFINITION_BYTES, MAX_STEPS
from tests.malformed import Case, cases, mismatch, normalise

ROOT = Path(__file__).resolve().parents[2]
DEFINITIONS = sorted((ROOT / "definitions").glob("*.y*ml"))
CORPUS = cases()

EXAMPLE = """
id: example-definition
inputSchema: {type: object, properties: {foo: {type: string}}, required: [foo]}
steps:
  - id: initial-echo
    type: echo
    message: initial echo
    next: wait-some-time
  - id: wait-some-time
    type: wait
    seconds: 45
    next: last-echo
  - id: last-echo
    type: echo
    message: last echo
    end: true
"""


def problems_of(body: bytes | str, media_type: str = "application/yaml") -> list[Problem]:
    """What a POST would report: text problems, else document problems."""
    try:
        document = load_text(body, media_type)
    except InvalidDefinition as exc:
        return exc.problems
    return validate_document(document)


def paths(problems: list[Problem]) -> list[str]:
    return sorted(normalise(p.path) for p in problems)


def linear(*messages: str) -> dict[str, Any]:
    steps: list[dict[str, Any]] = [
        {"id": f"s{i}", "type": "echo", "message": m, "next": f"s{i + 1}"} for i, m in enumerate(messages)
    ]
    del steps[-1]["next"]
    steps[-1]["end"] = True
    return {"id": "linear", "steps": steps}


# --- the corpus ---------------------------------------------------------------------


def test_the_corpus_is_large_and_every_file_declares_its_problems() -> None:
    assert len(CORPUS) >= 35
    assert sum(c.file.suffix == ".json" for c in CORPUS) >= 3
    for case in CORPUS:
        assert case.expected, f"{case.name} declares no '# expect:' line"
        assert all(e.path.startswith("/") for e in case.expected), case.name


def _corpus_params() -> list[Any]:
    return [
        pytest.param(
            case, id=case.name, marks=[pytest.mark.xfail(reason=case.xfail, strict=True)] if case.xfail else []
        )
        for case in CORPUS
    ]


@pytest.mark.parametrize("case", _corpus_params())
def test_corpus_file_reports_exactly_its_declared_problems(case: Case) -> None:
    problems = problems_of(case.body, case.media_type)
    assert not mismatch(case, [(p.path, p.message) for p in problems])


@pytest.mark.parametrize("case", [c for c in CORPUS if not c.xfail], ids=lambda c: c.name)
def test_corpus_file_is_rejected_by_load_definition(case: Case) -> None:
    with pytest.raises(InvalidDefinition) as raised:
        load_definition(load_text(case.body, case.media_type))
    assert raised.value.status == 400
    assert raised.value.problems
    for problem in raised.value.problems:
        assert f"{problem.path or '/'}: {problem.message}" in raised.value.detail


def _resolves(document: Any, path: str) -> bool:
    node = document
    for part in path.split("/")[1:]:
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False
    return True


@pytest.mark.parametrize("case", [c for c in CORPUS if not c.xfail], ids=lambda c: c.name)
def test_every_reported_path_points_into_the_document(case: Case) -> None:
    """A path names what to change: the value itself, or (for what is missing) its parent."""
    try:
        document = load_text(case.body, case.media_type)
    except InvalidDefinition as exc:
        assert [p.path for p in exc.problems] != []
        return
    for problem in validate_document(document):
        assert _resolves(document, problem.path), problem


# --- definitions/ ---------------------------------------------------------------------


def test_there_are_several_example_definitions() -> None:
    names = [p.name for p in DEFINITIONS]
    assert "example-definition.yaml" in names
    assert len(names) >= 3


@pytest.mark.parametrize("path", DEFINITIONS, ids=lambda p: p.name)
def test_every_example_definition_validates(path: Path) -> None:
    document = load_text(path.read_bytes())
    assert validate_document(document) == []
    definition = load_definition(document, version=1)
    assert definition.id == path.stem, "name the file after the definition's id"
    assert definition.start_at == document["steps"][0]["id"]
    # The same definition as JSON is the same document.
    assert load_text(json.dumps(document), "application/json") == document


def test_the_sedo_example_is_the_one_from_the_design() -> None:
    document = load_text((ROOT / "definitions" / "example-definition.yaml").read_text())
    steps = [(s["id"], s["type"]) for s in document["steps"]]
    assert steps == [("initial-echo", "echo"), ("wait-some-time", "wait"), ("last-echo", "echo")]
    assert document["steps"][1]["seconds"] == 45


# --- load_text ---------------------------------------------------------------------------


def test_yaml_and_json_give_the_same_document() -> None:
    from_yaml = load_text(EXAMPLE)
    assert load_text(json.dumps(from_yaml).encode(), "application/json") == from_yaml
    assert load_text(EXAMPLE.encode()) == from_yaml


def test_media_type_parameters_are_ignored() -> None:
    assert load_text('{"a": 1}', "application/json; charset=utf-8") == {"a": 1}


def test_yaml_timestamps_stay_text() -> None:
    document = load_text("until: 2030-01-01T09:00:00Z\ndate: 2030-01-01\n")
    assert document == {"until": "2030-01-01T09:00:00Z", "date": "2030-01-01"}


def test_the_result_is_plain_json() -> None:
    assert load_text("1: one\ntrue: yes\n~: nothing\n1.5: half\n") == {
        "1": "one",
        "true": True,
        "null": "nothing",
        "1.5": "half",
    }


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("a: [1, 2", "line 1, column 9"),
        ("a: 1\n b: 2\n", "line 2"),
        ("a: &x 1\nb: *x\n", "aliases"),
        ("a: 1\na: 2\n", "duplicate key 'a'"),
        ("a: 1\n---\nb: 2\n", "single document"),
        ("a: !!python/name:os.system\n", "could not determine a constructor"),
    ],
)
def test_unparsable_yaml_is_one_problem_at_the_root_saying_where(text: str, fragment: str) -> None:
    with pytest.raises(InvalidDefinition) as raised:
        load_text(text)
    [problem] = raised.value.problems
    assert problem.path == ""
    assert "not valid YAML" in problem.message
    assert fragment in problem.message
    assert isinstance(raised.value, BadRequest) and raised.value.status == 400


def test_merge_keys_are_not_duplicates() -> None:
    assert load_text("a: {<<: {x: 1, y: 2}, y: 3}") == {"a": {"x": 1, "y": 3}}


def test_unparsable_json_says_where() -> None:
    with pytest.raises(InvalidDefinition) as raised:
        load_text('{\n  "id": "x",\n}', "application/json")
    [problem] = raised.value.problems
    assert problem.path == ""
    assert "not valid JSON (line 3, column 1)" in problem.message


@pytest.mark.parametrize("media_type", ["application/yaml", "application/json"])
def test_a_body_that_is_not_utf8_is_a_problem(media_type: str) -> None:
    with pytest.raises(InvalidDefinition) as raised:
        load_text(b'{"id": "caf\xe9"}', media_type)
    [problem] = raised.value.problems
    assert "not valid UTF-8 (byte 11)" in problem.message


@pytest.mark.parametrize(
    ("text", "path", "fragment"),
    [
        ("a: [1, .nan]", "/a/1", "not a JSON number"),
        ("a: {b: -.inf}", "/a/b", "not a JSON number"),
        ("a: !!binary aGVsbG8=", "/a", "binary data"),
        ("a: !!set {x, y}", "/a", "a set"),
        ("a: !!timestamp 2030-01-01", "/a", "a date"),
        ("1: {2: .nan}", "/1/2", "not a JSON number"),
    ],
)
def test_values_json_cannot_hold_are_reported_at_their_path(text: str, path: str, fragment: str) -> None:
    with pytest.raises(InvalidDefinition) as raised:
        load_text(text)
    [problem] = raised.value.problems
    assert (problem.path, fragment in problem.message) == (path, True)


def test_nan_in_an_already_parsed_document_is_reported() -> None:
    """JSON bodies arrive parsed by the API framework, which accepts NaN."""
    document = load_text(EXAMPLE)
    document["inputSchema"]["properties"]["foo"]["maximum"] = float("nan")
    document["steps"][1]["seconds"] = float("inf")
    problems = validate_document(document)
    assert {p.path for p in problems} == {"/inputSchema/properties/foo/maximum", "/steps/1/seconds"}
    assert sum("not a JSON number" in p.message for p in problems) == 2


# --- validate_document -----------------------------------------------------------------


def test_a_valid_definition_has_no_problems() -> None:
    assert validate_document(load_text(EXAMPLE)) == []


@pytest.mark.parametrize(
    ("document", "fragment"),
    [(None, "null"), ([], "an array"), ("x", "a string"), (3, "a number"), (True, "a boolean")],
)
def test_a_definition_is_an_object(document: Any, fragment: str) -> None:
    [problem] = validate_document(document)
    assert problem.path == ""
    assert problem.message == f"a definition must be an object, not {fragment}"


def test_unknown_fields_are_reported_one_by_one_at_the_field() -> None:
    document = linear("a")
    document["steps"][0].update(nxt="s9", delay=3)
    document["owner"] = "ops"
    problems = validate_document(document)
    assert paths(problems) == ["/owner", "/steps/0/delay", "/steps/0/nxt"]
    assert all("unknown field" in p.message and "allowed:" in p.message for p in problems)


def test_messages_do_not_repeat_long_values() -> None:
    document = linear("x" * 10_000)
    [problem] = validate_document(document)
    assert problem.path == "/steps/0/message"
    assert len(problem.message) < 200
    assert "10000 characters" in problem.message


def test_too_many_steps_is_one_short_problem() -> None:
    document = linear(*["m"] * (MAX_STEPS + 1))
    [problem] = validate_document(document)
    assert problem.path == "/steps"
    assert f"at most {MAX_STEPS}" in problem.message
    assert validate_document(linear(*["m"] * MAX_STEPS)) == []


def test_a_definition_too_large_to_store_is_a_problem() -> None:
    steps = MAX_DEFINITION_BYTES // 4000 + 2
    document = linear(*["x" * 4000] * steps)
    problems = validate_document(document)
    assert [(p.path, "bytes as JSON" in p.message) for p in problems] == [("", True)]


def test_problems_come_in_document_order_within_each_kind() -> None:
    document = {
        "id": "bad id",
        "steps": [
            {"id": "a", "type": "echo", "message": 1, "next": "b"},
            {"id": "b", "type": "echo", "message": 2, "end": True},
        ],
    }
    assert [p.path for p in validate_document(document)] == ["/id", "/steps/0/message", "/steps/1/message"]


def test_document_order_is_numeric_for_array_indexes() -> None:
    document = linear(*"abcdefghijkl")
    document["steps"][2] = document["steps"][10] = "not a step"
    problems = validate_document(document)
    assert [p.path for p in problems][:2] == ["/steps/2", "/steps/10"]


@pytest.mark.parametrize("depth", [100, 3000])
def test_a_deeply_nested_parsed_document_is_one_problem_not_a_crash(depth: int) -> None:
    """JSON bodies arrive parsed; validation must not recurse until the stack runs out."""
    nested: list[Any] = []
    document = linear("a")
    document["steps"][0]["comment"] = nested
    for _ in range(depth):
        nested.append([])
        nested = nested[0]
    [problem] = validate_document(document)
    assert (problem.path, "levels deep" in problem.message) == ("", True)


def test_a_step_of_unknown_type_still_has_its_common_fields_checked() -> None:
    document = linear("a", "b")
    document["steps"][0].update(type="ecko", next=7, comment=["x"])
    assert paths(validate_document(document)) == ["/steps/0/comment", "/steps/0/next", "/steps/0/type", "/steps/1"]


def test_a_typo_in_next_is_not_also_reported_as_a_loop() -> None:
    document = linear("a", "b", "c")
    document["steps"][1]["next"] = "s7"
    problems = validate_document(document)
    assert [(p.path, p.message.split(" ")[0]) for p in problems] == [
        ("/steps/1/next", "unknown"),
        ("/steps/2", "step"),
    ]
    assert "unreachable" in problems[1].message
    assert not any("loops forever" in p.message for p in problems)


def test_a_real_loop_is_reported_at_every_step_of_it() -> None:
    document = linear("a", "b", "c", "d")
    document["steps"][2]["next"] = "s1"
    problems = validate_document(document)
    assert paths(problems) == ["/steps/0", "/steps/1", "/steps/2", "/steps/3"]
    assert [("loops forever" in p.message) for p in problems] == [False, True, True, True]


def test_steps_are_a_graph_not_a_sequence() -> None:
    """The first step starts; the others may come in any order."""
    document = linear("a", "b", "c")
    document["steps"] = [document["steps"][0], document["steps"][2], document["steps"][1]]
    assert validate_document(document) == []


# --- inputSchema ---------------------------------------------------------------------------


def with_schema(schema: Any) -> dict[str, Any]:
    return {**linear("a"), "inputSchema": schema}


@pytest.mark.parametrize("schema", [True, False, {}, {"type": "object"}])
def test_trivial_input_schemas_are_fine(schema: Any) -> None:
    assert validate_document(with_schema(schema)) == []


@pytest.mark.parametrize(
    "schema",
    [
        {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object"},
        {"$schema": "http://json-schema.org/draft-04/schema#", "properties": {"n": {"minimum": 0}}},
        {"$schema": "https://json-schema.org/draft/2020-12/schema", "$defs": {"n": {"type": "integer"}}},
        {"$defs": {"pos": {"type": "integer", "minimum": 1}}, "properties": {"n": {"$ref": "#/$defs/pos"}}},
        {"definitions": {"a": {"type": "string"}}, "items": {"$ref": "#/definitions/a"}},
        {"properties": {"n": {"$anchor": "num", "type": "number"}, "m": {"$ref": "#num"}}},
        {"properties": {"self": {"$ref": "#"}}},
        {"properties": {"$ref": {"type": "string"}}},
        {"const": {"$ref": "https://example.com/this-is-data"}},
        {"enum": [{"$ref": "nowhere"}], "default": {"$ref": "nowhere"}},
    ],
)
def test_input_schemas_that_are_valid(schema: dict[str, Any]) -> None:
    assert validate_document(with_schema(schema)) == []


@pytest.mark.parametrize(
    ("schema", "path", "fragment"),
    [
        ({"type": "strnig"}, "/inputSchema/type", "not a valid JSON Schema"),
        ({"$schema": ["x"]}, "/inputSchema/$schema", "not of type 'string'"),
        ({"$schema": "https://example.com/meta"}, "/inputSchema/$schema", "unknown $schema"),
        ({"properties": {"a": {"pattern": "("}}}, "/inputSchema/properties/a/pattern", "'regex'"),
        ({"$ref": "https://example.com/s.json"}, "/inputSchema/$ref", "only local references"),
        ({"prefixItems": [{"$ref": "other.json"}]}, "/inputSchema/prefixItems/0/$ref", "only local references"),
        ({"properties": {"a": {"$ref": "#/$defs/nope"}}}, "/inputSchema/properties/a/$ref", "points to nothing"),
        ({"properties": {"a": {"$ref": "#nope"}}}, "/inputSchema/properties/a/$ref", "points to nothing"),
        ({"properties": {"default": {"$ref": "https://x"}}}, "/inputSchema/properties/default/$ref", "only local"),
    ],
)
def test_input_schemas_that_are_not_valid(schema: dict[str, Any], path: str, fragment: str) -> None:
    problems = validate_document(with_schema(schema))
    assert [p.path for p in problems] == [path]
    assert fragment in problems[0].message


def test_input_schema_is_an_object_or_a_boolean() -> None:
    assert [p.path for p in validate_document(with_schema("object"))] == ["/inputSchema"]


# --- load_definition and input_problems ----------------------------------------------------


def test_load_definition_builds_the_model() -> None:
    definition = load_definition(load_text(EXAMPLE), version=3)
    assert isinstance(definition, Definition)
    assert (definition.id, definition.version, definition.start_at) == ("example-definition", 3, "initial-echo")
    assert list(definition.steps) == ["initial-echo", "wait-some-time", "last-echo"]
    wait = definition.step("wait-some-time")
    assert (wait.type, wait.next, wait.end, wait.config["seconds"]) == ("wait", "last-echo", False, 45)
    assert definition.step("last-echo").end is True
    assert definition.input_schema == {"type": "object", "properties": {"foo": {"type": "string"}}, "required": ["foo"]}


def test_load_definition_lists_every_problem_in_its_detail() -> None:
    document = load_text(EXAMPLE)
    document["steps"][0]["type"] = "sleep"
    document["steps"][1]["seconds"] = -1
    with pytest.raises(InvalidDefinition) as raised:
        load_definition(document)
    assert raised.value.detail.startswith("2 problems found:\n")
    assert "- /steps/0/type: unknown step type 'sleep'" in raised.value.detail
    assert "- /steps/1/seconds: -1 is less than the minimum of 0" in raised.value.detail


def test_input_problems_lists_every_violation_with_its_place() -> None:
    schema = load_text(EXAMPLE)["inputSchema"]
    assert input_problems(schema, {"foo": "bar"}) == []
    assert input_problems(None, 42) == []
    assert input_problems(schema, {}) == ["'foo' is a required property"]
    assert input_problems(schema, {"foo": 1}) == ["1 is not of type 'string' (at /foo)"]
    nested = {"type": "array", "items": {"type": "integer"}}
    assert input_problems(nested, [1, "a", 2, "b"]) == [
        "'a' is not of type 'integer' (at /1)",
        "'b' is not of type 'integer' (at /3)",
    ]


def test_input_problems_follows_local_references() -> None:
    schema = {"$defs": {"pos": {"type": "integer", "minimum": 1}}, "properties": {"n": {"$ref": "#/$defs/pos"}}}
    assert validate_document(with_schema(schema)) == []
    assert input_problems(schema, {"n": 0}) == ["0 is less than the minimum of 1 (at /n)"]


def test_input_problems_checks_formats() -> None:
    schema = {"properties": {"email": {"type": "string", "format": "email"}}}
    assert input_problems(schema, {"email": "a@example.com"}) == []
    assert input_problems(schema, {"email": "nope"}) == ["'nope' is not a 'email' (at /email)"]


# --- properties ----------------------------------------------------------------------------

STEP_IDS = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,19}", fullmatch=True)
ZONES = st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(-timedelta(hours=9, minutes=30))])


@st.composite
def linear_definitions(draw: st.DrawFn) -> dict[str, Any]:
    ids = draw(st.lists(STEP_IDS, min_size=1, max_size=12, unique=True))
    steps: list[dict[str, Any]] = []
    for step_id in ids:
        kind = draw(st.sampled_from(["echo", "seconds", "until"]))
        if kind == "echo":
            step: dict[str, Any] = {"id": step_id, "type": "echo", "message": draw(st.text(max_size=30))}
        elif kind == "seconds":
            step = {"id": step_id, "type": "wait", "seconds": draw(st.integers(0, 366 * 24 * 3600))}
        else:
            moment = draw(st.datetimes(datetime(1971, 1, 1), datetime(2200, 1, 1), timezones=ZONES))
            step = {"id": step_id, "type": "wait", "until": moment.isoformat(timespec="seconds")}
        if draw(st.booleans()):
            step["comment"] = draw(st.text(max_size=20))
        steps.append(step)
    for step, following in zip(steps, ids[1:], strict=False):
        step["next"] = following
    steps[-1]["end"] = True
    return {"id": draw(STEP_IDS), "steps": steps}


PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(linear_definitions())
def test_random_linear_definitions_validate(document: dict[str, Any]) -> None:
    assert validate_document(document) == []
    definition = load_definition(document)
    assert definition.start_at == document["steps"][0]["id"]
    # ... and survive the trip through YAML-compatible JSON text.
    assert validate_document(load_text(json.dumps(document), "application/json")) == []


@PROPERTY
@given(linear_definitions().filter(lambda d: len(d["steps"]) >= 2), st.data())
def test_a_next_that_names_no_step_is_reported_at_that_next(document: dict[str, Any], data: st.DataObject) -> None:
    steps = document["steps"]
    index = data.draw(st.integers(0, len(steps) - 2))
    ids = {s["id"] for s in steps}
    unknown = data.draw(STEP_IDS.filter(lambda s: s not in ids))
    steps[index]["next"] = unknown
    problems = validate_document(document)
    assert f"/steps/{index}/next" in [p.path for p in problems]
    # The steps after it are unreachable, and nothing else is wrong.
    unreachable = [f"/steps/{i}" for i in range(index + 1, len(steps))]
    assert sorted(p.path for p in problems) == sorted([f"/steps/{index}/next", *unreachable])
    [problem] = [p for p in problems if p.path.endswith("/next")]
    assert repr(unknown) in problem.message


@PROPERTY
@given(linear_definitions(), st.data())
def test_a_duplicated_step_is_reported_once_at_the_copy(document: dict[str, Any], data: st.DataObject) -> None:
    steps = document["steps"]
    original = data.draw(st.integers(0, len(steps) - 1))
    position = data.draw(st.integers(1, len(steps)))
    steps.insert(position, dict(steps[original]))
    problems = validate_document(document)
    # Whichever of the two comes second is the duplicate.
    second = position if position > original else original + 1
    assert [p.path for p in problems] == [f"/steps/{second}/id"]
    assert "duplicate step id" in problems[0].message


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=30,
)
NEAR_DEFINITIONS = st.fixed_dictionaries(
    {},
    optional={
        "id": JSON_VALUES | STEP_IDS,
        "inputSchema": JSON_VALUES,
        "description": JSON_VALUES,
        "steps": st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    "id": JSON_VALUES | st.sampled_from(["a", "b", "c"]),
                    "type": JSON_VALUES | st.sampled_from(["echo", "wait"]),
                    "next": JSON_VALUES | st.sampled_from(["a", "b", "c"]),
                    "end": JSON_VALUES,
                    "message": JSON_VALUES,
                    "seconds": JSON_VALUES,
                    "until": JSON_VALUES | st.just("2030-01-01T00:00:00Z"),
                },
            )
            | JSON_VALUES,
            max_size=5,
        ),
    },
)


@PROPERTY
@given(NEAR_DEFINITIONS | JSON_VALUES)
def test_any_document_gets_problems_never_a_crash(document: Any) -> None:
    problems = validate_document(document)
    assert all(isinstance(p, Problem) and (p.path == "" or p.path.startswith("/")) for p in problems)
    assert all(p.message for p in problems)
    if not problems:
        load_definition(document)


@PROPERTY
@given(st.text(max_size=200) | st.binary(max_size=200))
def test_any_text_loads_or_is_one_located_problem(body: str | bytes) -> None:
    try:
        load_text(body)
    except InvalidDefinition as exc:
        assert exc.problems and all(p.path == "" or p.path.startswith("/") for p in exc.problems)
    try:
        load_text(body, "application/json")
    except InvalidDefinition as exc:
        assert exc.problems
