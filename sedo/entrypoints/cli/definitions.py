"""``push``, ``definitions`` and ``graph``: definitions, on the server and on paper."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.table import Table

from sedo.entrypoints.cli.local import check_file, definition_files, media_type, report_problems
from sedo.entrypoints.cli.output import (
    FAILED,
    OK,
    USAGE,
    api_command,
    emit_json,
    json_option,
    say,
    stdout,
    warn,
)
from sedo.entrypoints.cli.output import plain as p
from sedo.entrypoints.cli.profiles import connect


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@api_command
def push(ctx: click.Context, paths: tuple[Path, ...], as_json: bool) -> int:
    """Store definition files: a new definition, or a new version of an existing one.

    Each file is validated first; its problems are printed with their paths and it is
    not sent. A directory means every .yaml, .yml and .json file in it.
    """
    from sedo.client import ApiError
    from sedo.domain.language import load_text

    files, failed = definition_files(paths)
    results: list[dict[str, Any]] = []
    with connect(ctx) as client:
        for path in files:
            body, problems = check_file(path)
            if problems or body is None:
                failed += 1
                results.append({"file": str(path), "problems": problems})
                if not as_json:
                    report_problems(path, problems)
                continue
            media = media_type(path)
            definition_id = str(load_text(body, media)["id"])
            try:
                try:
                    stored = client.create_definition(body, media)
                    action = "created"
                except ApiError as exc:
                    if exc.status != 409:
                        raise
                    stored = client.update_definition(definition_id, body, media)
                    action = "new version"
            except ApiError as exc:
                if exc.status in (401, 403):
                    raise
                failed += 1
                lines = [f"{e.get('path') or '/'}: {e.get('message')}" for e in exc.errors] or [exc.detail]
                results.append({"file": str(path), "status": exc.status, "problem": exc.problem})
                if not as_json:
                    warn(f"{p(str(path))}: refused ({exc.status}): {p(exc.detail.splitlines()[0])}")
                    for line in lines if exc.errors else []:
                        warn(f"  {p(line)}")
                continue
            results.append({"file": str(path), "action": action, **stored})
            if not as_json:
                say(f"{p(str(path))}: {action} [bold]{p(stored['id'])}[/] version {stored['version']}")
    if as_json:
        emit_json(results)
    elif len(files) > 1:
        (warn if failed else say)(f"{len(files) - failed} of {len(files)} pushed")
    return FAILED if failed else OK


@click.command()
@click.argument("definition_id", required=False)
@click.option("--version", type=int, help="A version other than the latest (with an ID).")
@api_command
def definitions(ctx: click.Context, definition_id: str | None, version: int | None, as_json: bool) -> int:
    """List the tenant's definitions, or show one (its document as YAML)."""
    with connect(ctx) as client:
        if definition_id is None:
            found = client.list_definitions()
            if as_json:
                emit_json(found)
                return OK
            table = Table("ID", "VERSION", "DESCRIPTION", "UPDATED", box=None, pad_edge=False)
            for item in found:
                table.add_row(
                    p(str(item.get("id"))),
                    str(item.get("latestVersion", item.get("version", ""))),
                    p(str(item.get("description") or "")[:60]),
                    p(str(item.get("updatedAt") or "")),
                )
            stdout().print(table if found else "no definitions yet: sedo push FILE")
            return OK
        shown = client.get_definition(definition_id, version)
    if as_json:
        emit_json(shown)
        return OK
    import yaml

    say(
        f"[bold]{p(shown['id'])}[/] version {shown['version']} of {shown.get('latestVersion')}, created {shown.get('createdAt')}"
    )
    click.echo(yaml.safe_dump(shown["definition"], sort_keys=False, allow_unicode=True).rstrip())
    return OK


@click.command()
@click.argument("definition_id")
@api_command
def delete(ctx: click.Context, definition_id: str, as_json: bool) -> int:
    """Delete a definition: no new executions; running ones finish on their version."""
    with connect(ctx) as client:
        client.delete_definition(definition_id)
    if as_json:
        emit_json({"id": definition_id, "deleted": True})
    else:
        say(f"deleted {p(definition_id)}")
    return OK


@click.command()
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@json_option
def graph(file: Path, as_json: bool) -> int:
    """Print a definition as a Mermaid flowchart (for READMEs and reviews)."""
    from sedo.entrypoints.cli.mermaid import mermaid

    body, problems = check_file(file)
    if problems or body is None:
        report_problems(file, problems)
        return USAGE
    from sedo.domain.language import load_text

    text = mermaid(load_text(body, media_type(file)))
    if as_json:
        emit_json({"file": str(file), "mermaid": text})
    else:
        click.echo(text)
    return OK
