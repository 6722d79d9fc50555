"""``sedo import-asl``: an Amazon States Language (Step Functions) file as a sedo definition."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import click

from sedo.entrypoints.cli.output import OK, USAGE


@click.command("import-asl")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--id", "definition_id", help="The definition id (default: from the file name).")
def import_asl(path: Path, definition_id: str | None) -> int:
    """Print the sedo definition (YAML) equivalent to a state machine; exit 2 when it does not translate."""
    from sedo.domain.asl import render_yaml, translate
    from sedo.domain.errors import InvalidDefinition
    from sedo.domain.language import ID_PATTERN, load_text

    definition_id = definition_id or _id_from(path.stem)
    if not re.match(ID_PATTERN, definition_id):
        print(f"sedo import-asl: {definition_id!r} is not a definition id; give one with --id", file=sys.stderr)
        return USAGE
    try:
        translation = translate(load_text(path.read_bytes(), "application/json"), definition_id)
    except OSError as exc:
        print(f"{path}: cannot be read: {exc.strerror or exc}", file=sys.stderr)
        return USAGE
    except InvalidDefinition as exc:
        count = len(exc.problems)
        print(f"{path}: {count} {'construct does' if count == 1 else 'constructs do'} not translate", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return USAGE
    click.echo(render_yaml(translation, path.name), nl=False)
    return OK


def _id_from(stem: str) -> str:
    return re.sub(r"^[^A-Za-z0-9]+", "", re.sub(r"[^A-Za-z0-9_.-]+", "-", stem))[:80] or "imported"
