"""The ``sedo`` command line against `sedo local`: each command, its output and exit status."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sedo.entrypoints.cli import main
from tests.e2e.conftest import LocalStack
from tests.support import mint

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
TENANT = "cli"
QUICK = """\
id: quick
inputSchema:
  type: object
  required: [n]
  additionalProperties: false
  properties: {n: {type: integer, minimum: 1}}
output: "{doubled: doubled}"
steps:
  - {id: double, type: transform, expression: "input.n", resultPath: doubled, next: done}
  - {id: done, type: succeed}
"""
ASK = """\
id: ask
steps:
  - id: approve
    type: callback
    resultPath: answer
    catch:
      - {errors: [Refused], next: refused}
    next: done
  - {id: done, type: succeed}
  - {id: refused, type: fail, error: Refused, cause: a person said no}
"""
FANOUT = """\
id: fanout
steps:
  - id: each
    type: map
    items: "input.items"
    iterator:
      steps:
        - {id: one, type: transform, expression: "input", end: true}
    end: true
"""


@pytest.fixture
def cli_env(local_stack: LocalStack, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    for name in ("SEDO_TENANT", "SEDO_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SEDO_CONFIG", str(tmp_path / "no-config.toml"))
    monkeypatch.setenv("SEDO_URL", local_stack.base_url)
    monkeypatch.setenv("SEDO_TOKEN", mint(TENANT, "author"))
    for name, text in (("quick.yaml", QUICK), ("ask.yaml", ASK), ("fanout.yaml", FANOUT)):
        (tmp_path / name).write_text(text)
    assert main(["push", str(tmp_path)]) == 0
    yield tmp_path


def sedo(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_push_creates_then_versions_and_names_each_bad_file(
    cli_env: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    capsys.readouterr()
    before = {d["id"]: d["version"] for d in json.loads(sedo(capsys, "definitions", "--json")[1])}
    assert {"ask", "fanout", "quick"} <= set(before)
    bad = tmp_path / "broken.yaml"
    bad.write_text("id: broken\nsteps:\n  - {id: a, type: echo, message: hi, next: nowhere}\n")
    code, out, err = sedo(capsys, "push", cli_env / "quick.yaml", bad)
    assert code == 1
    assert f"{cli_env / 'quick.yaml'}: new version quick version {before['quick'] + 1}" in out
    assert f"{bad}: 2 problems" in err and "  /steps/0/next: unknown step 'nowhere' (steps are: a)" in err
    assert "1 of 2 pushed" in err
    code, out, _ = sedo(capsys, "definitions", "--json")
    assert code == 0
    assert {d["id"]: d["version"] for d in json.loads(out)}["quick"] == before["quick"] + 1
    assert "broken" not in out
    code, out, _ = sedo(capsys, "definitions")
    assert code == 0 and "quick" in out and "VERSION" in out
    code, out, _ = sedo(capsys, "definitions", "quick", "--version", "1")
    assert code == 0 and out.startswith(f"quick version 1 of {before['quick'] + 1}") and "type: transform" in out


def test_run_wait_succeeds_and_prints_the_output(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = sedo(capsys, "run", "quick", "--input", '{"n": 21}', "--wait")
    assert code == 0, err
    assert "ExecutionSucceeded" in out and 'output: {"doubled":21}' in out
    code, out, _ = sedo(capsys, "run", "quick", "--input", '{"n": 2}', "--wait", "--json")
    final = json.loads(out)
    assert code == 0 and final["state"] == "ExecutionSucceeded" and final["output"] == {"doubled": 2}


def test_run_wait_with_an_invalid_input_exits_2_and_names_every_violation(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = sedo(capsys, "run", "quick", "--input", '{"n": 0, "extra": true}', "--wait")
    assert code == 2
    assert "error 400: input does not pass inputSchema validation" in err or "error 400:" in err
    assert "0 is less than the minimum of 1" in err
    assert "'extra' was unexpected" in err
    assert "started" not in out
    code, out, _ = sedo(capsys, "run", "quick", "--input", "{oops", "--wait")
    assert code == 2


def test_a_callback_is_completed_from_the_command_line(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = sedo(capsys, "run", "ask", "--json")
    assert code == 0
    execution_id = json.loads(out)["id"]
    for _ in range(100):
        code, out, _ = sedo(capsys, "show", execution_id, "--json")
        if json.loads(out).get("awaiting"):
            break
    code, out, _ = sedo(capsys, "show", execution_id)
    assert code == 0 and "awaiting" in out and "task token" in out
    code, out, _ = sedo(capsys, "complete", execution_id, "approve", "--output", '{"ok": true}')
    assert code == 0 and "completion of approve accepted" in out
    code, out, _ = sedo(capsys, "history", execution_id, "--follow")
    assert code == 0
    assert "StepStarted approve" in out and "ExecutionSucceeded" in out
    code, out, _ = sedo(capsys, "show", execution_id, "--json")
    assert json.loads(out)["output"]["answer"] == {"ok": True}
    code, out, _ = sedo(capsys, "complete", execution_id, "approve")
    assert code == 2  # nothing waits any more: a usage error, said in words


def test_fail_takes_the_catch_and_run_wait_exits_1(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = sedo(capsys, "run", "ask", "--json")
    execution_id = json.loads(out)["id"]
    for _ in range(100):
        if json.loads(sedo(capsys, "show", execution_id, "--json")[1]).get("awaiting"):
            break
    code, out, _ = sedo(capsys, "fail", execution_id, "approve", "--error", "Refused", "--cause", "no")
    assert code == 0
    code, out, _ = sedo(capsys, "history", execution_id, "--follow", "--json")
    assert code == 1
    assert json.loads(out.splitlines()[-1])["type"] == "ExecutionFailed"


def test_cancel_with_no_body_and_list_by_state(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = sedo(capsys, "run", "ask", "--json")
    execution_id = json.loads(out)["id"]
    code, out, _ = sedo(capsys, "cancel", execution_id)
    assert code == 0 and f"{execution_id}: ExecutionCancelled" in out
    code, out, _ = sedo(capsys, "executions", "--definition", "ask", "--state", "ExecutionCancelled", "--json")
    assert execution_id in [e["id"] for e in json.loads(out)]
    code, out, _ = sedo(capsys, "executions", "--definition", "ask")
    assert code == 0 and execution_id in out


def test_a_map_reports_its_iterations_while_waiting(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    items = json.dumps({"items": list(range(30))})
    code, out, err = sedo(capsys, "run", "fanout", "--input", items, "--wait", "--interval", "0.05")
    assert code == 0, err
    assert "ExecutionSucceeded" in out and "output: [0,1,2" in out


def test_tokens_that_do_not_fit_say_what_to_do(
    cli_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEDO_TOKEN", "not-a-token")
    code, _, err = sedo(capsys, "--tenant", TENANT, "executions")
    assert code == 1
    assert "error 401" in err and "set SEDO_TOKEN to a valid one" in err
    monkeypatch.setenv("SEDO_TOKEN", mint(TENANT, "viewer"))
    code, _, err = sedo(capsys, "push", cli_env / "quick.yaml")
    assert code == 1
    assert "error 403" in err and "right role" in err
    monkeypatch.setenv("SEDO_TOKEN", mint({TENANT: "author", "other": "viewer"}))
    code, _, err = sedo(capsys, "executions")
    assert code == 2 and "which tenant?" in err and "SEDO_TENANT" in err


def test_the_console_script_talks_to_the_stack(cli_env: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sedo.entrypoints.cli", "run", "quick", "--input", '{"n": 5}', "--wait"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "ExecutionSucceeded" in done.stdout


def test_the_readme_walkthrough_lines(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    example = ROOT / "definitions" / "example-definition.yaml"
    code, out, _ = sedo(capsys, "push", example)
    assert code == 0 and out.startswith(f"{example}: created example-definition version ")
    code, out, err = sedo(capsys, "run", "example-definition", "--input", '{"bar": "baz"}')
    assert code == 2 and out == ""
    assert err.splitlines() == [
        "error 400: input does not pass inputSchema validation",
        "  /: 'foo' is a required property",
        "  /: Additional properties are not allowed ('bar' was unexpected)",
    ]
    code, out, _ = sedo(capsys, "run", "example-definition", "--input", '{"foo": "bar"}')
    assert code == 0 and out.startswith("started cli:example-definition:")
    started = out.split()[1]
    code, out, _ = sedo(capsys, "executions", "--ids", "--limit", "1")
    assert (code, out) == (0, started + "\n")
    code, out, _ = sedo(capsys, "history", started)
    assert code == 0 and "ExecutionSubmitted" in out.splitlines()[0]
    assert sedo(capsys, "cancel", started)[0] == 0
    code, out, _ = sedo(capsys, "push", example)
    assert code == 0 and "new version" in out
    code, out, _ = sedo(capsys, "definitions", "example-definition", "--version", "1")
    assert code == 0 and out.startswith("example-definition version 1")
    code, out, _ = sedo(capsys, "delete", "example-definition")
    assert (code, out) == (0, "deleted example-definition\n")
    code, _, err = sedo(capsys, "definitions", "example-definition")
    assert code == 1 and "error 404: definition 'example-definition' does not exist" in err
