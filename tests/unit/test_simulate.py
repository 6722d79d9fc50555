"""``sedo simulate``, ``sedo graph`` and the CLI's configuration: offline, no server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sedo.entrypoints.cli import main

ROOT = Path(__file__).resolve().parents[2]
ORDER_FLOW = ROOT / "definitions" / "order-flow.yaml"
ORDER = {"orderId": "o-1", "items": [{"sku": "a", "qty": 2, "price": 20}]}
BUSY = '{"$error": "InventoryBusy", "$cause": "the warehouse is busy"}'


def run(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_order_flow_shows_the_retried_path_and_a_cost(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys,
        "simulate", ORDER_FLOW, "--input", json.dumps(ORDER),
        "--mock", f"reserve-stock={BUSY}", "--mock", f"reserve-stock={BUSY}",
        "--mock", 'reserve-stock={"reserved": [{"sku": "a", "qty": 2}]}',
        "--mock", 'charge-card={"chargeId": "ch_1"}',
    )  # fmt: skip
    assert code == 0, err
    lines = out.splitlines()
    path = lines[lines.index("Path") + 1 : lines.index("Path") + 9]
    assert [line.split()[0] for line in path] == [
        "price-order", "needs-approval", "reserve-stock", "reserve-stock", "reserve-stock",
        "charge-card", "confirmed", "done",
    ]  # fmt: skip
    assert path[2] == "  reserve-stock failed InventoryBusy: the warehouse is busy"
    assert path[3].startswith("  reserve-stock (attempt 2) failed InventoryBusy")
    assert path[4] == '  reserve-stock (attempt 3) -> {"reserved":[{"sku":"a","qty":2}]}'
    assert "  ExecutionSucceeded" in lines
    assert '  output: {"orderId":"o-1","total":20,"charge":"ch_1","reserved":[{"sku":"a","qty":2}]}' in lines
    assert "  retried: reserve-stock" in lines
    assert "Step Functions equivalent: 8 state transitions" in out
    assert "Estimated AWS cost of one execution" in out
    total = next(line for line in lines if line.startswith("total"))
    assert float(total.split("$")[1]) > 0


def test_the_bare_command_runs_the_local_functions_and_shows_the_retry(capsys: pytest.CaptureFixture[str]) -> None:
    """Without --mock, invoke steps call the functions make run maps (functions/local.yaml beside
    the file): the warehouse is busy twice, so the path shows the retries."""
    code, out, _ = run(capsys, "simulate", ORDER_FLOW)
    assert code == 0
    assert "  reserve-stock (attempt 3) -> " in out and "  retried: reserve-stock" in out
    assert "Estimated AWS cost of one execution" in out


def test_the_json_report_counts_what_was_billed(capsys: pytest.CaptureFixture[str]) -> None:
    mocks = ["--mock", f"reserve-stock={BUSY}", "--mock", 'reserve-stock={"reserved": []}']
    code, out, _ = run(capsys, "simulate", ORDER_FLOW, "--input", json.dumps(ORDER), *mocks, "--echo", "--json")
    assert code == 0
    report = json.loads(out)
    attempts = [(e["step"], e["attempt"]) for e in report["path"] if e["step"] == "reserve-stock"]
    assert attempts == [("reserve-stock", 1), ("reserve-stock", 2)]
    charge = next(e for e in report["path"] if e["step"] == "charge-card")
    assert charge["output"] == {"orderId": "o-1", "amount": 20}  # no mock: the step's input, echoed
    assert report["stepFunctionsTransitions"] == 7
    usage = report["usage"]
    assert usage["processor_invocations"] >= 2 and usage["write_units"] > 0 and usage["sqs_requests"] > 0
    assert report["costUsd"]["total"] == pytest.approx(sum(v for k, v in report["costUsd"].items() if k != "total"))
    assert report["stepFunctionsCostUsd"] == pytest.approx(7 * 25 / 1_000_000)


def test_local_functions_answer_unmocked_invoke_steps(capsys: pytest.CaptureFixture[str]) -> None:
    functions = ROOT / "definitions" / "functions" / "local.yaml"
    code, out, err = run(
        capsys, "simulate", ORDER_FLOW, "--input", json.dumps(ORDER), "--functions", functions, "--json"
    )
    assert code == 0, err
    path = json.loads(out)["path"]
    assert [e["attempt"] for e in path if e["step"] == "reserve-stock"] == [1, 2, 3]  # busy twice (orders.py)
    assert json.loads(out)["execution"]["output"]["charge"].startswith("ch_")


def test_a_mock_repeats_its_last_answer_until_retries_run_out(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "simulate", ORDER_FLOW, "--input", json.dumps(ORDER), "--mock", f"reserve-stock={BUSY}")
    assert code == 1
    assert out.count("reserve-stock") == 5 + 1  # the first attempt and four retries, and the "retried" line
    assert "error: InventoryBusy: the warehouse is busy" in out


def test_without_input_the_schema_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    functions = ROOT / "definitions" / "functions" / "local.yaml"
    code, out, err = run(capsys, "simulate", ORDER_FLOW, "--functions", functions)
    assert code == 0, err
    assert 'simulated order-flow on {"orderId":"o-1","customer":"ada"' in out
    assert "  reserve-stock (attempt 3) -> " in out and "  retried: reserve-stock" in out


def test_a_caught_failure_ends_where_the_definition_says(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "simulate",
        ORDER_FLOW,
        "--input",
        json.dumps(ORDER),
        "--mock",
        'charge-card={"$error": "PaymentDeclined"}',
    )
    assert code == 1
    assert "charge-card failed PaymentDeclined" in out
    assert "rejected" in out and "ExecutionFailed" in out and "error: OrderRejected" in out


def test_callbacks_are_answered_by_their_mock_and_waits_take_no_time(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    flow = tmp_path / "flow.yaml"
    flow.write_text(
        "id: flow\nsteps:\n"
        "  - {id: nap, type: wait, seconds: 86400, next: ask}\n"
        "  - {id: ask, type: callback, resultPath: answer, next: done}\n"
        "  - {id: done, type: succeed}\n"
    )
    code, out, err = run(capsys, "simulate", flow, "--mock", 'ask={"approved": true}', "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["execution"]["output"]["answer"] == {"approved": True}
    assert [e["step"] for e in report["path"]] == ["nap", "ask", "done"]


def test_an_invalid_input_names_the_violation_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "simulate", ORDER_FLOW, "--input", '{"orderId": ""}')
    assert code == 2
    assert "the input does not pass inputSchema validation" in err
    assert "'items' is a required property" in err
    assert out == ""


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--input", "{nope"], "--input is not valid JSON"),
        (["--mock", "reserve-stock"], "write STEP=JSON or STEP=@file"),
        (["--mock", "no-such-step={}"], "no-such-step, which is not a step of"),
        (["--input", "@/nonexistent/input.json"], "cannot read /nonexistent/input.json"),
    ],
)
def test_bad_options_are_usage_errors(capsys: pytest.CaptureFixture[str], args: list[str], fragment: str) -> None:
    code, _, err = run(capsys, "simulate", ORDER_FLOW, *args)
    assert code == 2
    assert fragment in err and "Traceback" not in err


def test_an_invalid_definition_is_not_simulated(capsys: pytest.CaptureFixture[str]) -> None:
    bad = ROOT / "tests" / "malformed" / "no-step-ends.yaml"
    code, out, err = run(capsys, "simulate", bad)
    assert code == 2 and out == ""
    assert "/steps: no step ends the workflow" in err


def test_graph_prints_mermaid_with_every_edge(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "graph", ORDER_FLOW)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "flowchart TD"
    assert '  n2{"needs-approval<br/><i>choice</i>"}' in lines
    assert '  n2 -->|"order.total #gt; #96;1000#96;"| n3' in lines  # the condition, escaped for Mermaid
    assert '  n2 -->|"default"| n5' in lines
    assert '  n3 -. "States.Timeout" .-> n9' in lines  # a catch
    assert any(line.startswith('  n5["reserve-stock<br/><i>invoke</i><br/>retry InventoryBusy x4"]') for line in lines)
    assert "  n8 --> finish" in lines and '  n9[["rejected<br/><i>fail</i>"]]' in lines


def test_graph_draws_map_and_parallel_steps_as_subgraphs(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "graph", ROOT / "definitions" / "batch-scoring.yaml")
    assert code == 0
    assert out.count("subgraph ") == 2 and out.count("\n  end") == 2
    assert "sanctions" in out and "fraud" in out and "score" in out


def test_commands_that_need_a_server_say_how_to_name_one(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("SEDO_URL", "SEDO_TOKEN", "SEDO_TENANT", "SEDO_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SEDO_CONFIG", str(tmp_path / "config.toml"))
    code, _, err = run(capsys, "executions")
    assert code == 2
    assert "no sedo URL: export SEDO_URL" in err and "make run prints it" in err


def test_profiles_come_from_the_config_file(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("SEDO_URL", "SEDO_TOKEN", "SEDO_TENANT", "SEDO_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "config.toml"
    config.write_text('default = "here"\n[profiles.here]\nurl = "http://127.0.0.1:9"\ntenant = "t1"\n')
    monkeypatch.setenv("SEDO_CONFIG", str(config))
    code, _, err = run(capsys, "show", "t1:d:k")
    assert code == 1
    assert "cannot connect to sedo at http://127.0.0.1:9" in err and "make run" in err
    code, _, err = run(capsys, "--profile", "elsewhere", "show", "t1:d:k")
    assert code == 2
    assert "no profile 'elsewhere'" in err and "profiles there: here" in err


class _Polled:
    """A client whose execution advances through a map step, one poll at a time."""

    def __init__(self) -> None:
        self.polls = 0

    def get_execution(self, execution_id: str) -> dict[str, object]:
        self.polls += 1
        if self.polls < 4:
            progress = {"stepId": "each", "total": 3, "succeeded": self.polls - 1, "failed": 0, "running": 1}
            return {"id": execution_id, "state": "StepStarted", "step": "each", "progress": progress}
        return {"id": execution_id, "state": "ExecutionSucceeded", "step": "each", "output": [1, 2, 3]}


@pytest.mark.parametrize("live", [True, False])
def test_waiting_shows_the_step_and_a_maps_progress(capsys: pytest.CaptureFixture[str], live: bool) -> None:
    from sedo.entrypoints.cli.executions import _watch

    client = _Polled()
    final = _watch(client, "t:d:k", 0, None, live)
    assert final["state"] == "ExecutionSucceeded" and client.polls == 4
    out = capsys.readouterr().out
    if not live:  # piped: a line per change, with the iteration counts
        assert out.splitlines()[0] == "  StepStarted at each (0 of 3 iterations done, 0 failed)"
        assert out.splitlines()[-1] == "  ExecutionSucceeded at each"


def test_map_and_parallel_iterations_run_and_count(capsys: pytest.CaptureFixture[str]) -> None:
    applicants = {"applicants": [{"id": "a", "income": 50000}, {"id": "b", "income": 90000, "debts": 1000}]}
    functions = ROOT / "definitions" / "functions" / "local.yaml"
    code, out, err = run(
        capsys, "simulate", ROOT / "definitions" / "batch-scoring.yaml", "--input", json.dumps(applicants),
        "--functions", functions, "--json",
    )  # fmt: skip
    assert code == 0, err
    report = json.loads(out)
    assert [(e["step"], e["iterations"]) for e in report["path"]] == [("checks", 2), ("score-all", 2)]
    assert report["execution"]["output"]["scores"] == [350, 388]
    assert report["stepFunctionsTransitions"] == 2 + 2 + 2  # two steps, two branch steps, two iterations


def test_an_echo_of_the_whole_state_is_a_copy(capsys: pytest.CaptureFixture[str]) -> None:
    """http-check's invoke takes the whole state as its input: echoing it must not make a cycle."""
    code, out, err = run(capsys, "simulate", ROOT / "definitions" / "http-check.yaml")
    assert code == 1, err  # the echo is no {"status": "ok"}: the unhealthy branch, as the definition says
    assert "ask -> " in out and "unhealthy failed Unhealthy" in out
