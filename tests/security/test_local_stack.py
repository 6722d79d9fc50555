"""`make run` as a new user meets it: a fresh state directory, no key yet.

`sedo local` creates the signing key (mode 0600), prints an author token for tenant
123 and an `export TOKEN=` line; the README's curl line works with it; `sedo token`
mints more from the same key; a token from any other key is a 401.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import running_stack
from tests.support import auth_headers

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "definitions" / "example-definition.yaml"


@pytest.fixture(scope="module")
def fresh_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, str]]:
    state = tmp_path_factory.mktemp("fresh-local")
    # as on a developer's machine: the key lives in the state dir, not in the test key file
    with running_stack(state, drop_env=("SEDO_JWT_SIGNING_KEY_FILE",)) as stack:
        yield stack.base_url, state, stack.output()


def test_make_run_creates_a_private_key_and_prints_a_working_token(fresh_stack: tuple[str, Path, str]) -> None:
    base, state, banner = fresh_stack
    key = state / "jwt-signing-key.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    match = re.search(r"export TOKEN=(\S+)", banner)
    assert match, banner
    token = match.group(1)
    curl = next(line for line in banner.splitlines() if line.strip().startswith("curl"))
    assert '-H "Authorization: Bearer $TOKEN"' in curl and str(EXAMPLE) in curl

    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as http:
        created = http.post(
            "/sedo/tenants/123/definitions", content=EXAMPLE.read_bytes(), headers={"Content-Type": "application/yaml"}
        )
        assert created.status_code == 201, created.text
        assert http.get("/sedo/tenants/123/definitions").status_code == 200
        assert http.get("/sedo/tenants/456/definitions").status_code == 403


def test_sedo_token_mints_more_from_the_same_key(fresh_stack: tuple[str, Path, str]) -> None:
    base, state, _ = fresh_stack
    env = {**os.environ, "SEDO_LOCAL_DIR": str(state)}
    env.pop("SEDO_JWT_SIGNING_KEY_FILE", None)
    minted = subprocess.run(
        [sys.executable, "-m", "sedo.entrypoints.cli", "token", "--tenant", "123", "--role", "viewer", "--ttl", "5m"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    headers = {"Authorization": f"Bearer {minted.stdout.strip()}"}
    assert httpx.get(f"{base}/sedo/tenants/123/executions", headers=headers).status_code == 200
    refused = httpx.delete(f"{base}/sedo/tenants/123/definitions/example-definition", headers=headers)
    assert refused.status_code == 403 and "needs the role 'author'" in refused.json()["detail"]


def test_a_token_from_another_key_is_401(fresh_stack: tuple[str, Path, str]) -> None:
    base, _, _ = fresh_stack
    response = httpx.get(f"{base}/sedo/tenants/123/definitions", headers=auth_headers("123"))  # the tests' key
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith('Bearer realm="sedo", error="invalid_token"')
    assert httpx.get(f"{base}/sedo/health").status_code == 200
