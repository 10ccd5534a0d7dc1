"""`gateway webhooks add CREDITOR URL`: register a webhook endpoint for a creditor entity."""

from __future__ import annotations

import click

from gateway.config import get_settings
from gateway.errors import GatewayError
from gateway.kit.time import utc_now
from gateway.services import webhooks
from gateway.store.session import Database


@click.group("webhooks")
def webhooks_group() -> None:
    """Webhook endpoints of accounting software."""


@webhooks_group.command("add")
@click.argument("creditor_code")
@click.argument("url")
def add(creditor_code: str, url: str) -> None:
    """Send CREDITOR_CODE's status events to URL; prints the signing secret once."""
    database = Database(get_settings().database_url)
    try:
        with database.session_scope() as session:
            endpoint = webhooks.add_endpoint(session, creditor_code, url, now=utc_now())
            endpoint_id, secret = endpoint.id, endpoint.secret
    except GatewayError as error:
        raise click.ClickException(str(error)) from error
    finally:
        database.dispose()
    click.echo(f"webhook endpoint {endpoint_id} for {creditor_code}: {url}")
    click.echo(f"secret (shown once, verify X-Gateway-Signature with it): {secret}")


def register(group: click.Group) -> None:
    group.add_command(webhooks_group)
