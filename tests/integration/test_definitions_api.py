"""The definitions API, over HTTP to the real Connexion app, against the moto server.

Every request goes through ``tests.support.api_client`` (so authentication, when
configured, is added in one place); what is stored is checked with boto3 against
the emulator's tables.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from sedo.adapters.aws import client as aws_client
from sedo.adapters.clock import FakeClock
from sedo.adapters.dynamodb import DynamoDefinitionStore
from sedo.config import Settings
from sedo.domain.execution import SUCCEEDED
from sedo.domain.language import load_text
from sedo.service_layer.definitions import DefinitionService
from tests.malformed import Case, cases, mismatch
from tests.support import Harness, api_client, serve_api

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DEFINITIONS = sorted((ROOT / "definitions").glob("*.y*ml"))
EXAMPLE = ROOT / "definitions" / "example-definition.yaml"
YAML = {"Content-Type": "application/yaml"}
CORPUS = cases()


@pytest.fixture
def api(stack: Settings) -> Iterator[str]:
    with serve_api(stack) as base_url:
        yield base_url


@pytest.fixture
def alice(api: str) -> Iterator[Any]:
    """An author of tenant 123."""
    with api_client(api, tenant="123") as http:
        yield http


@pytest.fixture
def bob(api: str) -> Iterator[Any]:
    """An author of another tenant."""
    with api_client(api, tenant="456") as http:
        yield http


def base(tenant: str) -> str:
    return f"/sedo/tenants/{tenant}/definitions"


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    """A problem+json answer (RFC 9457) with the members sedo promises."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body = response.json()
    assert body["status"] == status
    for member in ("type", "title", "detail"):
        assert isinstance(body[member], str) and body[member], body
    return dict(body)


def definition(definition_id: str, *messages: str, **extra: Any) -> dict[str, Any]:
    """A small valid definition: echo each message in turn."""
    steps: list[dict[str, Any]] = [
        {"id": f"say-{i}", "type": "echo", "message": m, "next": f"say-{i + 1}"} for i, m in enumerate(messages)
    ]
    del steps[-1]["next"]
    steps[-1]["end"] = True
    return {"id": definition_id, "steps": steps, **extra}


def stored_items(settings: Settings) -> list[dict[str, Any]]:
    """Everything in the definitions table, through boto3."""
    dynamodb = aws_client("dynamodb", settings)
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": settings.definitions_table, "ConsistentRead": True}
    while True:
        page = dynamodb.scan(**kwargs)
        items.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def list_all(http: Any, tenant: str, follow: str = "header") -> list[dict[str, Any]]:
    """Every page of a listing with limit=1, by the Sedo-Next-Token header or the Link header."""
    items: list[dict[str, Any]] = []
    response = http.get(base(tenant), params={"limit": 1})
    for _ in range(100):
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page) <= 1
        items.extend(page)
        token = response.headers.get("sedo-next-token")
        link = response.headers.get("link")
        assert (token is None) == (link is None), response.headers
        if token is None:
            return items
        if follow == "header":
            response = http.get(base(tenant), params={"limit": 1, "nextToken": token})
        else:
            target, rel = link.split(";", 1)
            assert rel.strip() == 'rel="next"'
            assert f"nextToken={token}" in target
            response = http.get(target.strip().strip("<>"))
    raise AssertionError("the listing never ended")


# --- the walk-through -----------------------------------------------------------------


