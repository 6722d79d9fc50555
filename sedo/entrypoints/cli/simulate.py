"""``sedo simulate``: one execution, offline, with the real engine, and what it would cost on AWS."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from sedo.entrypoints.cli import output
from sedo.entrypoints.cli.local import check_file, media_type, report_problems
from sedo.entrypoints.cli.output import plain as p

LINES = {
    "dynamodbWrites": "DynamoDB writes",
    "dynamodbReads": "DynamoDB reads",
    "sqsRequests": "SQS requests",
    "lambdaProcessorRequests": "Lambda processor requests",
    "lambdaProcessorDuration": "Lambda processor duration",
    "lambdaApiRequests": "Lambda API requests",
    "lambdaApiDuration": "Lambda API duration",
    "apiGatewayRequests": "API Gateway requests",
    "cloudwatchLogs": "CloudWatch Logs",
    "eventbridgeEvents": "EventBridge events",
}


def _compact(value: Any, width: int = 90) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return text if len(text) <= width else text[: width - 3] + "..."


def _mocks(values: tuple[str, ...]) -> dict[str, list[Any]]:
    from sedo.simulation import Answer

    answers: dict[str, list[Any]] = {}
    for value in values:
        step, sep, answer = value.partition("=")
        if not sep or not step:
            raise output.UsageProblem(
                f'--mock {value!r}: write STEP=JSON or STEP=@file, e.g. --mock \'charge-card={{"chargeId": "c1"}}\''
            )
        answers.setdefault(step, []).append(Answer.parse(output.read_json_argument(answer, f"--mock {step}")))
    return answers


def _default_input(document: dict[str, Any]) -> Any:
    schema = document.get("inputSchema")
    examples = schema.get("examples") if isinstance(schema, dict) else None
    return examples[0] if isinstance(examples, list) and examples else {}


def _usd(value: float) -> str:
    return f"${value:.8f}".rstrip("0").rstrip(".") if value else "$0"


@click.command()
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--input",
    "input_",
    default=None,
    metavar="JSON|@file",
    help="The input (default: inputSchema's first example, else {}).",
)
@click.option(
    "--mock",
    "mocks",
    multiple=True,
    metavar="STEP=JSON|@file",
    help="What an invoke or callback step answers (default: its input). Repeat for successive attempts "
    '(the last repeats); {"$error": "Name", "$cause": "..."} fails the attempt.',
)
@click.option(
    "--functions",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="Run unmocked invoke steps with these local Python functions (default: $SEDO_LOCAL_FUNCTIONS, "
    "else functions/local.yaml beside FILE when it exists, as make run maps them).",
)
@click.option("--echo", "echo_only", is_flag=True, help="Answer every unmocked invoke step with an echo of its input.")
@output.json_option
def simulate(
    file: Path, input_: str | None, mocks: tuple[str, ...], functions: Path | None, echo_only: bool, as_json: bool
) -> int:
    """Run FILE offline, once: the path taken, Step Functions' transitions, the AWS cost.

    The real engine runs on in-memory stores with a fake clock (waits and retry back-offs
    take no time); invoke steps and callbacks are answered by --mock (default: an echo of
    their input) or by --functions. Exit 0 when the execution succeeded, 1 when it failed,
    2 when the file or the input is invalid.
    """
    from sedo.domain.errors import InvalidDefinition, InvalidInput, SedoError
    from sedo.domain.language import load_text
    from sedo.simulation import Mocks, SimulationError, load_functions
    from sedo.simulation import simulate as run_simulation

    body, problems = check_file(file)
    if problems or body is None:
        report_problems(file, problems)
        return output.USAGE
    document = load_text(body, media_type(file))
    value = output.read_json_argument(input_, "--input") if input_ is not None else _default_input(document)
    answers = _mocks(mocks)
    steps = {str(s.get("id")) for s in _all_steps(document.get("steps") or [])}
    unknown = sorted(set(answers) - steps)
    if unknown:
        raise output.UsageProblem(
            f"--mock names {', '.join(unknown)}, which {'is' if len(unknown) == 1 else 'are'} not a step of {file}"
        )
    if functions is None and not echo_only:
        functions = _default_functions(file)
    try:
        local = load_functions(functions) if functions and not echo_only else None
    except (OSError, ValueError, ImportError) as exc:
        raise output.UsageProblem(f"--functions {functions}: {exc}") from None
    try:
        report = run_simulation(document, value, Mocks(answers, local))
    except InvalidInput as exc:
        output.warn(f"{p(str(file))}: the input does not pass inputSchema validation")
        for problem in exc.extra.get("errors", [exc.detail]):
            output.warn(f"  {p(str(problem))}")
        return output.USAGE
    except InvalidDefinition as exc:
        report_problems(file, [str(problem) for problem in exc.problems])
        return output.USAGE
    except (SedoError, SimulationError) as exc:
        output.warn(f"{p(str(file))}: {p(str(exc))}")
        return output.FAILED
    succeeded = report.execution["state"] == "ExecutionSucceeded"
    if as_json:
        output.emit_json(_as_json(report))
        return output.OK if succeeded else output.FAILED
    _print(report, file)
    return output.OK if succeeded else output.FAILED


def _all_steps(steps: list[Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for step in steps:
        if not isinstance(step, dict):
            continue
        found.append(step)
        nested = [step.get("iterator") or {}, *list(step.get("branches") or [])]
        for branch in nested:
            found += _all_steps(list(branch.get("steps") or []))
    return found


def _as_json(report: Any) -> dict[str, Any]:
    return {
        "execution": report.execution,
        "path": [
            {k: v for k, v in vars(e).items() if v not in (None, 0, False) or k in ("attempt", "output")}
            for e in report.path
        ],
        "stepFunctionsTransitions": report.transitions,
        "usage": vars(report.counts),
        "costUsd": report.cost,
        "stepFunctionsCostUsd": report.step_functions_cost,
        "lambda": vars(report.sizing),
    }


def _print(report: Any, file: Path) -> None:
    console = output.stdout()
    execution = report.execution
    output.say(
        f"[bold]{p(str(file))}[/]: simulated {p(execution['definitionId'])} on {p(_compact(execution['input']))}"
    )
    output.say("")
    output.say("[bold]Path[/]")
    for entered in report.path:
        attempt = f" (attempt {entered.attempt})" if entered.attempt > 1 else ""
        iterations = f" [{entered.iterations} iterations]" if entered.iterations else ""
        if entered.error:
            result = f"[red]failed {p(str(entered.error))}[/]: {p(str(entered.cause or ''))}"
        elif entered.ended:
            result = f"-> {p(_compact(entered.output))}"
        else:
            result = ""
        output.say(f"  {p(entered.step)}{attempt}{iterations} {result}".rstrip())
    colour = {"ExecutionSucceeded": "green", "ExecutionFailed": "red"}.get(execution["state"], "yellow")
    output.say(f"  [{colour}]{execution['state']}[/]")
    if "output" in execution:
        output.say(f"  output: {p(_compact(execution['output'], 400))}")
    if execution.get("error"):
        output.say(f"  error: {p(str(execution['error']))}: {p(str(execution.get('cause') or ''))}")
    retried = sorted({e.step for e in report.path if e.attempt > 1})
    if retried:
        output.say(f"  retried: {p(', '.join(retried))}")
    output.say("")
    counts = report.counts
    output.say(
        f"[bold]Step Functions equivalent[/]: {report.transitions} state transitions "
        f"(Standard: {_usd(report.step_functions_cost)} per execution)"
    )
    output.say("")
    output.say(
        f"[bold]Estimated AWS cost of one execution[/] (us-east-1 list prices, sedo/prices.yaml; "
        f"Lambda {report.sizing.processor_memory_mb} MB {report.sizing.architecture}, from {p(report.sizing.source)})"
    )
    table = Table("ITEM", "USAGE", "USD", box=None, pad_edge=False)
    usage = {
        "dynamodbWrites": f"{counts.write_units:g} write units",
        "dynamodbReads": f"{counts.read_units:g} read units",
        "sqsRequests": f"{counts.sqs_requests} requests",
        "lambdaProcessorRequests": f"{counts.processor_invocations} invocations",
        "lambdaProcessorDuration": f"{counts.processor_billed_ms:g} ms (timed here)",
        "lambdaApiRequests": f"{counts.api_requests} requests",
        "lambdaApiDuration": f"{counts.api_billed_ms:g} ms (timed here)",
        "apiGatewayRequests": f"{counts.api_requests} requests",
        "cloudwatchLogs": f"{counts.log_bytes} bytes + platform lines",
        "eventbridgeEvents": f"{counts.events_put} status-change events",
    }
    for key, label in LINES.items():
        table.add_row(label, usage[key], _usd(report.cost[key]))
    table.add_row("[bold]total[/]", "", f"[bold]{_usd(report.cost['total'])}[/]")
    console.print(table)
    per_million = report.cost["total"] * 1_000_000
    output.say(f"  about ${per_million:,.2f} per million executions; the functions invoke steps call are not included")


def _default_functions(file: Path) -> Path | None:
    """The local functions make run would call: $SEDO_LOCAL_FUNCTIONS, else functions/local.yaml beside FILE."""
    configured = os.environ.get("SEDO_LOCAL_FUNCTIONS")
    if configured:
        return Path(configured)
    beside = file.parent / "functions" / "local.yaml"
    return beside if beside.is_file() else None
