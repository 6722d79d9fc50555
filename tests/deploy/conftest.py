"""Fixtures for the built Lambda artifacts (``sam build`` output in .aws-sam/build).

``make test`` builds them first (``make sam-check``) and sets SEDO_REQUIRE_SAM_BUILD, so
a missing build fails there; a bare ``pytest`` without a build skips these tests.
"""

from __future__ import annotations

import importlib.util
import json
import os
import select
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from sedo.config import Settings
from sedo.entrypoints.local.moto import provision
from tests.deploy import cfn

BUILD_DIR = cfn.ROOT / ".aws-sam" / "build"
DRIVER = Path(__file__).resolve().parent / "lambda_driver.py"
HANDLERS = {
    "ApiFunction": "sedo.entrypoints.api.lambda_handler.handler",
    "ProcessorFunction": "processor.handler.handler",
    "SweeperFunction": "sedo.entrypoints.sweeper.handler",
    "EventsFunction": "sedo.entrypoints.events.handler",
}


def load_build_module() -> ModuleType:
    """deploy/build.py (not a package): where the runtime's Python is found."""
    spec = importlib.util.spec_from_file_location("sedo_deploy_build", cfn.ROOT / "deploy" / "build.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def built() -> Path:
    missing = [name for name in HANDLERS if not (BUILD_DIR / name).is_dir()]
    if missing:
        message = f"no sam build of {', '.join(missing)} in {BUILD_DIR}: run 'make sam-build'"
        if os.environ.get("SEDO_REQUIRE_SAM_BUILD"):
            pytest.fail(message)
        pytest.skip(message)
    return BUILD_DIR


@pytest.fixture(scope="session")
def lambda_python() -> str:
    build = load_build_module()
    version, _ = build.runtime_and_arch()
    return str(build.find_python(version))


class Lambda:
    """One built artifact behind lambda_driver.py: a fresh interpreter, a cold start, then events."""

    def __init__(self, python: str, artifact: Path, handler: str, env: dict[str, str]) -> None:
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        self.process = subprocess.Popen(
            [python, "-I", "-S", str(DRIVER), str(artifact), handler],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            env=env,
            text=True,
        )
        self.calls: list[dict[str, Any]] = []
        self.modules: list[str] = []
        self.ready = self._read()

    def _read(self, timeout: float = 60) -> dict[str, Any]:
        assert self.process.stdout is not None
        readable, _, _ = select.select([self.process.stdout], [], [], timeout)
        line = self.process.stdout.readline() if readable else ""
        if not line:
            raise AssertionError(f"the artifact's interpreter did not answer; its output:\n{self.output()}")
        return dict(json.loads(line))

    def invoke(self, event: dict[str, Any]) -> Any:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"event": event}) + "\n")
        self.process.stdin.flush()
        answer = self._read()
        self.calls.extend(answer["calls"])
        self.modules = answer["modules"]
        if "error" in answer:
            raise AssertionError(f"the handler raised:\n{answer['error']}\nits output:\n{self.output()}")
        return answer["response"]

    def output(self, tail: int = 6000) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-tail:]

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout:
            self.process.stdout.close()
        self.log.close()


@dataclass
class Deployment:
    """A stack from template.yaml on the moto server, and the built functions configured for it."""

    settings: Settings
    python: str
    build_dir: Path
    jwt: Settings
    started: list[Lambda] = field(default_factory=list)

    @property
    def refs(self) -> dict[str, str]:
        return {
            "DefinitionsTable": self.settings.definitions_table,
            "ExecutionsTable": self.settings.executions_table,
            "HistoryTable": self.settings.history_table,
            "ExecutionQueue": self.settings.queue_url,
            "PayloadBucket": self.settings.payload_bucket,
            "TenantsTable": self.settings.tenants_table,
            "EventsQueue": self.settings.events_queue_url,
            "EventBus": self.settings.event_bus,
        }

    @property
    def names(self) -> dict[str, str]:
        """Physical names -> logical ids, to map recorded calls onto the template."""
        return {value: key for key, value in self.refs.items()}

    def parameters(self) -> dict[str, str]:
        values = {}
        for name, parameter in cfn.template()["Parameters"].items():
            values[name] = str(parameter.get("Default", ""))
        values["JwtIssuer"] = str(self.jwt.jwt_issuer)
        values["JwtAudience"] = str(self.jwt.jwt_audience)
        return values

    def environment(self, function: str) -> dict[str, str]:
        """What Lambda would give the function: template.yaml's variables, filled in, and the
        runtime's own; plus the emulator's endpoint and, for the API, the test key (on AWS its
        keys come from the issuer's JWKS)."""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "TZ": "UTC",
            "AWS_REGION": self.settings.region,
            "AWS_DEFAULT_REGION": self.settings.region,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_LAMBDA_FUNCTION_NAME": function,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "SEDO_ENDPOINT_URL": str(self.settings.endpoint_url),
            **cfn.resolve_environment(function, self.refs, self.parameters()),
        }
        if function == "ApiFunction" and self.jwt.jwt_public_key:
            env["SEDO_JWT_PUBLIC_KEY"] = self.jwt.jwt_public_key
        return env

    def start(self, function: str) -> Lambda:
        started = Lambda(self.python, self.build_dir / function, HANDLERS[function], self.environment(function))
        self.started.append(started)
        return started


@pytest.fixture(scope="module")
def deployment(built: Path, lambda_python: str, moto_endpoint: str) -> Iterator[Deployment]:
    from tests.support import with_test_auth

    settings = provision(
        moto_endpoint,
        stage="d" + uuid.uuid4().hex[:12],
        parameters={"QueueVisibilityTimeoutSeconds": "5"},
    )
    deployment = Deployment(settings, lambda_python, built, with_test_auth(settings))
    yield deployment
    for started in deployment.started:
        started.close()


@pytest.fixture(scope="module")
def api(deployment: Deployment) -> Lambda:
    return deployment.start("ApiFunction")


@pytest.fixture(scope="module")
def processor(deployment: Deployment) -> Lambda:
    return deployment.start("ProcessorFunction")


@pytest.fixture(scope="module")
def sweeper(deployment: Deployment) -> Lambda:
    return deployment.start("SweeperFunction")


def wait_until(predicate: Any, timeout: float = 30, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(interval)