def test_create_list_get_put_get_versions_and_delete(alice: Any, stack: Settings) -> None:
    text = EXAMPLE.read_text()
    authored = load_text(text)

    created = alice.post(base("123"), content=text, headers=YAML)
    assert created.status_code == 201, created.text
    assert created.headers["content-type"].startswith("application/json")
    assert created.json() == {"id": "example-definition", "tenantId": "123", "version": 1}
    assert created.headers["location"] == f"{base('123')}/example-definition"

    listed = alice.get(base("123"))
    assert listed.status_code == 200
    [summary] = listed.json()
    assert {k: summary[k] for k in ("id", "tenantId", "version")} == created.json()
    assert summary["createdAt"] == summary["updatedAt"]

    got = alice.get(f"{base('123')}/example-definition")
    assert got.status_code == 200
    v1 = got.json()
    assert v1["definition"] == authored
    assert (v1["id"], v1["tenantId"], v1["version"], v1["latestVersion"]) == ("example-definition", "123", 1, 1)

    changed = json.loads(json.dumps(authored))
    changed["description"] = "wait a minute instead"
    changed["steps"][1]["seconds"] = 60
    put = alice.put(f"{base('123')}/example-definition", json=changed)
    assert put.status_code == 200, put.text
    assert put.json() == {"id": "example-definition", "tenantId": "123", "version": 2}

    latest = alice.get(f"{base('123')}/example-definition").json()
    assert (latest["version"], latest["latestVersion"], latest["definition"]) == (2, 2, changed)
    first = alice.get(f"{base('123')}/example-definition", params={"version": 1}).json()
    assert (first["version"], first["latestVersion"], first["definition"]) == (1, 2, authored)
    assert first["createdAt"] == v1["createdAt"]
    second = alice.get(f"{base('123')}/example-definition", params={"version": 2}).json()
    assert second == latest

    [summary] = alice.get(base("123")).json()
    assert (summary["version"], summary["description"]) == (2, "wait a minute instead")

    deleted = alice.delete(f"{base('123')}/example-definition")
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert_problem(alice.get(f"{base('123')}/example-definition"), 404)
    assert_problem(alice.get(f"{base('123')}/example-definition", params={"version": 1}), 404)
    assert alice.get(base("123")).json() == []
    # Both versions stay stored: executions pinned to them keep running.
    versions = [i for i in stored_items(stack) if i["pk"]["S"] == "123#example-definition"]
    assert len(versions) == 2


def test_every_example_definition_is_stored_as_authored_in_yaml_and_in_json(stack: Settings) -> None:
    # The examples invoke functions that 'make run' maps locally; allow them, as it does.
    local = replace(stack, invoke_allow_list=("*",))
    with (
        serve_api(local) as base_url,
        api_client(base_url, tenant="yaml") as in_yaml,
        api_client(base_url, tenant="json") as in_json,
    ):
        for path in DEFINITIONS:
            authored = load_text(path.read_bytes())
            as_yaml = in_yaml.post(base("yaml"), content=path.read_bytes(), headers=YAML)
            assert as_yaml.status_code == 201, (path.name, as_yaml.text)
            as_json = in_json.post(base("json"), json=authored)
            assert as_json.status_code == 201, (path.name, as_json.text)
            for http, tenant in ((in_yaml, "yaml"), (in_json, "json")):
                got = http.get(f"{base(tenant)}/{authored['id']}")
                assert got.status_code == 200
                assert got.json()["definition"] == authored, path.name
        for http, tenant in ((in_yaml, "yaml"), (in_json, "json")):
            listed = http.get(base(tenant), params={"limit": 100}).json()
            assert sorted(d["id"] for d in listed) == sorted(p.stem for p in DEFINITIONS)


def test_yaml_with_a_charset_parameter_is_yaml(alice: Any) -> None:
    response = alice.post(
        base("123"), content=EXAMPLE.read_bytes(), headers={"Content-Type": "application/yaml; charset=utf-8"}
    )
    assert response.status_code == 201, response.text


def test_put_as_yaml_may_leave_out_the_id(alice: Any) -> None:
    assert alice.post(base("123"), json=definition("greeter", "hello")).status_code == 201
    text = "steps:\n  - {id: hi, type: echo, message: hi there, end: true}\n"
    put = alice.put(f"{base('123')}/greeter", content=text, headers=YAML)
    assert put.status_code == 200, put.text
    assert put.json()["version"] == 2
    stored = alice.get(f"{base('123')}/greeter").json()["definition"]
    assert stored["id"] == "greeter"
    assert stored["steps"] == [{"id": "hi", "type": "echo", "message": "hi there", "end": True}]


# --- conflicts, versions, deletes -----------------------------------------------------------


def test_creating_an_id_that_exists_is_a_conflict_not_an_overwrite(alice: Any) -> None:
    assert alice.post(base("123"), json=definition("dup", "first")).status_code == 201
    conflict = assert_problem(alice.post(base("123"), json=definition("dup", "second")), 409)
    assert "PUT" in conflict["detail"]
    got = alice.get(f"{base('123')}/dup").json()
    assert (got["version"], got["definition"]["steps"][0]["message"]) == (1, "first")


