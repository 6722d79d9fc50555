"""Commands that need no server: ``validate``, ``token``, ``local``."""

from __future__ import annotations

import os
from pathlib import Path

import click

from sedo.auth.local import LOCAL_SUBJECT
from sedo.entrypoints.cli.output import FAILED, OK, USAGE, emit_json, json_option, say, warn
from sedo.entrypoints.cli.output import plain as p

DEFINITION_SUFFIXES = (".yaml", ".yml", ".json")


def media_type(path: Path) -> str:
    return "application/json" if path.suffix.lower() == ".json" else "application/yaml"


def definition_files(paths: tuple[Path, ...]) -> tuple[list[Path], int]:
    """The files named (a directory: its definition files), and how many arguments already failed."""
    files: list[Path] = []
    failed = 0
    for path in paths:
        if not path.is_dir():
            files.append(path)
            continue
        found = sorted(f for f in path.iterdir() if f.is_file() and f.suffix.lower() in DEFINITION_SUFFIXES)
        if not found:
            warn(f"{p(str(path))}: no .yaml, .yml or .json files in this directory")
            failed += 1
        files.extend(found)
    return files, failed


def check_file(path: Path) -> tuple[bytes | None, list[str]]:
    """The file's bytes and its problems (``path: message`` each); None when it cannot be read."""
    from sedo.domain.errors import InvalidDefinition
    from sedo.domain.language import load_text, validate_document

    try:
        body = path.read_bytes()
    except OSError as exc:
        return None, [f"cannot be read: {exc.strerror or exc}"]
    try:
        problems = validate_document(load_text(body, media_type(path)))
    except InvalidDefinition as exc:  # not UTF-8, not JSON/YAML, or values JSON cannot hold
        problems = exc.problems
    return body, [str(problem) for problem in problems]


def report_problems(path: Path, problems: list[str]) -> None:
    if problems[0].startswith("cannot be read"):
        warn(f"{p(str(path))}: {p(problems[0])}")
        return
    warn(f"{p(str(path))}: {len(problems)} {'problem' if len(problems) == 1 else 'problems'}")
    for problem in problems:
        warn(f"  {p(problem)}")


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@json_option
def validate(paths: tuple[Path, ...], as_json: bool) -> int:
    """Validate definition files (YAML or JSON; a directory: every such file in it)."""
    files, failed = definition_files(paths)
    results = []
    for path in files:
        _, problems = check_file(path)
        results.append({"file": str(path), "valid": not problems, "problems": problems})
        if problems:
            failed += 1
            if not as_json:
                report_problems(path, problems)
        elif not as_json:
            say(f"{p(str(path))}: ok")
    if as_json:
        emit_json(results)
    elif len(files) > 1:
        summary = f"{len(files) - failed} of {len(files)} valid"
        (warn if failed else say)(summary)
    return FAILED if failed else OK


@click.command()
@click.option("--tenant", "tenants", multiple=True, help="Tenant id (repeat for several).")
@click.option("--role", default="author", show_default=True, help="viewer, operator or author.")
@click.option("--ttl", default="12h", show_default=True, help="Lifetime: seconds, or 30m, 12h, 7d.")
@click.option("--subject", default=LOCAL_SUBJECT, show_default=True, help="The token's sub claim.")
@click.option("--admin", is_flag=True, help="A platform admin: may manage tenants (/sedo/admin/...).")
@json_option
def token(tenants: tuple[str, ...], role: str, ttl: str, subject: str, admin: bool, as_json: bool) -> int:
    """Mint a token for the local stack (signed with the key 'make run' created).

    Use it as: export SEDO_TOKEN=$(sedo token --tenant 123 --role author);
    a platform admin's: sedo token --admin (with --tenant too, it also holds that role).
    """
    if not tenants and not admin:
        warn("sedo token: name a tenant (--tenant 123) or ask for a platform admin's token (--admin)")
        return USAGE
    from sedo.config import Settings
    from sedo.entrypoints.cli import tokens

    grants = dict.fromkeys(tenants, role)
    try:
        seconds = tokens.parse_ttl(ttl)
        tokens.check_grants(grants)
        key = tokens.load_signing_key(tokens.local_signing_key_path(Settings.from_env()))
        minted = tokens.mint_token(key, grants, seconds, subject=subject, admin=admin)
    except (ValueError, tokens.ConfigurationError) as exc:
        warn(f"sedo token: {p(str(exc))}")
        return USAGE
    if as_json:
        emit_json({"token": minted, "tenants": grants, "admin": admin, "ttlSeconds": seconds})
    else:
        click.echo(minted)
    return OK


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value and value.isdigit() else default


@click.command()
@click.option("--port", type=int, default=lambda: _env_int("SEDO_PORT", 3000), help="API port (default 3000).")
@click.option(
    "--moto-port", type=int, default=lambda: _env_int("SEDO_MOTO_PORT", 0) or None, help="moto port (default: free)."
)
@click.option("--workers", type=int, default=lambda: _env_int("SEDO_WORKERS", 2), help="Processor workers.")
def local(port: int, moto_port: int | None, workers: int) -> int:
    """Run the local stack (moto + API + processor) on 127.0.0.1; Ctrl-C stops it."""
    from sedo.entrypoints.cli.tokens import ConfigurationError
    from sedo.entrypoints.local.run import run

    try:
        return run(port=port, moto_port=moto_port, workers=workers)
    except KeyboardInterrupt:
        return 130
    except ConfigurationError as exc:
        warn(f"sedo local: {p(str(exc))}")
        return USAGE
