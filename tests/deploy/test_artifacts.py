"""The built Lambda artifacts (``sam build``), each in a fresh interpreter of the Lambda
runtime's Python with only its own directory on ``sys.path``, against the moto server.

- The API answers API Gateway proxy events, payload 1.0 and 2.0 as ``sam local
  generate-event`` makes them (no Content-Length header), with the right status codes
  and bodies; errors come back as problem+json text, not base64.
- The processor, given Lambda-shaped SQS batches, advances executions to their end and
  reports exactly its failed records in ``batchItemFailures``.
- The sweeper, invoked as its schedule does, re-sends the wake-up of an execution whose
  message was lost once it is overdue, and the execution then runs to its end.
- Every AWS call either function makes is allowed by its role in template.yaml and uses
  the keys and indexes the template declares.
- The artifacts hold what the functions need and nothing else, as bytecode for the runtime.
"""

from __future__ import annotations

import json
import struct
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from sedo.adapters.dynamodb.common import execution_key
from sedo.adapters.dynamodb.headdoc import doc_value, document_of
from sedo.domain.execution import split_execution_id
from sedo.entrypoints.local.esm import to_lambda_event
from tests.deploy import apigw, cfn
from tests.deploy.conftest import Deployment, Lambda, wait_until
from tests.support import auth_headers

DEFINITION = """\
id: {id}
inputSchema:
  type: object
  properties: {{foo: {{type: string}}}}
  required: [foo]
  additionalProperties: false
steps:
  - id: first
    type: echo
    message: first echo
    next: pause
  - id: pause
    type: wait
    seconds: 1
    next: last
  - id: last
    type: echo
    message: last echo
    end: true
"""

VERSIONS = ["1.0", "2.0"]
TENANTS = {"1.0": "123", "2.0": "456"}


def call(
    api: Lambda,
    version: str,
    method: str,
    path: str,
    body: Any = None,
    tenant: str | None = None,
    content_type: str = "application/json",
    query: dict[str, str] | None = None,
    base64_body: bool = True,
) -> dict[str, Any]:
    headers = {"Content-Type": content_type} if body is not None else {}
    if tenant is not None:
        headers.update(auth_headers(tenant, "author"))
    if body is not None and not isinstance(body, str):
        body = json.dumps(body)
    event = apigw.event(version, method, path, body, headers, query, base64_body)
    assert not any(k.lower() == "content-length" for k in event.get("headers") or {}), "API Gateway sends none"
    response = api.invoke(event)
    assert isinstance(response, dict) and isinstance(response.get("statusCode"), int), response
    return response


def assert_problem(response: dict[str, Any], status: int) -> dict[str, Any]:
    assert response["statusCode"] == status, response
    assert apigw.header(response, "content-type") == "application/problem+json", response
    problem = apigw.body_json(response)
    assert problem["status"] == status
    assert {"type", "title", "status", "detail"} <= set(problem), problem
    return dict(problem)


def assert_allowed(deployment: Deployment, function: Lambda, logical: str) -> None:
    """Every AWS call the function made is granted to its role and matches the template's keys."""
    role = cfn.function_role(logical)
    needed = cfn.required_permissions(function.calls, deployment.names)
    missing = needed - cfn.grants(role)
    assert not missing, f"{logical} calls what {role} does not grant: {sorted(map(str, missing))}"
    assert not cfn.key_problems(function.calls, deployment.names)