def test_delete_then_create_again_continues_the_version_numbers(alice: Any) -> None:
    assert alice.post(base("123"), json=definition("phoenix", "one")).json()["version"] == 1
    assert alice.put(f"{base('123')}/phoenix", json=definition("phoenix", "two")).json()["version"] == 2
    assert alice.delete(f"{base('123')}/phoenix").status_code == 204

    assert_problem(alice.delete(f"{base('123')}/phoenix"), 404)
    assert_problem(alice.put(f"{base('123')}/phoenix", json=definition("phoenix", "x")), 404)

    again = alice.post(base("123"), json=definition("phoenix", "three"))
    assert again.status_code == 201, again.text
    assert again.json()["version"] == 3
    latest = alice.get(f"{base('123')}/phoenix").json()
    assert (latest["version"], latest["latestVersion"], latest["definition"]["steps"][0]["message"]) == (
        3,
        3,
        "three",
    )
    # A version number always names the same document, even across a delete.
    old = alice.get(f"{base('123')}/phoenix", params={"version": 1}).json()
    assert old["definition"]["steps"][0]["message"] == "one"
    assert alice.put(f"{base('123')}/phoenix", json=definition("phoenix", "four")).json()["version"] == 4
    [summary] = alice.get(base("123")).json()
    assert summary["version"] == 4


def test_a_deleted_definition_starts_nothing_but_its_running_executions_finish(alice: Any, stack: Settings) -> None:
    assert alice.post(base("123"), json=definition("short-lived", "one", "two")).status_code == 201
    started = alice.post(f"{base('123')}/short-lived/execute", json={"input": {}})
    assert started.status_code == 201, started.text
    execution_id = started.json()["id"]
    assert started.json()["definitionVersion"] == 1

    assert alice.delete(f"{base('123')}/short-lived").status_code == 204
    assert_problem(alice.post(f"{base('123')}/short-lived/execute", json={"input": {}}), 404)

    Harness(stack).drain()  # the processor, on the execution the API started
    finished = alice.get(f"/sedo/tenants/123/executions/{execution_id}")
    assert finished.status_code == 200, finished.text
    assert finished.json()["state"] == SUCCEEDED
    assert finished.json()["output"] == {"message": "two"}


def test_unknown_ids_and_versions_are_not_found(alice: Any) -> None:
    assert_problem(alice.get(f"{base('123')}/never-created"), 404)
    assert_problem(alice.delete(f"{base('123')}/never-created"), 404)
    assert_problem(alice.put(f"{base('123')}/never-created", json=definition("never-created", "x")), 404)
    assert alice.post(base("123"), json=definition("one-version", "x")).status_code == 201
    assert alice.get(f"{base('123')}/one-version", params={"version": 1}).status_code == 200
    beyond = assert_problem(alice.get(f"{base('123')}/one-version", params={"version": 2}), 404)
    assert "latest is 1" in beyond["detail"]
    assert_problem(alice.get(f"{base('123')}/one-version", params={"version": 0}), 400)
    assert_problem(alice.get(f"{base('123')}/one-version", params={"version": "latest"}), 400)


def test_put_with_a_body_id_that_differs_from_the_path_is_a_bad_request(alice: Any, stack: Settings) -> None:
    assert alice.post(base("123"), json=definition("mine", "x")).status_code == 201
    problem = assert_problem(alice.put(f"{base('123')}/mine", json=definition("theirs", "y")), 400)
    assert "theirs" in problem["detail"] and "mine" in problem["detail"]
    assert alice.get(f"{base('123')}/mine").json()["latestVersion"] == 1
    assert_problem(alice.get(f"{base('123')}/theirs"), 404)
    assert len(stored_items(stack)) == 2  # one head, one version


def test_an_invalid_put_stores_no_version(alice: Any, stack: Settings) -> None:
    assert alice.post(base("123"), json=definition("stable", "x")).status_code == 201
    broken = definition("stable", "x")
    broken["steps"][0]["type"] = "sleep"
    problem = assert_problem(alice.put(f"{base('123')}/stable", json=broken), 400)
    assert [e["path"] for e in problem["errors"]] == ["/steps/0/type"]
    assert alice.get(f"{base('123')}/stable").json()["latestVersion"] == 1
    assert len(stored_items(stack)) == 2


