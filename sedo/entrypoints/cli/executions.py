"""``run``, ``executions``, ``show``, ``history``, ``cancel``, ``complete`` and ``fail``."""

from __future__ import annotations

import json
import time
from typing import Any

import click
from rich.console import Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from sedo.entrypoints.cli.output import (
    FAILED,
    OK,
    UsageProblem,
    api_command,
    emit_json,
    read_json_argument,
    say,
    stdout,
    warn,
)
from sedo.entrypoints.cli.output import plain as p
from sedo.entrypoints.cli.profiles import answer, connect

TERMINAL = {"ExecutionSucceeded", "ExecutionFailed", "ExecutionCancelled"}
STATES = (
    "ExecutionSubmitted",
    "ExecutionStarted",
    "StepStarted",
    "StepSucceeded",
    "StepFailed",
    "ExecutionSucceeded",
    "ExecutionFailed",
    "ExecutionCancelled",
    "ExecutionPaused",
    "ExecutionResumed",
    "ExecutionRedriven",
)
COLOURS = {"ExecutionSucceeded": "green", "ExecutionFailed": "red", "ExecutionCancelled": "yellow"}


def _compact(value: Any, width: int = 100) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= width else text[: width - 3] + "..."


def _state(state: str) -> str:
    colour = COLOURS.get(state)
    return f"[{colour}]{state}[/]" if colour else state


def outcome_status(execution: dict[str, Any]) -> int:
    return OK if execution.get("state") == "ExecutionSucceeded" else FAILED


def describe_outcome(execution: dict[str, Any]) -> None:
    state = str(execution.get("state"))
    say(f"{p(execution['id'])}: {_state(state)}")
    if "output" in execution:
        say(f"  output: {p(_compact(execution['output'], 2000))}")
    if execution.get("error") or execution.get("cause"):
        say(f"  error: {p(str(execution.get('error')))}: {p(str(execution.get('cause') or ''))}")


def _where(execution: dict[str, Any]) -> str:
    parts = [_state(str(execution.get("state")))]
    if execution.get("step"):
        parts.append(f"at [bold]{p(str(execution['step']))}[/]")
    if execution.get("waitingUntil"):
        parts.append(f"waiting until {p(str(execution['waitingUntil']))}")
    awaiting = execution.get("awaiting")
    if awaiting:
        parts.append(f"waiting for a completion of {p(str(awaiting.get('stepId')))} (sedo complete ID STEP)")
    return " ".join(parts)


def _watch(
    client: Any, execution_id: str, interval: float, limit: float | None, live: bool, quiet: bool = False
) -> dict[str, Any]:
    """Poll until the execution ends: a live line (and a map's progress bar) on a terminal,
    a line per change otherwise."""
    deadline = None if limit is None else time.monotonic() + limit
    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[extra]}")
    )
    bars: dict[str, Any] = {}
    spinner = Spinner("dots")
    last = ""
    console = stdout()
    with Live(console=console, transient=True, auto_refresh=live, redirect_stdout=False) if live else _Null() as screen:
        while True:
            execution = client.get_execution(execution_id)
            line = _where(execution)
            counts = execution.get("progress")
            if counts:
                step = str(counts.get("stepId"))
                done = int(counts.get("succeeded", 0)) + int(counts.get("failed", 0))
                if step not in bars:
                    bars[step] = progress.add_task(f"  {p(step)}", total=int(counts.get("total", 0)), extra="")
                extra = f"{counts.get('failed', 0)} failed, {counts.get('running', 0)} running"
                progress.update(bars[step], completed=done, total=int(counts.get("total", 0)), extra=extra)
            if live:
                spinner.update(text=Text.from_markup(f" {p(execution_id)} {line}"))
                parts: list[Any] = [spinner]
                if bars:
                    parts.append(progress)
                screen.update(Group(*parts))
            elif line != last and not quiet:
                text = line
                if counts:
                    text += f" ({done} of {counts.get('total')} iterations done, {counts.get('failed', 0)} failed)"
                console.print(f"  {text}")
                last = line
            if execution.get("state") in TERMINAL:
                return dict(execution)
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError
            time.sleep(interval)


class _Null:
    def __enter__(self) -> _Null:
        return self

    def update(self, _renderable: Any) -> None:
        return None

    def __exit__(self, *_: object) -> None:
        return None