@pytest.mark.parametrize("version", VERSIONS)
def test_api_answers_api_gateway_proxy_events(deployment: Deployment, api: Lambda, version: str) -> None:
    tenant = TENANTS[version]
    definition_id = f"deploy-check-{version.replace('.', '-')}"
    base = f"/sedo/tenants/{tenant}"

    health = call(api, version, "GET", "/sedo/health")
    assert health["statusCode"] == 200
    assert apigw.body_json(health) == {"status": "ok"}

    # No token: 401 problem+json (API Gateway's JWT authorizer would answer first; the API agrees).
    assert_problem(call(api, version, "GET", f"{base}/definitions"), 401)

    # Create the definition from YAML as authored, base64-encoded as API Gateway forwards it.
    created = call(
        api,
        version,
        "POST",
        f"{base}/definitions",
        DEFINITION.format(id=definition_id),
        tenant,
        content_type="application/yaml",
    )
    assert created["statusCode"] == 201, created
    assert apigw.body_json(created) == {"id": definition_id, "tenantId": tenant, "version": 1}
    assert apigw.header(created, "location") == f"{base}/definitions/{definition_id}"

    # An invalid definition: 400 with every problem and its JSON Pointer, as text.
    broken = {"id": "broken", "steps": [{"id": "a", "type": "echo", "message": "hi", "next": "nowhere"}]}
    problem = assert_problem(call(api, version, "POST", f"{base}/definitions", broken, tenant), 400)
    assert any("nowhere" in e["message"] for e in problem["errors"]), problem

    # Input that breaks the inputSchema: 400 naming every violation (a plain-text body this time).
    execute = f"{base}/definitions/{definition_id}/execute"
    problem = assert_problem(
        call(api, version, "POST", execute, {"input": {"bar": "baz"}}, tenant, base64_body=False), 400
    )
    assert problem["title"] == "input does not pass inputSchema validation"
    assert len(problem["errors"]) >= 2, problem

    # Valid input: 201 and a submitted execution.
    started = call(api, version, "POST", execute, {"input": {"foo": "bar"}}, tenant)
    assert started["statusCode"] == 201, started
    execution = apigw.body_json(started)
    assert execution["state"] == "ExecutionSubmitted"
    assert execution["tenantId"] == tenant

    # Reads: one execution, and the list filtered by definition (the byDefinition index).
    read = call(api, version, "GET", f"{base}/executions/{execution['id']}", tenant=tenant)
    assert read["statusCode"] == 200, read
    assert apigw.body_json(read)["id"] == execution["id"]
    listed = call(api, version, "GET", f"{base}/executions", tenant=tenant, query={"definitionId": definition_id})
    assert listed["statusCode"] == 200, listed
    assert [e["id"] for e in apigw.body_json(listed)] == [execution["id"]]

    # A route the contract does not have: problem+json from Connexion, not a crash.
    missing = call(api, version, "GET", f"{base}/nothing-here", tenant=tenant)
    assert missing["statusCode"] == 404, missing

    assert_allowed(deployment, api, "ApiFunction")


@pytest.mark.parametrize("version", VERSIONS)
def test_api_serves_the_console_swagger_ui_and_the_spec_without_a_token(api: Lambda, version: str) -> None:
    """The public page routes of template.yaml reach the same app; bodies come back as text."""
    pages = {
        "/sedo/console/index.html": "text/html",
        "/sedo/console/app.js": "text/javascript",
        "/sedo/console/vendor/elkjs/elk.bundled.js": "text/javascript",
        "/sedo/ui/index.html": "text/html",
        "/sedo/openapi.json": "application/json",
    }
    for path, media_type in pages.items():
        response = call(api, version, "GET", path)
        assert response["statusCode"] == 200, (path, response)
        assert (apigw.header(response, "content-type") or "").startswith(media_type), path
        assert "script-src 'self'" in (apigw.header(response, "content-security-policy") or ""), path
        assert not response.get("isBase64Encoded"), path
    index = call(api, version, "GET", "/sedo/console/index.html")["body"]
    assert index == (cfn.ROOT / "sedo/entrypoints/api/static/console/index.html").read_text()
    assert (
        "/sedo/tenants/{tenantId}/definitions"
        in json.loads(call(api, version, "GET", "/sedo/openapi.json")["body"])["paths"]
    )
    assert call(api, version, "GET", "/sedo/console/missing.js")["statusCode"] == 404


def _receive(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    return list(
        sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageSystemAttributeNames=["All"]
        ).get("Messages", [])
    )


def _start(api: Lambda, tenant: str, definition_id: str, inputs: list[dict[str, Any]]) -> list[str]:
    """Create DEFINITION as `definition_id` through the API function and start it once per input."""
    base = f"/sedo/tenants/{tenant}"
    created = call(
        api, "2.0", "POST", f"{base}/definitions", DEFINITION.format(id=definition_id), tenant, "application/yaml"
    )
    assert created["statusCode"] == 201, created
    ids = []
    for payload in inputs:
        started = call(api, "2.0", "POST", f"{base}/definitions/{definition_id}/execute", {"input": payload}, tenant)
        assert started["statusCode"] == 201, started
        ids.append(str(apigw.body_json(started)["id"]))
    return ids