# --- listing ---------------------------------------------------------------------------------


def test_listing_pages_have_no_duplicates_and_no_gaps(alice: Any) -> None:
    ids = [f"def-{n:02d}" for n in range(7)]
    for definition_id in ids:
        assert alice.post(base("123"), json=definition(definition_id, "x")).status_code == 201
    for gone in ("def-02", "def-05"):
        assert alice.delete(f"{base('123')}/{gone}").status_code == 204
    live = [i for i in ids if i not in ("def-02", "def-05")]

    everything = alice.get(base("123"), params={"limit": 100})
    assert "sedo-next-token" not in everything.headers
    assert [d["id"] for d in everything.json()] == live
    by_header = list_all(alice, "123", follow="header")
    by_link = list_all(alice, "123", follow="link")
    assert [d["id"] for d in by_header] == live
    assert by_link == by_header

    first = alice.get(base("123"), params={"limit": 2})
    assert [d["id"] for d in first.json()] == live[:2]
    rest = alice.get(base("123"), params={"limit": 100, "nextToken": first.headers["sedo-next-token"]})
    assert [d["id"] for d in rest.json()] == live[2:]
    # A page that holds exactly what is left is the last one: no token to an empty page.
    exact = alice.get(base("123"), params={"limit": len(live)})
    assert [d["id"] for d in exact.json()] == live
    assert "sedo-next-token" not in exact.headers and "link" not in exact.headers


