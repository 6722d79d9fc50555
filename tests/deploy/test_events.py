"""The API Gateway events the artifact tests start from are what ``sam local generate-event`` makes."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.deploy import apigw, cfn

SAM = cfn.ROOT / ".venv-sam" / "bin" / "sam"


@pytest.mark.parametrize(
    ("kind", "path"), [("aws-proxy", apigw.V1_FILE), ("http-api-proxy", apigw.V2_FILE)], ids=["1.0", "2.0"]
)
def test_events_are_what_sam_generates(kind: str, path: Path) -> None:
    if not SAM.exists():
        if os.environ.get("SEDO_REQUIRE_SAM_BUILD"):
            pytest.fail(f"{SAM} is missing: run 'make sam-venv'")
        pytest.skip("no .venv-sam: run 'make sam-venv'")
    generated = subprocess.run(
        [str(SAM), "local", "generate-event", "apigateway", kind],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "SAM_CLI_TELEMETRY": "0"},
        cwd=cfn.ROOT / "tests" / "deploy",
    )
    assert json.loads(generated.stdout) == json.loads(path.read_text())
