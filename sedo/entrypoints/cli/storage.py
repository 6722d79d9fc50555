"""``sedo migrate-storage``: copy an executions table from before per-execution heads (issue 14)
into today's layout (sedo/adapters/dynamodb/migrate.py). It talks to DynamoDB, not to the
API: it uses the AWS credentials and the settings of the environment (SEDO_EXECUTIONS_TABLE,
SEDO_REGION, SEDO_ENDPOINT_URL), as the functions do."""

from __future__ import annotations

import click

from sedo.entrypoints.cli.output import FAILED, OK, emit_json, json_option, say, warn


@click.command("migrate-storage")
@click.option("--table", help="The executions table (default: $SEDO_EXECUTIONS_TABLE).")
@click.option("--delete-old", is_flag=True, help="Delete the old layout's items once copied.")
@click.option("--dry-run", is_flag=True, help="Count what would be copied; write nothing.")
@json_option
def migrate_storage(table: str | None, delete_old: bool, dry_run: bool, as_json: bool) -> int:
    """Copy finished executions stored before per-execution heads into today's layout."""
    from sedo.adapters.aws import client
    from sedo.adapters.dynamodb.migrate import MigrationRefused, migrate
    from sedo.config import Settings

    settings = Settings.from_env()
    name = table or settings.executions_table
    try:
        report = migrate(client("dynamodb", settings), name, delete_old=delete_old, dry_run=dry_run)
    except MigrationRefused as exc:
        warn(f"sedo migrate-storage: {exc}")
        return FAILED
    if as_json:
        emit_json({"table": name, "dryRun": dry_run, **report})
    else:
        counts = ", ".join(f"{v} {k}" for k, v in report.items())
        say(f"{'would copy' if dry_run else 'copied'} in {name}: {counts}")
    return OK
