"""The CLI's commands for operating executions, against the API over HTTP and the emulator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from sedo.config import Settings
from sedo.domain.language import load_text
from sedo.entrypoints.cli import main
from tests.support import Harness, mint, serve_api

pytestmark = pytest.mark.integration

T = "ops-cli"
APPROVE = """
id: approve
searchAttributes: {customer: input.customer}
steps:
  - {id: ask, type: callback, resultPath: answer, next: done}
  - {id: done, type: succeed}
"""


@pytest.fixture
def cli(stack: Settings, capsys: pytest.CaptureFixture[str]) -> Iterator[tuple[Any, Harness]]:
    harness = Harness(stack)
    harness.services.definitions.create(T, load_text(APPROVE))
    harness.services.definitions.update(T, "approve", load_text(APPROVE))
    settings = replace(stack, max_delay_seconds=0)
    with serve_api(settings, clock=harness.clock) as base_url:
        token = mint(T, "author")

        def sedo(*args: str) -> tuple[int, str, str]:
            code = main(["--url", base_url, "--token", token, "--tenant", T, *args])
            out, err = capsys.readouterr()
            return code, out, err

        yield sedo, harness


def test_alias_run_pause_resume_and_bulk_from_the_command_line(cli: tuple[Any, Harness]) -> None:
    sedo, harness = cli
    code, out, _ = sedo("alias", "set", "approve", "live", "--route", "1=50", "--route", "2=50")
    assert code == 0 and "approve@live: v1 50%, v2 50%" in out
    code, out, err = sedo("alias", "set", "approve", "live", "--route", "two=50")
    assert code == 2 and "VERSION=WEIGHT" in err
    code, out, err = sedo("alias", "set", "approve", "live", "--route", "1=60")
    assert code == 2 and "sum to 60" in err
    assert "approve@live" in sedo("alias", "list", "approve")[1]

    code, out, _ = sedo("run", "approve", "--alias", "live", "--input", '{"customer": "c9"}', "--json")
    started = json.loads(out)
    assert code == 0 and started["alias"] == "live" and started["definitionVersion"] in (1, 2)
    harness.drain()
    code, out, _ = sedo("executions", "--attr", "customer=c9", "--ids")
    assert code == 0 and out.split() == [started["id"]]

    assert "ExecutionPaused" in sedo("pause", started["id"])[1]
    assert "ExecutionResumed" in sedo("resume", started["id"])[1]
    code, _, err = sedo("redrive", started["id"])
    assert code == 1 and "still running" in err

    code, out, _ = sedo("bulk", "start", "cancel", "--attr", "customer=c9", "--name", "b1", "--json")
    operation = json.loads(out)
    assert code == 0 and operation["state"] == "running"
    harness.drain()
    code, out, _ = sedo("bulk", "show", operation["id"])
    assert code == 0 and "succeeded, matched 1, done 1, failed 0" in out
    code, out, _ = sedo("show", started["id"], "--json")
    assert json.loads(out)["state"] == "ExecutionCancelled"

    code, _, err = sedo("alias", "delete", "approve", "live")
    assert code == 0
    code, _, err = sedo("alias", "show", "approve", "live")
    assert code == 1 and "no alias 'live'" in err