def test_processor_advances_executions_with_partial_batch_responses(
    deployment: Deployment, api: Lambda, processor: Lambda
) -> None:
    settings = deployment.settings
    tenant = "789"
    base = f"/sedo/tenants/{tenant}"
    ids = _start(api, tenant, "batch", [{"foo": str(n)} for n in range(3)])

    sqs = boto3.client("sqs", endpoint_url=settings.endpoint_url, region_name=settings.region)
    queue_arn = sqs.get_queue_attributes(QueueUrl=settings.queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    # A poison message in the first batch: it must be the one failure; its batch-mates succeed.
    sqs.send_message(QueueUrl=settings.queue_url, MessageBody="this is not a wake-up")

    def state(execution_id: str) -> str:
        response = call(api, "2.0", "GET", f"{base}/executions/{execution_id}", tenant=tenant)
        return str(apigw.body_json(response)["state"])

    poison_reported = False
    duplicated = False
    invocations = 0
    for _ in range(60):
        if all(state(i) == "ExecutionSucceeded" for i in ids):
            break
        messages = _receive(sqs, settings.queue_url)
        if not messages:
            continue
        if not duplicated:  # at-least-once delivery: the same wake-up twice in one batch
            messages.append({**messages[0], "MessageId": messages[0]["MessageId"] + "-dup"})
            duplicated = True
        result = processor.invoke(to_lambda_event(messages, queue_arn, settings.region))
        invocations += 1
        assert set(result) == {"batchItemFailures"}, result
        failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
        poison = {m["MessageId"] for m in messages if m["Body"] == "this is not a wake-up"}
        assert failed == poison, f"failures {failed}, poison {poison}"
        poison_reported |= bool(poison)
        real = {m["MessageId"]: m for m in messages if not m["MessageId"].endswith("-dup")}
        entries = [{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(real.values())]
        sqs.delete_message_batch(QueueUrl=settings.queue_url, Entries=entries)  # poison too: seen, done

    assert poison_reported
    assert [state(i) for i in ids] == ["ExecutionSucceeded"] * 3
    history = call(api, "2.0", "GET", f"{base}/executions/{ids[0]}/history", tenant=tenant)
    events = apigw.body_json(history)
    assert [e["id"] for e in events] == list(range(1, len(events) + 1)), events
    assert invocations >= 2  # the wait step re-arms through the queue

    # The processor never loads the API's stack.
    assert not {"connexion", "flask", "starlette", "mangum", "werkzeug"} & set(processor.modules)
    assert_allowed(deployment, processor, "ProcessorFunction")
    assert wait_until(lambda: not _receive(sqs, settings.queue_url), timeout=10)


def _drive(api: Lambda, processor: Lambda, sqs: Any, deployment: Deployment, tenant: str, execution_id: str) -> str:
    """Feed every queued wake-up to the processor until the execution ends; its final state."""
    settings = deployment.settings
    queue_arn = sqs.get_queue_attributes(QueueUrl=settings.queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    state = ""
    for _ in range(60):
        read = call(api, "2.0", "GET", f"/sedo/tenants/{tenant}/executions/{execution_id}", tenant=tenant)
        state = str(apigw.body_json(read)["state"])
        if state in ("ExecutionSucceeded", "ExecutionFailed"):
            break
        messages = _receive(sqs, settings.queue_url)
        if messages:
            result = processor.invoke(to_lambda_event(messages, queue_arn, settings.region))
            assert result == {"batchItemFailures": []}, result
            entries = [{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)]
            sqs.delete_message_batch(QueueUrl=settings.queue_url, Entries=entries)
    return state


def test_sweeper_resends_the_lost_wake_up_of_an_overdue_execution(
    deployment: Deployment, api: Lambda, processor: Lambda, sweeper: Lambda
) -> None:
    settings = deployment.settings
    tenant = "321"
    base = f"/sedo/tenants/{tenant}"
    (execution_id,) = _start(api, tenant, "lost", [{"foo": "x"}])

    # The start message is lost (a purge, say): take it off the queue unprocessed.
    sqs = boto3.client("sqs", endpoint_url=settings.endpoint_url, region_name=settings.region)
    lost = []
    for _ in range(30):
        for message in _receive(sqs, settings.queue_url):
            if json.loads(message["Body"]).get("tenantId") == tenant:
                sqs.delete_message(QueueUrl=settings.queue_url, ReceiptHandle=message["ReceiptHandle"])
                lost.append(message)
            else:  # another test's: leave it for the processor
                sqs.change_message_visibility(
                    QueueUrl=settings.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
        if lost:
            break
    assert [json.loads(m["Body"])["kind"] for m in lost] == ["start"], lost

    # The head is in the due index, due after the grace period: make that moment an hour ago (the
    # sweeper reads the system clock, so the head's times move, not the clock).
    dynamodb = boto3.client("dynamodb", endpoint_url=settings.endpoint_url, region_name=settings.region)
    _, _, key = split_execution_id(execution_id)
    item = dynamodb.get_item(TableName=settings.executions_table, Key=execution_key(tenant, key), ConsistentRead=True)[
        "Item"
    ]
    assert "dueShard" in item and int(item["dueAt"]["N"]) > time.time(), item  # not overdue yet
    document = document_of(item)
    hour_ago = int(time.time()) - 3600
    document["due_from"], document["due_at"] = hour_ago, hour_ago + 180
    item["doc"] = doc_value(document)
    item["dueAt"] = {"N": str(hour_ago + 180)}
    dynamodb.put_item(TableName=settings.executions_table, Item=item)

    report = sweeper.invoke({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}})
    assert report["due"] >= 1 and report["resent"] >= 1 and report["lostRaces"] == 0, report
    head = dynamodb.get_item(TableName=settings.executions_table, Key=execution_key(tenant, key), ConsistentRead=True)
    assert int(head["Item"]["dueAt"]["N"]) > time.time(), head  # looked at again only after a new grace period
    assert _drive(api, processor, sqs, deployment, tenant, execution_id) == "ExecutionSucceeded"
    history = apigw.body_json(call(api, "2.0", "GET", f"{base}/executions/{execution_id}/history", tenant=tenant))
    assert [e["id"] for e in history] == list(range(1, len(history) + 1)), history
    assert sum(e["type"] == "ExecutionSucceeded" for e in history) == 1

    # Finished: out of the index, so no later run looks at it.
    item = dynamodb.get_item(TableName=settings.executions_table, Key=execution_key(tenant, key), ConsistentRead=True)[
        "Item"
    ]
    assert "dueShard" not in item and "dueAt" not in item, item

    assert not API_ONLY & set(sweeper.modules), API_ONLY & set(sweeper.modules)
    assert_allowed(deployment, sweeper, "SweeperFunction")
    assert_allowed(deployment, processor, "ProcessorFunction")


# -- what is in the artifacts ------------------------------------------------------------------

NEVER = {"tests", "moto", "uvicorn", "pytest", "hypothesis", "mypy", "ruff", "cfnlint", "samcli", "pip", "setuptools"}
API_ONLY = {"connexion", "flask", "starlette", "mangum", "werkzeug", "a2wsgi", "openapi"}


def _top_level(artifact: Path) -> set[str]:
    return {p.name.removesuffix(".py") for p in artifact.iterdir() if not p.name.endswith(".dist-info")}


def test_artifacts_hold_only_what_the_functions_need(built: Path) -> None:
    api, processor, sweeper = built / "ApiFunction", built / "ProcessorFunction", built / "SweeperFunction"
    for artifact in (api, processor, sweeper):
        assert not NEVER & _top_level(artifact), NEVER & _top_level(artifact)
    for artifact in (processor, sweeper):
        assert not API_ONLY & _top_level(artifact), API_ONLY & _top_level(artifact)
        assert not (artifact / "sedo" / "entrypoints" / "api").exists()
        assert not (artifact / "sedo" / "auth").exists()  # tokens are the API's business
    assert (sweeper / "sedo" / "entrypoints" / "sweeper.py").is_file()
    assert (api / "openapi" / "sedo.yaml").read_bytes() == (cfn.ROOT / "openapi" / "sedo.yaml").read_bytes()
    assert (api / "sedo" / "entrypoints" / "api" / "lambda_handler.py").is_file()
    static = cfn.ROOT / "sedo" / "entrypoints" / "api" / "static"
    for page in ("console/index.html", "console/app.js", "ui/index.html", "vendored.json"):  # the pages it serves
        assert (api / "sedo" / "entrypoints" / "api" / "static" / page).read_bytes() == (static / page).read_bytes()
    assert (processor / "processor" / "handler.py").is_file()
    for artifact in (api, processor, sweeper):
        assert not (artifact / "sedo" / "entrypoints" / "local").exists()
        assert not list(artifact.rglob("tests/test_*.py"))
    assert (api / "sedo" / "auth" / "verifier.py").is_file() and not (api / "sedo" / "auth" / "local.py").exists()
    for artifact in (api, processor, sweeper):  # Lambda's limit for a function's unzipped code
        assert sum(f.stat().st_size for f in artifact.rglob("*") if f.is_file()) < 250 * 2**20


def test_artifacts_ship_unchecked_bytecode_for_the_runtime(built: Path) -> None:
    """Every module has a pyc of the runtime's version that Python uses without checking the
    source's mtime: Lambda's file system is read-only and zips do not keep mtimes exactly."""
    runtime = cfn.template()["Globals"]["Function"]["Runtime"]  # e.g. python3.13
    tag = "cpython-" + runtime.removeprefix("python").replace(".", "")
    for artifact in (built / "ApiFunction", built / "ProcessorFunction", built / "SweeperFunction"):
        sources = [p for p in artifact.rglob("*.py") if "__pycache__" not in p.parts]
        assert sources
        for source in sources:
            pyc = source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"
            assert pyc.is_file(), f"no {tag} bytecode for {source.relative_to(artifact)}"
            (flags,) = struct.unpack("<I", pyc.read_bytes()[4:8])
            assert flags == 0b01, f"{pyc.relative_to(artifact)}: not unchecked-hash (flags {flags:#b})"
