"""Operational subcommands: serve, worker, migrate, db, keys, import, demo."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from gateway.config import get_settings


@click.command()
@click.option("--host", default=None, help="bind address (default from GATEWAY_HOST, 127.0.0.1)")
@click.option("--port", default=None, type=int, help="port (default from GATEWAY_PORT, 8000)")
@click.option("--workers/--no-workers", default=True, help="run the job workers in this process")
def serve(host: str | None, port: int | None, workers: bool) -> None:
    """Run the API (and, by default, the workers) in one process."""
    import uvicorn

    from gateway.app import create_app
    from gateway.channels.setup import build_providers
    from gateway.store.migrate import upgrade

    settings = get_settings()
    upgrade(settings.database_url)
    # The channel providers and callback verifiers come from the settings, as for `gateway worker` and the demo.
    app = create_app(settings, run_workers=workers, providers=build_providers(settings))
    uvicorn.run(app, host=host or settings.host, port=port or settings.port, log_level="info")


@click.command()
@click.option("--once", is_flag=True, help="run the due jobs and exit")
def worker(once: bool) -> None:
    """Run job workers only; several can share one PostgreSQL database."""
    from gateway.store.session import Database
    from gateway.workers.run import Worker

    settings = get_settings()
    runner = Worker(Database(settings.database_url), settings)
    if once:
        click.echo(f"ran {runner.drain()} job(s)")
        return
    try:
        runner.run_forever()
    except KeyboardInterrupt:
        runner.stop()


@click.command()
@click.option("--revision", default="head", show_default=True)
def migrate(revision: str) -> None:
    """Apply the database migrations (SQLite by default, PostgreSQL via GATEWAY_DATABASE_URL)."""
    from gateway.store.migrate import upgrade

    url = get_settings().database_url
    upgrade(url, revision)
    click.echo(f"migrated {url.split('@')[-1]} to {revision}")


@click.group()
def db() -> None:
    """Database roles (PostgreSQL)."""


@db.command("grant-app-role")
@click.argument("role")
def db_grant_app_role(role: str) -> None:
    """Give ROLE the gateway's least privileges (run as the tables' owner, after every migration).

    ROLE (created beforehand: CREATE ROLE ROLE LOGIN PASSWORD '...') may read and write the
    gateway's tables but only read and append to audit_event; it owns nothing, so it cannot
    disable the audit triggers. Point `gateway serve` / `gateway worker` at it."""
    from gateway.errors import GatewayError
    from gateway.store.roles import grant_app_role
    from gateway.store.session import Database

    database = Database(get_settings().database_url)
    try:
        with database.engine.begin() as connection:
            granted = grant_app_role(connection, role)
    except GatewayError as error:
        for problem in error.problems:
            click.echo(f"{problem.field}: {problem.rule}: {problem.message}", err=True)
        raise click.ClickException(f"nothing granted: {error.message}") from error
    finally:
        database.engine.dispose()
    for table, privileges in granted.append_only.items():
        click.echo(f"{granted.role}: {table}: {', '.join(privileges)} only (no UPDATE, DELETE, TRUNCATE; owner {granted.owner})")
    click.echo(f"{granted.role}: SELECT, INSERT, UPDATE, DELETE on {granted.writable_tables} other tables; owns none; not a superuser")


@click.group()
def keys() -> None:
    """Create and revoke API keys of creditor entities."""


@keys.command("create")
@click.argument("creditor_code")
@click.option("--name", default="accounting software", show_default=True)
@click.option("--include-children", is_flag=True, help="the key also sees the entity's children (OCMW, AGB, schools)")
def keys_create(creditor_code: str, name: str, include_children: bool) -> None:
    """Print a new key for CREDITOR_CODE once; only its hash is stored."""
    from gateway.kit.time import utc_now
    from gateway.services import auth
    from gateway.store.session import Database

    with Database(get_settings().database_url).session_scope() as session:
        key = auth.create_key(session, creditor_code, name, includes_children=include_children, now=utc_now())
    click.echo(key)


@keys.command("revoke")
@click.argument("key_or_prefix")
def keys_revoke(key_or_prefix: str) -> None:
    """Revoke a key, given as the full key or its prefix."""
    from gateway.kit.time import utc_now
    from gateway.services import auth
    from gateway.store.session import Database

    prefix = key_or_prefix.split("_")[1] if key_or_prefix.startswith("gw_") else key_or_prefix
    with Database(get_settings().database_url).session_scope() as session:
        auth.revoke_key(session, prefix, now=utc_now())
    click.echo(f"revoked {prefix}")


@click.group()
def creditors() -> None:
    """Creditor entities (municipality, OCMW, AGB, schools, hospital, utility)."""


@creditors.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def creditors_import(file: Path) -> None:
    """Create or update the entities in FILE (a JSON list); all or nothing."""
    from gateway.errors import GatewayError
    from gateway.kit.time import utc_now
    from gateway.services.creditors import import_creditors, parse_file
    from gateway.store.session import Database

    try:
        entities = parse_file(file)
        with Database(get_settings().database_url).session_scope() as session:
            outcome = import_creditors(session, entities, actor="cli:creditors", now=utc_now())
    except GatewayError as error:
        for problem in error.problems:
            click.echo(f"{problem.field}: {problem.rule}: {problem.message}", err=True)
        raise click.ClickException(f"nothing imported: {error.message}") from error
    click.echo(json.dumps(outcome))


@click.group("import")
def import_group() -> None:
    """Bulk imports."""


@import_group.command("claims")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--creditor", "creditor_code", required=True, help="creditor entity code the claims belong to")
@click.option("--format", "file_format", type=click.Choice(["auto", "jsonl", "csv"]), default="auto", show_default=True)
def import_claims(file: Path, creditor_code: str, file_format: str) -> None:
    """Import claims from JSON lines (one claim payload per line) or CSV (one line per row)."""
    from gateway.services.importer import import_rows, read_rows

    rows = read_rows(file, file_format)
    with click.progressbar(length=len(rows), label="importing", file=sys.stderr) as bar:
        summary = import_rows(get_settings(), creditor_code, rows, progress=bar.update)
    for refused in summary.refused:
        click.echo(f"row {refused.row}: refused: {refused.reason}", err=True)
    click.echo(json.dumps({"accepted": summary.accepted, "refused": len(summary.refused)}))
    if summary.refused:
        sys.exit(1)


@click.command()
@click.option("--no-serve", is_flag=True, help="load the demo and print the summary, without starting the server")
@click.option("--port", default=None, type=int)
def demo(no_serve: bool, port: int | None) -> None:
    """Fresh SQLite store, demo creditors, debtors and claims, the pipeline, then the server."""
    from gateway.demo import run_demo

    run_demo(serve=not no_serve, port=port)


def register(group: click.Group) -> None:
    for command in (serve, worker, migrate, db, keys, creditors, import_group, demo):
        group.add_command(command)

