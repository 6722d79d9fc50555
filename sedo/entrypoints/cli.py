"""The ``sedo`` command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _validate(paths: list[Path]) -> int:
    from sedo.domain.errors import SedoError
    from sedo.domain.language import load_text, validate_document

    failed = 0
    for path in paths:
        try:
            document = load_text(
                path.read_bytes(), "application/json" if path.suffix == ".json" else "application/yaml"
            )
        except (OSError, SedoError) as exc:
            print(f"{path}: {getattr(exc, 'detail', exc)}", file=sys.stderr)
            failed += 1
            continue
        problems = validate_document(document)
        if problems:
            failed += 1
            print(f"{path}: {len(problems)} problem(s)", file=sys.stderr)
            for problem in problems:
                print(f"  {problem}", file=sys.stderr)
        else:
            print(f"{path}: ok")
    return 1 if failed else 0


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

    validate = commands.add_parser("validate", help="validate definition files (YAML or JSON)")
    validate.add_argument("paths", nargs="+", type=Path)

    args = parser.parse_args(argv)
    if args.command == "local":
        from sedo.entrypoints.local.run import run

        try:
            return run(port=args.port, moto_port=args.moto_port, workers=args.workers)
        except KeyboardInterrupt:
            return 130
    if args.command == "validate":
        return _validate(args.paths)
    parser.error(f"unknown command {args.command}")  # pragma: no cover
    return 2


def _env(name: str, default: str) -> str:
    import os

    return os.environ.get(name) or default


if __name__ == "__main__":
    sys.exit(main())
