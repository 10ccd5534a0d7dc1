"""`gateway admin create-user`: admin users of the status pages."""

from __future__ import annotations

import sys

import click

from gateway.config import get_settings
from gateway.errors import GatewayError
from gateway.kit.time import utc_now
from gateway.store.session import Database
from gateway.web import account


@click.group("admin")
def admin() -> None:
    """Admin users of the /admin pages."""


@admin.command("create-user")
@click.argument("email")
@click.option("--creditor", "creditor_code", required=True, help="Code of the creditor entity; the user also sees its children.")
@click.option("--role", type=click.Choice([role.value for role in account.Role]), required=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input instead of a prompt.")
def create_user(email: str, creditor_code: str, role: str, password_stdin: bool) -> None:
    """Create an admin user EMAIL for a creditor entity with a role."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    database = Database(get_settings().database_url)
    try:
        with database.session_scope() as session:
            user = account.create_user(session, email, password, creditor_code=creditor_code, role=role, now=utc_now())
            click.echo(f"created admin user {user.email} ({user.role}) for {creditor_code}")
    except GatewayError as error:
        raise click.ClickException(str(error)) from error
    finally:
        database.dispose()


def register(group: click.Group) -> None:
    group.add_command(admin)
