"""Operating executions: ``alias`` (set, show, list, delete), ``redrive``, ``pause``,
``resume`` and ``bulk`` (start, show)."""

from __future__ import annotations

import time
from typing import Any

import click
from rich.table import Table

from sedo.entrypoints.cli.output import (
    FAILED,
    OK,
    UsageProblem,
    api_command,
    api_errors,
    emit_json,
    say,
    stdout,
)
from sedo.entrypoints.cli.output import plain as p
from sedo.entrypoints.cli.profiles import answer, connect

ACTIONS = ("cancel", "redrive", "pause", "resume")


def parse_pairs(values: tuple[str, ...], what: str) -> dict[str, str]:
    """``name=value`` options (``--attr customer=c1``, ``--route 3=90``) as a dict."""
    pairs: dict[str, str] = {}
    for value in values:
        name, sep, text = value.partition("=")
        if not sep or not name:
            raise UsageProblem(f"{what} takes NAME=VALUE, not {value!r}")
        pairs[name] = text
    return pairs


def _routing(routes: tuple[str, ...]) -> list[dict[str, int]]:
    routing = []
    for version, weight in parse_pairs(routes, "--route").items():
        try:
            routing.append({"version": int(version), "weight": int(weight)})
        except ValueError:
            example = "e.g. --route 3=90"
            raise UsageProblem(
                f"--route takes VERSION=WEIGHT with integers, {example}, not {version}={weight}"
            ) from None
    if not routing:
        raise UsageProblem("name one or two versions: --route 3=90 --route 4=10 (weights sum to 100)")
    return routing


def _describe_alias(alias: dict[str, Any]) -> str:
    routes = ", ".join(f"v{r['version']} {r['weight']}%" for r in alias["routing"])
    return f"{p(alias['definitionId'])}@{p(alias['name'])}: {p(routes)}"


@click.group()
def alias() -> None:
    """Aliases: names that route new executions to one or two versions by weight."""


@alias.command("set")
@click.argument("definition_id")
@click.argument("name")
@click.option("--route", "routes", multiple=True, metavar="VERSION=WEIGHT", help="A version and its weight (1 or 2).")
@click.option("--description", default=None)
@api_command
def alias_set(
    ctx: click.Context, definition_id: str, name: str, routes: tuple[str, ...], description: str | None, as_json: bool
) -> int:
    """Create or change alias NAME of DEFINITION_ID (e.g. --route 3=90 --route 4=10)."""
    routing = _routing(routes)

    def render(stored: dict[str, Any]) -> None:
        say(_describe_alias(stored))
        say(f"  start through it: sedo run {p(definition_id)} --alias {p(name)}")

    return answer(ctx, as_json, lambda client: client.put_alias(definition_id, name, routing, description), render)


@alias.command("show")
@click.argument("definition_id")
@click.argument("name")
@api_command
def alias_show(ctx: click.Context, definition_id: str, name: str, as_json: bool) -> int:
    """Show one alias and its routing."""
    fetch = lambda client: client.get_alias(definition_id, name)  # noqa: E731
    return answer(ctx, as_json, fetch, lambda found: say(_describe_alias(found)))


@alias.command("list")
@click.argument("definition_id")
@api_command
def alias_list(ctx: click.Context, definition_id: str, as_json: bool) -> int:
    """List DEFINITION_ID's aliases."""

    def render(found: list[dict[str, Any]]) -> None:
        for item in found:
            say(_describe_alias(item))
        if not found:
            say(f"{p(definition_id)} has no aliases")

    return answer(ctx, as_json, lambda client: client.list_aliases(definition_id), render)


@alias.command("delete")
@click.argument("definition_id")
@click.argument("name")
@click.pass_context
@api_errors
def alias_delete(ctx: click.Context, definition_id: str, name: str) -> int:
    """Delete an alias (executions started through it keep their version)."""
    with connect(ctx) as client:
        client.delete_alias(definition_id, name)
    say(f"deleted alias {p(name)} of {p(definition_id)}")
    return OK


