"""The ``sedo`` command line (Click, with Rich for tables and live progress).

One module per command group: local.py (validate, token, local), definitions.py
(push, definitions, delete, graph), executions.py (run, executions, show, history, cancel,
complete, fail), simulate.py (simulate), asl.py (import-asl), storage.py (migrate-storage),
operate.py (alias, redrive, pause, resume, bulk). The API is reached through sedo.client.
"""

from __future__ import annotations

import os
import sys

import click

from sedo.entrypoints.cli import asl, definitions, executions, local, operate, simulate, storage
from sedo.entrypoints.cli.output import FAILED, USAGE, warn


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--url", envvar=None, help="The API's base URL (default: $SEDO_URL or the profile's).")
@click.option("--token", envvar=None, help="Bearer token (default: $SEDO_TOKEN or the profile's).")
@click.option(
    "--tenant", envvar=None, help="Tenant id (default: $SEDO_TENANT, the profile's, or the token's only one)."
)
@click.option("--profile", envvar=None, help="A profile of ~/.config/sedo/config.toml (default: $SEDO_PROFILE).")
@click.pass_context
def cli(ctx: click.Context, url: str | None, token: str | None, tenant: str | None, profile: str | None) -> None:
    """sedo: a serverless event-driven workflow orchestrator."""
    ctx.obj = {"url": url, "token": token, "tenant": tenant, "profile": profile}


for command in (
    local.validate,
    local.token,
    local.local,
    definitions.push,
    definitions.definitions,
    definitions.delete,
    definitions.graph,
    executions.run,
    executions.executions,
    executions.show,
    executions.history,
    executions.cancel,
    executions.complete,
    executions.fail,
    simulate.simulate,
    asl.import_asl,
    storage.migrate_storage,
    # operating executions (issue 18)
    operate.alias,
    operate.redrive,
    operate.pause,
    operate.resume,
    operate.bulk,
):
    cli.add_command(command)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 done, 1 failed, 2 bad usage or input)."""
    try:
        result = cli.main(args=argv, prog_name="sedo", standalone_mode=False)
    except click.exceptions.Exit as exc:  # --help
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code if exc.exit_code else USAGE
    except click.exceptions.Abort:
        warn("aborted")
        return 130
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else FAILED
    except Exception as exc:  # a bug: say so in one line (SEDO_DEBUG=1 shows the traceback)
        if os.environ.get("SEDO_DEBUG"):
            raise
        warn(f"sedo: unexpected error: {type(exc).__name__}: {exc} (run with SEDO_DEBUG=1 for the traceback)")
        return FAILED
    return result if isinstance(result, int) else 0


__all__ = ["cli", "main"]

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