class CountingClient:
    """A boto3 client that counts the requests made through it."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return method(*args, **kwargs)

        return call


def test_listing_past_many_deleted_definitions_takes_few_requests(stack: Settings) -> None:
    dynamodb = aws_client("dynamodb", stack)
    store = DynamoDefinitionStore(dynamodb, stack.definitions_table)
    service = DefinitionService(store, FakeClock())
    for n in range(60):
        service.create("123", definition(f"d{n:02d}", "x"))
        if n not in (7, 58):
            service.delete("123", f"d{n:02d}")
    counting = CountingClient(dynamodb)
    listing = DefinitionService(DynamoDefinitionStore(counting, stack.definitions_table), FakeClock())
    pages, token = [], None
    while True:
        page = listing.list("123", 1, token)
        pages.append([d["id"] for d in page.items])
        token = page.next_token
        if token is None:
            break
    assert pages == [["d07"], ["d58"]]
    assert counting.calls.count("query") <= 3, counting.calls


def test_listing_limits_and_tokens_are_checked(alice: Any) -> None:
    for limit in (0, 101, "ten"):
        assert_problem(alice.get(base("123"), params={"limit": limit}), 400)
    made_up = [
        "not-a-token",
        "bm90IGpzb24",  # base64 of 'not json'
        "eyJ0IjoiMTIzIiwicCI6eyJ4IjoxfX0",  # {"t":"123","p":{"x":1}}: well-formed, not a position
        "eyJ0IjoiMTIzIn0",  # {"t":"123"}
        "eyJ0IjoiMTIzIiwicCI6eyJwayI6eyJTIjoiNDU2In0sInNrIjp7IlMiOiJhIn19fQ",  # 123's token naming 456's key
    ]
    for token in made_up:
        assert_problem(alice.get(base("123"), params={"nextToken": token}), 400)


# --- tenants ---------------------------------------------------------------------------------


def test_another_tenant_sees_reads_changes_and_deletes_nothing(alice: Any, bob: Any) -> None:
    for definition_id in ("a-one", "a-two", "a-three"):
        assert alice.post(base("123"), json=definition(definition_id, "alice's")).status_code == 201

    assert bob.get(base("456")).json() == []
    for definition_id in ("a-one", "a-two"):
        assert_problem(bob.get(f"{base('456')}/{definition_id}"), 404)
        assert_problem(bob.get(f"{base('456')}/{definition_id}", params={"version": 1}), 404)
        assert_problem(bob.put(f"{base('456')}/{definition_id}", json=definition(definition_id, "bob's")), 404)
        assert_problem(bob.delete(f"{base('456')}/{definition_id}"), 404)

    # A page token of tenant 123 means nothing to tenant 456.
    token = alice.get(base("123"), params={"limit": 1}).headers["sedo-next-token"]
    assert_problem(bob.get(base("456"), params={"limit": 1, "nextToken": token}), 400)

    # The same id is a different definition in another tenant.
    own = bob.post(base("456"), json=definition("a-one", "bob's"))
    assert own.status_code == 201, own.text
    assert own.json() == {"id": "a-one", "tenantId": "456", "version": 1}
    assert [d["id"] for d in bob.get(base("456")).json()] == ["a-one"]

    alices = alice.get(base("123")).json()
    assert sorted(d["id"] for d in alices) == ["a-one", "a-three", "a-two"]
    assert all(d["version"] == 1 and d["tenantId"] == "123" for d in alices)
    mine = alice.get(f"{base('123')}/a-one").json()
    assert mine["definition"]["steps"][0]["message"] == "alice's"


# --- malformed bodies --------------------------------------------------------------------------


def _post_case(http: Any, tenant: str, case: Case) -> Any:
    return http.post(base(tenant), content=case.body, headers={"Content-Type": case.media_type})


def _corpus_mismatch(http: Any, tenant: str, case: Case) -> str | None:
    response = _post_case(http, tenant, case)
    if response.status_code != 400 or not response.headers["content-type"].startswith("application/problem+json"):
        return f"{case.name}: {response.status_code} {response.headers['content-type']} {response.text[:300]}"
    body = response.json()
    if "errors" not in body:
        return f"{case.name}: no 'errors' in {body}"
    assert_problem(response, 400)
    return mismatch(case, [(e["path"], e["message"]) for e in body["errors"]])


def test_every_malformed_definition_is_a_400_naming_every_problem_and_nothing_is_stored(
    alice: Any, stack: Settings
) -> None:
    expected_to_pass = [c for c in CORPUS if not (c.xfail or c.xfail_http)]
    assert len(expected_to_pass) >= 30
    failures = [m for c in expected_to_pass if (m := _corpus_mismatch(alice, "123", c))]
    assert not failures, "\n\n".join(failures)
    assert stored_items(stack) == []
    assert alice.get(base("123")).json() == []


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(c, id=c.name, marks=pytest.mark.xfail(reason=c.xfail or c.xfail_http, strict=True))
        for c in CORPUS
        if c.xfail or c.xfail_http
    ],
)
def test_malformed_definitions_with_known_bugs(alice: Any, stack: Settings, case: Case) -> None:
    """Strict xfails: each turns into a failure once its bug is fixed, to drop the marker."""
    failure = _corpus_mismatch(alice, "123", case)
    assert stored_items(stack) == []
    assert not failure, failure


def test_a_body_that_is_not_json_or_yaml_is_unsupported(alice: Any, stack: Settings) -> None:
    for media_type in ("text/plain", "application/x-yaml", "application/xml"):
        response = alice.post(base("123"), content=EXAMPLE.read_bytes(), headers={"Content-Type": media_type})
        assert_problem(response, 415)
    assert stored_items(stack) == []


def test_a_body_that_is_not_utf8_is_a_bad_request(alice: Any, stack: Settings) -> None:
    body = '{"id": "caf\u00e9", "steps": []}'.encode("latin-1")
    for media_type in ("application/yaml", "application/json"):
        problem = assert_problem(alice.post(base("123"), content=body, headers={"Content-Type": media_type}), 400)
        assert "UTF-8" in problem["detail"]
    assert stored_items(stack) == []


def test_an_invalid_definition_sent_as_json_reports_every_problem(alice: Any, stack: Settings) -> None:
    document = definition("json-problems", "a", "b", "c")
    document["steps"][0]["type"] = "ecko"
    document["steps"][1]["next"] = "nowhere"
    document["steps"].append({"id": "say-0", "type": "wait", "seconds": -1, "end": True})
    problem = assert_problem(alice.post(base("123"), json=document), 400)
    assert problem["title"] == "definition is invalid"
    assert sorted(e["path"] for e in problem["errors"]) == [
        "/steps/0/type",
        "/steps/1/next",
        "/steps/2",
        "/steps/3/id",
        "/steps/3/seconds",
    ]
    for error in problem["errors"]:
        assert f"{error['path']}: {error['message']}" in problem["detail"]
    assert stored_items(stack) == []
