"""What the CLI prints: Rich for people, the API's JSON (``--json``) for scripts.

Exit statuses: 0 done, 1 the thing failed (an API error, an execution that did not
succeed), 2 bad usage or input (a missing setting, unreadable JSON, a 400 from the API).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar, cast

import click
from rich.console import Console
from rich.markup import escape

OK, FAILED, USAGE = 0, 1, 2

F = TypeVar("F", bound=Callable[..., Any])


class UsageProblem(click.ClickException):
    """Bad usage or input: printed as ``sedo <command>: <message>``, exit 2."""

    exit_code = USAGE


def stdout() -> Console:
    # Looked up per call, so pytest's capsys and click's runner see what is printed.
    return Console(file=sys.stdout, highlight=False, soft_wrap=True, width=_width(sys.stdout))


def stderr() -> Console:
    return Console(file=sys.stderr, highlight=False, soft_wrap=True, width=_width(sys.stderr))


def _width(stream: Any) -> int | None:
    """On a terminal, $COLUMNS or its width; piped to a file or a program, wide enough not to cut ids."""
    if not getattr(stream, "isatty", lambda: False)():
        return 240
    columns = os.environ.get("COLUMNS")
    return int(columns) if columns and columns.isdigit() else None


def emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def say(text: str) -> None:
    stdout().print(text)


def warn(text: str) -> None:
    stderr().print(text)


def plain(text: str) -> str:
    return escape(text)


def json_option(function: F) -> F:
    """``--json``: print the API's JSON instead of tables (for scripts)."""
    return click.option("--json", "as_json", is_flag=True, help="Print the API's JSON (for scripts).")(function)


def read_json_argument(value: str, what: str) -> Any:
    """A JSON value given inline, or ``@file`` (a JSON or YAML file), or ``@-`` (stdin)."""
    text = value
    source = what
    if value.startswith("@"):
        name = value[1:]
        source = f"{what} ({'stdin' if name == '-' else name})"
        try:
            text = sys.stdin.read() if name == "-" else Path(name).read_text()
        except OSError as exc:
            raise UsageProblem(f"{what}: cannot read {name}: {exc.strerror or exc}") from None
        if name.lower().endswith((".yaml", ".yml")):
            import yaml

            try:
                return yaml.safe_load(text)
            except yaml.YAMLError as exc:
                raise UsageProblem(f"{source} is not valid YAML: {exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageProblem(
            f"{source} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}); "
            'quote it for the shell, e.g. --input \'{"orderId": "o-1"}\', or pass @file.json'
        ) from None


def api_errors(function: F) -> F:
    """Turn the client's errors into a message and an exit status (never a traceback)."""

    @wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from sedo.client import ApiError, ClientError

        try:
            return function(*args, **kwargs)
        except ApiError as exc:
            if kwargs.get("as_json"):
                emit_json(exc.problem)
            else:
                show_problem(exc)
            raise SystemExit(USAGE if exc.status == 400 else FAILED) from None
        except ClientError as exc:
            warn(f"[red]error:[/] {plain(str(exc))}")
            raise SystemExit(FAILED) from None

    return wrapper  # type: ignore[return-value]


def api_command(function: F) -> F:
    """What a command that calls the API takes: ``--json``, the click context (for
    ``connect``) and :func:`api_errors` (a message and an exit status, never a traceback)."""
    return json_option(cast(F, click.pass_context(api_errors(function))))


def show_problem(exc: Any) -> None:
    console = stderr()
    message = exc.message()
    if exc.errors:  # the detail lists them too: name the problem, then each violation once
        title = str(exc.problem.get("title") or "")
        message = title if title and title != "bad request" else exc.detail.split("\n", 1)[0]
    console.print(f"[red]error {exc.status}:[/] {plain(message)}")
    for error in exc.errors:
        where = error.get("path") or (f"{error.get('in')} parameter {error.get('parameter')}" if "in" in error else "")
        console.print(f"  {plain(str(where) + ': ' if where else '')}{plain(str(error.get('message', '')))}")
