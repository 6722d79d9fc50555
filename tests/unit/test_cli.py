"""``sedo validate``: exit codes and messages a person can act on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sedo.entrypoints.cli import main
from tests.definitions import echo_wait_echo
from tests.malformed import HERE as MALFORMED
from tests.malformed import cases

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "definitions" / "example-definition.yaml"
GOOD = echo_wait_echo("hello", ("greet", "pause", "bye"), 5, ("hello", "bye"))


def run(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    code = main(["validate", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_valid_file_is_ok(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, EXAMPLE)
    assert code == 0
    assert out == f"{EXAMPLE}: ok\n"
    assert err == ""


def test_every_example_definition_is_ok(capsys: pytest.CaptureFixture[str]) -> None:
    files = sorted((ROOT / "definitions").glob("*.yaml"))
    code, out, err = run(capsys, *files)
    assert code == 0, err
    assert out.splitlines() == [f"{f}: ok" for f in files] + [f"{len(files)} of {len(files)} valid"]


def test_a_directory_means_its_definition_files(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GOOD)
    (tmp_path / "b.json").write_text('{"id": "b", "steps": [{"id": "s", "type": "echo", "message": "m", "end": true}]}')
    (tmp_path / "notes.txt").write_text("not a definition")
    (tmp_path / "sub").mkdir()
    code, out, err = run(capsys, tmp_path)
    assert code == 0, err
    assert out.splitlines() == [f"{tmp_path / 'a.yaml'}: ok", f"{tmp_path / 'b.json'}: ok", "2 of 2 valid"]


def test_an_invalid_file_lists_every_problem_with_its_path(capsys: pytest.CaptureFixture[str]) -> None:
    path = MALFORMED / "many-problems.yaml"
    code, out, err = run(capsys, path)
    assert code == 1
    assert out == ""
    lines = err.splitlines()
    assert lines[0] == f"{path}: 9 problems"
    assert "  /steps/2/next: unknown step 'escalate' (steps are: open, wait-for-agent, check, close)" in lines
    assert "  /steps/1: a wait step needs exactly one of 'seconds' or 'until'" in lines
    assert sorted(line.split(":")[0].strip() for line in lines[1:]) == sorted(
        e.path for e in next(c for c in cases() if c.file == path).expected
    )


def test_one_problem_is_singular(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, MALFORMED / "unknown-step-type.yaml")
    assert code == 1
    assert err.splitlines()[0].endswith(": 1 problem")
    assert err.splitlines()[1].startswith("  /steps/1/type: unknown step type 'sleep'")


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("yaml-syntax-error.yaml", "  /: not valid YAML (line "),
        ("yaml-aliases.yaml", "  /: not valid YAML (line 9, column 14): YAML aliases"),
        ("trailing-comma.json", "  /: not valid JSON (line 5, column 3)"),
        ("latin1-encoding.yaml", "  /: the body is not valid UTF-8"),
        ("infinite-seconds.yaml", "  /steps/1/seconds: inf is not a JSON number"),
    ],
)
def test_text_that_does_not_parse_says_where(capsys: pytest.CaptureFixture[str], name: str, fragment: str) -> None:
    code, out, err = run(capsys, MALFORMED / name)
    assert code == 1
    assert out == ""
    assert err.splitlines()[0] == f"{MALFORMED / name}: 1 problem"
    assert err.splitlines()[1].startswith(fragment), err
    assert "Traceback" not in err


def test_json_is_chosen_by_the_suffix(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # Valid YAML, but not JSON: a .json file is read as JSON.
    path = tmp_path / "hello.json"
    path.write_text(GOOD)
    code, _, err = run(capsys, path)
    assert code == 1
    assert "not valid JSON (line 1, column 1)" in err
    yaml_path = tmp_path / "hello.YML"
    yaml_path.write_text(GOOD)
    assert run(capsys, yaml_path)[0] == 0


def test_good_and_bad_together_fail_and_say_which(capsys: pytest.CaptureFixture[str]) -> None:
    bad = MALFORMED / "no-step-ends.yaml"
    code, out, err = run(capsys, EXAMPLE, bad)
    assert code == 1
    assert out == f"{EXAMPLE}: ok\n"
    assert err.splitlines() == [
        f"{bad}: 1 problem",
        "  /steps: no step ends the workflow: give the last step 'end: true'",
        "1 of 2 valid",
    ]


def test_a_missing_file_is_a_message_not_a_traceback(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    code, out, err = run(capsys, missing, EXAMPLE)
    assert code == 1
    assert err.splitlines() == [f"{missing}: cannot be read: No such file or directory", "1 of 2 valid"]
    assert out == f"{EXAMPLE}: ok\n"


def test_an_empty_directory_fails(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(capsys, tmp_path)
    assert (code, out) == (1, "")
    assert err == f"{tmp_path}: no .yaml, .yml or .json files in this directory\n"


def test_the_whole_corpus_fails_file_by_file(capsys: pytest.CaptureFixture[str]) -> None:
    corpus = cases()
    code, out, err = run(capsys, MALFORMED)
    assert code == 1
    assert out == ""
    headers = [line for line in err.splitlines() if not line.startswith("  ")]
    assert headers[-1] == f"0 of {len(corpus)} valid"
    assert [h.split(":")[0] for h in headers[:-1]] == [str(c.file) for c in corpus]


def test_no_files_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate"]) == 2
    err = capsys.readouterr().err
    assert "Usage: sedo validate [OPTIONS] PATHS..." in err
    assert "Missing argument 'PATHS...'" in err


def test_the_console_script_runs_validate(tmp_path: Path) -> None:
    good = tmp_path / "hello.yaml"
    good.write_text(GOOD)
    command = [sys.executable, "-m", "sedo.entrypoints.cli", "validate", str(good)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert (done.returncode, done.stdout) == (0, f"{good}: ok\n"), done.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("next: bye", "next: by"))
    done = subprocess.run([*command[:-1], str(bad)], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert "/steps/1/next: unknown step 'by'" in done.stderr
