"""Fuzz the REST API with schemathesis, from openapi/sedo.yaml, against a running local API.

The API runs in-process (tests.support.serve_api) on 127.0.0.1 against a moto server,
with a valid author token for one tenant (tests.support.auth_headers, the one place
tokens come from). The tenant has a stored definition and a started execution, and
the path parameters point at them half of the time (schemathesis dictionaries), so
operations reach their handlers instead of stopping at 404.

Checks: no 5xx (``not_a_server_error``); every status code is declared for the
operation (``status_code_conformance``); the Content-Type is declared for that status,
so errors are ``application/problem+json`` (``content_type_conformance``); bodies
and declared headers match their schemas, so every 4xx is sedo's problem shape: type
(one of sedo's ``https://sedo.dev/problems/`` URIs, a pattern in the spec), title, status,
detail (``response_schema_conformance``, ``response_headers_conformance``).
``make fuzz`` adds the negative-data checks (invalid requests must be rejected with 4xx).

Used by ``make fuzz`` (``python -m tests.fuzz``: many examples) and by the short run
in ``make test`` (tests/fuzz/test_fuzz_short.py: a few seeded examples per operation).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sedo.config import REPO_ROOT, Settings
from tests.support import api_client, mint, serve_api

SPEC = REPO_ROOT / "openapi" / "sedo.yaml"
TENANT = "fuzz"
EXAMPLE = REPO_ROOT / "definitions" / "example-definition.yaml"

#: Spec conformance: what the short run in ``make test`` asserts.
CONFORMANCE_CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
)
#: ``make fuzz`` also asserts that invalid requests are rejected.
FULL_CHECKS = (*CONFORMANCE_CHECKS, "negative_data_rejection")


@dataclass(frozen=True)
class Target:
    base_url: str
    headers: dict[str, str]
    definition_id: str
    execution_id: str


@contextmanager
def fuzz_target(settings: Settings) -> Iterator[Target]:
    """The API on a free port, with one tenant's definition and execution to aim at."""
    with serve_api(settings) as base_url:
        with api_client(base_url, TENANT, "author") as http:
            created = http.post(
                f"/sedo/tenants/{TENANT}/definitions",
                content=EXAMPLE.read_bytes(),
                headers={"Content-Type": "application/yaml"},
            )
            assert created.status_code == 201, created.text
            definition_id = created.json()["id"]
            started = http.post(
                f"/sedo/tenants/{TENANT}/definitions/{definition_id}/execute", json={"input": {"foo": "bar"}}
            )
            assert started.status_code == 201, started.text
        # an author of the tenant who is also a platform admin: the admin operations answer too
        admin = {"Authorization": f"Bearer {mint(TENANT, 'author', admin=True)}"}
        yield Target(base_url, admin, definition_id, started.json()["id"])


def _toml(value: object) -> str:
    return json.dumps(value)  # a JSON string or list is valid TOML


def write_config(target: Target, directory: Path) -> Path:
    """schemathesis.toml: the token, and path parameters aimed at the tenant's data."""
    lines = [f"headers = {{ {', '.join(f'{_toml(k)} = {_toml(v)}' for k, v in target.headers.items())} }}", ""]
    lines += [
        "[parameters]",
        f'"path.tenantId" = {_toml(TENANT)}',
        '"path.definitionId" = { dictionary = "definitions", probability = 0.5 }',
        '"path.executionId" = { dictionary = "executions", probability = 0.5 }',
        "",
        "[dictionaries.definitions]",
        f"values = {_toml([target.definition_id])}",
        "",
        "[dictionaries.executions]",
        f"values = {_toml([target.execution_id])}",
        "",
    ]
    path = directory / "schemathesis.toml"
    path.write_text("\n".join(lines))
    return path


def run(
    target: Target,
    directory: Path,
    *,
    max_examples: int,
    seed: int = 7,
    checks: tuple[str, ...] = CONFORMANCE_CHECKS,
    phases: str = "examples,coverage,fuzzing",
    deterministic: bool = True,
    extra: tuple[str, ...] = (),
    capture: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run ``st run`` against ``target``; its exit status is 0 when every check passed.

    ``deterministic``: the same cases every run (the short run in ``make test``); otherwise
    ``seed`` picks them, so ``make fuzz`` with another seed explores elsewhere.
    """
    config = write_config(target, directory)
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config),
        "--no-color",
        "run",
        str(SPEC),
        "--url",
        target.base_url,
        "--checks",
        ",".join(checks),
        "--phases",
        phases,
        "--max-examples",
        str(max_examples),
        *(["--generation-deterministic"] if deterministic else ["--seed", str(seed)]),
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--suppress-health-check",
        "too_slow,filter_too_much",
        # moto's EventBridge answers 500 to some generated bodies (huge numbers, control
        # characters) that EventBridge itself validates: fuzzing POST .../events would test the
        # emulator. tests/integration/test_events.py covers that operation's bad inputs.
        "--exclude-operation-id",
        "put_events",
        "--report",
        "junit",
        "--report-dir",
        str(directory / "report"),
        *extra,
    ]
    return subprocess.run(
        command,
        cwd=directory,
        capture_output=capture,
        text=True,
        timeout=1800,
        check=False,
    )