def _control_command(action: str, summary: str) -> click.Command:
    @click.command(name=action, help=summary)
    @click.argument("execution_id")
    @api_command
    def command(ctx: click.Context, execution_id: str, as_json: bool) -> int:
        def render(execution: dict[str, Any]) -> None:
            extra = f" (redriven {execution['redriveCount']}x)" if execution.get("redriveCount") else ""
            say(f"{p(execution['id'])}: {p(str(execution['state']))}{extra}")

        return answer(ctx, as_json, lambda client: client.control(execution_id, action), render)

    return command


redrive = _control_command(
    "redrive", "Resume a failed or timed-out execution at the step that failed (steps before it do not run again)."
)
pause = _control_command("pause", "Hold an execution at its next await point until resumed (again: no change).")
resume = _control_command("resume", "Let a paused execution go on.")


@click.group()
def bulk() -> None:
    """Bulk operations: cancel, redrive, pause or resume every execution a filter matches."""


def _progress_line(operation: dict[str, Any]) -> str:
    return (
        f"{p(operation['id'])} {p(operation['action'])}: {p(operation['state'])}, "
        f"matched {operation['matched']}, done {operation['done']}, failed {operation['failed']}"
    )


def _show_operation(operation: dict[str, Any]) -> None:
    say(_progress_line(operation))
    if operation.get("errors"):
        table = Table("EXECUTION", "WHY", box=None, pad_edge=False)
        for error in operation["errors"]:
            table.add_row(p(str(error.get("executionId"))), p(str(error.get("detail"))))
        stdout().print(table)


@bulk.command("start")
@click.argument("action", type=click.Choice(ACTIONS))
@click.option("--definition", "definition_id", default=None, help="Only executions of this definition.")
@click.option("--state", "states", multiple=True, help="Only executions in these states (repeatable).")
@click.option("--attr", "attrs", multiple=True, metavar="NAME=VALUE", help="A search attribute's value (repeatable).")
@click.option("--started-before", default=None, metavar="TIME", help="Only executions started before (RFC 3339).")
@click.option("--started-after", default=None, metavar="TIME", help="Only executions started after (RFC 3339).")
@click.option("--name", default=None, help="An idempotency key: the same name starts the operation once.")
@click.option("--wait", is_flag=True, help="Follow its progress until it is done.")
@click.option("--interval", type=float, default=1.0, show_default=True, help="With --wait: seconds between polls.")
@api_command
def bulk_start(
    ctx: click.Context,
    action: str,
    definition_id: str | None,
    states: tuple[str, ...],
    attrs: tuple[str, ...],
    started_before: str | None,
    started_after: str | None,
    name: str | None,
    wait: bool,
    interval: float,
    as_json: bool,
) -> int:
    """Apply ACTION to every matching execution of the tenant, in the background."""
    where: dict[str, Any] = {f"attr.{k}": v for k, v in parse_pairs(attrs, "--attr").items()}
    optional = {
        "definitionId": definition_id,
        "state": list(states) or None,
        "startedBefore": started_before,
        "startedAfter": started_after,
    }
    where.update({k: v for k, v in optional.items() if v is not None})
    with connect(ctx) as client:
        operation = client.start_bulk(action, where, name)
        while wait and operation["state"] == "running":
            time.sleep(interval)
            operation = client.get_bulk(operation["id"])
            if not as_json:
                say(_progress_line(operation))
    if as_json:
        emit_json(operation)
    else:
        _show_operation(operation)
        if not wait:
            say(f"  follow it: sedo bulk show {p(operation['id'])}")
    return FAILED if wait and operation["failed"] else OK


@bulk.command("show")
@click.argument("operation_id")
@api_command
def bulk_show(ctx: click.Context, operation_id: str, as_json: bool) -> int:
    """Show a bulk operation's progress (matched, done, failed)."""
    return answer(ctx, as_json, lambda client: client.get_bulk(operation_id), _show_operation)
