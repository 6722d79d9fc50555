"""The ``sedo`` command line."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path


def _validate(paths: list[Path]) -> int:
    """Validate files (a directory: its .yaml, .yml and .json files); 0 when every one is valid."""
    from sedo.domain.errors import InvalidDefinition
    from sedo.domain.language import load_text, validate_document

    files, failed = _definition_files(paths)
    for path in files:
        try:
            body = path.read_bytes()
        except OSError as exc:
            print(f"{path}: cannot be read: {exc.strerror or exc}", file=sys.stderr)
            failed += 1
            continue
        try:
            problems = validate_document(load_text(body, _media_type(path)))
        except InvalidDefinition as exc:  # not UTF-8, not JSON/YAML, or values JSON cannot hold
            problems = exc.problems
        if problems:
            failed += 1
            print(f"{path}: {len(problems)} {'problem' if len(problems) == 1 else 'problems'}", file=sys.stderr)
            for problem in problems:
                print(f"  {problem}", file=sys.stderr)
        else:
            print(f"{path}: ok")
    if len(files) > 1:
        print(f"{len(files) - failed} of {len(files)} valid", file=sys.stderr if failed else sys.stdout)
    return 1 if failed else 0


def _import_asl(path: Path, definition_id: str | None) -> int:
    """Print the sedo definition (YAML) equivalent to an ASL state machine; 2 when it does not translate."""
    from sedo.domain.asl import render_yaml, translate
    from sedo.domain.errors import InvalidDefinition
    from sedo.domain.language import ID_PATTERN, load_text

    definition_id = definition_id or _id_from(path.stem)
    if not re.match(ID_PATTERN, definition_id):
        print(f"sedo import-asl: {definition_id!r} is not a definition id; give one with --id", file=sys.stderr)
        return 2
    try:
        translation = translate(load_text(path.read_bytes(), "application/json"), definition_id)
    except OSError as exc:
        print(f"{path}: cannot be read: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except InvalidDefinition as exc:
        count = len(exc.problems)
        print(f"{path}: {count} {'construct does' if count == 1 else 'constructs do'} not translate", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    print(render_yaml(translation, path.name), end="")
    return 0


def _id_from(stem: str) -> str:
    return re.sub(r"^[^A-Za-z0-9]+", "", re.sub(r"[^A-Za-z0-9_.-]+", "-", stem))[:80] or "imported"


def _token(tenants: list[str], role: str, ttl: str, subject: str) -> int:
    from sedo.auth import local
    from sedo.auth.errors import ConfigurationError
    from sedo.auth.grants import check_grants
    from sedo.config import Settings

    try:
        seconds = local.parse_ttl(ttl)
        check_grants(dict.fromkeys(tenants, role))
        key = local.load_signing_key(local.local_signing_key_path(Settings.from_env()))
        print(local.mint_token(key, dict.fromkeys(tenants, role), seconds, subject=subject))
    except (ValueError, ConfigurationError) as exc:
        print(f"sedo token: {exc}", file=sys.stderr)
        return 2
    return 0


def _media_type(path: Path) -> str:
    return "application/json" if path.suffix.lower() == ".json" else "application/yaml"


def _definition_files(paths: list[Path]) -> tuple[list[Path], int]:
    """The files to validate, and how many arguments already failed (empty directories)."""
    files: list[Path] = []
    failed = 0
    for path in paths:
        if not path.is_dir():
            files.append(path)
            continue
        found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in (".yaml", ".yml", ".json"))
        if not found:
            print(f"{path}: no .yaml, .yml or .json files in this directory", file=sys.stderr)
            failed += 1
        files.extend(found)
    return files, failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sedo", description="sedo: a serverless event-driven orchestrator")
    commands = parser.add_subparsers(dest="command", required=True)

    local = commands.add_parser("local", help="run the local stack (moto + API + processor) on 127.0.0.1")
    local.add_argument("--port", type=int, default=int(_env("SEDO_PORT", "3000")), help="API port (default 3000)")
    local.add_argument(
        "--moto-port",
        type=int,
        default=int(_env("SEDO_MOTO_PORT", "0")) or None,
        help="moto server port (default: a free one)",
    )
    local.add_argument("--workers", type=int, default=int(_env("SEDO_WORKERS", "2")), help="processor workers")

    validate = commands.add_parser(
        "validate", help="validate definition files (YAML or JSON; a directory: every such file in it)"
    )
    validate.add_argument("paths", nargs="+", type=Path)

    import_asl = commands.add_parser(
        "import-asl", help="translate an Amazon States Language (Step Functions) file into a sedo definition"
    )
    import_asl.add_argument("path", type=Path, help="the state machine, as JSON")
    import_asl.add_argument("--id", dest="definition_id", help="the definition id (default: from the file name)")

    token = commands.add_parser(
        "token",
        help="mint a token for the local stack (signed with the key 'make run' created)",
        description="Print a bearer token signed with the local stack's key ($SEDO_LOCAL_DIR, default .local/). "
        'Use it as: curl -H "Authorization: Bearer $(sedo token --tenant 123 --role author)" ...',
    )
    token.add_argument("--tenant", action="append", required=True, help="tenant id (repeat for several)")
    token.add_argument("--role", default="author", help="viewer, operator or author (default author)")
    token.add_argument("--ttl", default="12h", help="lifetime: seconds, or 30m, 12h, 7d (default 12h)")
    token.add_argument("--subject", default="local-developer", help="the token's sub claim")

    args = parser.parse_args(argv)
    if args.command == "token":
        return _token(args.tenant, args.role, args.ttl, args.subject)
    if args.command == "local":
        from sedo.auth.errors import ConfigurationError
        from sedo.entrypoints.local.run import run

        try:
            return run(port=args.port, moto_port=args.moto_port, workers=args.workers)
        except KeyboardInterrupt:
            return 130
        except ConfigurationError as exc:
            print(f"sedo local: {exc}", file=sys.stderr)
            return 2
    if args.command == "import-asl":
        return _import_asl(args.path, args.definition_id)
    if args.command == "validate":
        return _validate(args.paths)
    parser.error(f"unknown command {args.command}")  # pragma: no cover
    return 2


def _env(name: str, default: str) -> str:
    import os

    return os.environ.get(name) or default


if __name__ == "__main__":
    sys.exit(main())