@click.command()
@click.argument("definition_id")
@click.option("--input", "input_", default=None, metavar="JSON|@file", help="The execution input (default {}).")
@click.option("--name", default=None, help="An idempotency key: the same name and input return the same execution.")
@click.option("--alias", default=None, help="Start through this alias: its routing picks the version.")
@click.option("--wait", is_flag=True, help="Follow the execution until it ends; exit 0 only if it succeeded.")
@click.option("--wait-timeout", type=float, default=None, metavar="SECONDS", help="With --wait: give up after this.")
@click.option("--interval", type=float, default=0.5, show_default=True, help="With --wait: seconds between polls.")
@api_command
def run(
    ctx: click.Context,
    definition_id: str,
    input_: str | None,
    name: str | None,
    alias: str | None,
    wait: bool,
    wait_timeout: float | None,
    interval: float,
    as_json: bool,
) -> int:
    """Start an execution of DEFINITION_ID's latest version.

    Exit status: 0 started (with --wait: succeeded), 1 failed, cancelled or timed out,
    2 bad usage or input (an input the definition's inputSchema refuses: every violation is printed).
    """
    value = read_json_argument(input_, "--input") if input_ is not None else {}
    with connect(ctx) as client:
        started = client.execute(definition_id, value, name, alias)
        if not wait:
            if as_json:
                emit_json(started)
            else:
                say(f"started {p(started['id'])} ({_state(str(started['state']))})")
                say(f"  follow it: sedo history {p(started['id'])} --follow")
            return OK
        if not as_json:
            say(f"started {p(started['id'])}")
        live = stdout().is_terminal and not as_json
        try:
            final = _watch(client, started["id"], interval, wait_timeout, live, quiet=as_json)
        except TimeoutError:
            warn(f"{p(started['id'])} is still running after {wait_timeout:g} s (it goes on; sedo show ID)")
            return FAILED
    if as_json:
        emit_json(final)
    else:
        describe_outcome(final)
    return outcome_status(final)


@click.command()
@click.option("--definition", "definition_id", default=None, help="Only executions of this definition.")
@click.option("--state", "states", multiple=True, type=click.Choice(STATES), help="Only these states (repeatable).")
@click.option("--attr", "attrs", multiple=True, metavar="NAME=VALUE", help="A search attribute's value (repeatable).")
@click.option("--limit", type=int, default=50, show_default=True, help="At most this many, newest first.")
@click.option("--ids", "-q", "only_ids", is_flag=True, help="Print only the ids, one a line.")
@api_command
def executions(
    ctx: click.Context,
    definition_id: str | None,
    states: tuple[str, ...],
    attrs: tuple[str, ...],
    limit: int,
    only_ids: bool,
    as_json: bool,
) -> int:
    """List executions, newest first (--attr customer=c1: by search attribute)."""
    from sedo.entrypoints.cli.operate import parse_pairs

    with connect(ctx) as client:
        found = client.list_executions(definition_id, list(states), limit, parse_pairs(attrs, "--attr"))
    if as_json:
        emit_json(found)
        return OK
    if only_ids:
        for item in found:
            click.echo(item["id"])
        return OK
    if not found:
        say("no executions match")
        return OK
    table = Table(box=None, pad_edge=False)
    table.add_column("ID", no_wrap=True, min_width=max(len(str(item["id"])) for item in found))
    for header in ("STATE", "STEP", "CREATED", "ENDED"):
        table.add_column(header)
    for item in found:
        table.add_row(
            p(str(item["id"])),
            _state(str(item["state"])),
            p(str(item.get("step") or "")),
            p(str(item.get("createdAt") or "")),
            p(str(item.get("endedAt") or "")),
        )
    stdout().print(table)
    return OK


@click.command()
@click.argument("execution_id")
@api_command
def show(ctx: click.Context, execution_id: str, as_json: bool) -> int:
    """Show one execution: where it is, its input, and its output or error."""
    return answer(ctx, as_json, lambda client: client.get_execution(execution_id), _show_execution)


def _show_execution(execution: dict[str, Any]) -> None:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    rows: list[tuple[str, str]] = [
        ("id", p(execution["id"])),
        ("state", _state(str(execution["state"]))),
        ("definition", f"{p(str(execution['definitionId']))} version {execution.get('definitionVersion')}"),
        ("step", p(str(execution.get("step") or "-"))),
        ("created", p(str(execution.get("createdAt")))),
        ("updated", p(str(execution.get("updatedAt")))),
    ]
    if execution.get("endedAt"):
        rows.append(("ended", p(str(execution["endedAt"]))))
    if execution.get("name"):
        rows.append(("name", p(str(execution["name"]))))
    if execution.get("waitingUntil"):
        rows.append(("waiting until", p(str(execution["waitingUntil"]))))
    awaiting = execution.get("awaiting")
    if awaiting:
        rows.append(
            ("awaiting", f"a completion of {p(str(awaiting.get('stepId')))}: sedo complete ID STEP --output JSON")
        )
        rows.append(("task token", p(str(awaiting.get("taskToken")))))
    if execution.get("progress"):
        counts = execution["progress"]
        rows.append(
            (
                "progress",
                f"{p(str(counts.get('stepId')))}: {counts.get('succeeded')} succeeded, {counts.get('failed')} failed, "
                f"{counts.get('running')} running of {counts.get('total')}",
            )
        )
    rows.append(("input", p(_compact(execution.get("input"), 2000))))
    if "output" in execution:
        rows.append(("output", p(_compact(execution["output"], 2000))))
    if execution.get("error") or execution.get("cause"):
        rows.append(("error", p(f"{execution.get('error')}: {execution.get('cause') or ''}")))
    for key, value in rows:
        table.add_row(key, value)
    stdout().print(table)


def _event_line(event: dict[str, Any]) -> str:
    details = {k: v for k, v in event.items() if k not in ("id", "type", "timestamp", "stepId", "seq")}
    step = f" [bold]{p(str(event['stepId']))}[/]" if event.get("stepId") else ""
    extra = f"  {p(_compact(details))}" if details else ""
    return f"{event.get('id'):>4} {p(str(event.get('timestamp', '')))} {_state(str(event.get('type')))}{step}{extra}"


@click.command()
@click.argument("execution_id")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new events until the execution ends.")
@click.option("--interval", type=float, default=0.5, show_default=True, help="With --follow: seconds between polls.")
@api_command
def history(ctx: click.Context, execution_id: str, follow: bool, interval: float, as_json: bool) -> int:
    """Print an execution's history events (with --follow, as they happen)."""
    printed = 0
    ending: str | None = None
    with connect(ctx) as client:
        while True:
            events = client.history(execution_id)
            for event in events:
                if int(event.get("id", 0)) <= printed:
                    continue
                printed = int(event.get("id", 0))
                if as_json:
                    click.echo(json.dumps(event, ensure_ascii=False))  # one JSON object a line
                else:
                    say(_event_line(event))
            if not follow:
                return OK
            if events and events[-1].get("type") in TERMINAL:
                return outcome_status({"state": events[-1]["type"]})
            if ending is not None:
                return outcome_status({"state": ending})
            state = str(client.get_execution(execution_id).get("state"))
            if state in TERMINAL:
                ending = state  # read the history once more for its last events, then stop
                continue
            time.sleep(interval)


@click.command()
@click.argument("execution_id")
@click.option("--reason", default=None, help="Why (recorded in the history).")
@api_command
def cancel(ctx: click.Context, execution_id: str, reason: str | None, as_json: bool) -> int:
    """Cancel a running or waiting execution (again: no change)."""

    def render(cancelled: dict[str, Any]) -> None:
        say(f"{p(cancelled['id'])}: {_state(str(cancelled['state']))}")

    return answer(ctx, as_json, lambda client: client.cancel(execution_id, reason), render)


def _task_token(client: Any, execution_id: str, step_id: str, token: str | None) -> str:
    if token:
        return token
    awaiting = client.get_execution(execution_id).get("awaiting") or {}
    if awaiting.get("stepId") != step_id or not awaiting.get("taskToken"):
        where = f"it waits for {awaiting.get('stepId')!r}" if awaiting else "it waits for no completion"
        raise UsageProblem(
            f"step {step_id!r} of {execution_id} is not waiting for a completion ({where}); pass --token"
        )
    return str(awaiting["taskToken"])


@click.command()
@click.argument("execution_id")
@click.argument("step_id")
@click.option("--output", "output", default="null", metavar="JSON|@file", help="The step's result.")
@click.option("--token", "task_token", default=None, help="The task token (default: the one the execution shows).")
@api_command
def complete(
    ctx: click.Context, execution_id: str, step_id: str, output: str, task_token: str | None, as_json: bool
) -> int:
    """Complete a step that waits for a callback, with its output."""
    value = read_json_argument(output, "--output")

    def send(client: Any) -> Any:
        return client.complete(execution_id, step_id, _task_token(client, execution_id, step_id, task_token), value)

    return answer(ctx, as_json, send, lambda _: say(f"{p(execution_id)}: completion of {p(step_id)} accepted"))


@click.command()
@click.argument("execution_id")
@click.argument("step_id")
@click.option(
    "--error", default=None, help="The error name a catch or retry can match (default States.CallbackFailed)."
)
@click.option("--cause", default=None, help="What went wrong, in words.")
@click.option("--token", "task_token", default=None, help="The task token (default: the one the execution shows).")
@api_command
def fail(
    ctx: click.Context,
    execution_id: str,
    step_id: str,
    error: str | None,
    cause: str | None,
    task_token: str | None,
    as_json: bool,
) -> int:
    """Fail a step that waits for a callback; its retry and catch apply."""

    def send(client: Any) -> Any:
        return client.fail(execution_id, step_id, _task_token(client, execution_id, step_id, task_token), error, cause)

    return answer(ctx, as_json, send, lambda _: say(f"{p(execution_id)}: failure of {p(step_id)} accepted"))
