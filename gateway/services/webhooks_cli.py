"""`gateway webhooks add|list|disable|enable|remove`: a creditor's webhook endpoints, from the admin CLI."""

from __future__ import annotations

import json
import uuid

import click
from sqlalchemy import select

from gateway.config import get_settings
from gateway.errors import GatewayError
from gateway.kit.time import utc_now
from gateway.services import webhook_endpoints
from gateway.store.models import CreditorEntity
from gateway.store.session import Database

ACTOR = "cli"


@click.group("webhooks")
def webhooks_group() -> None:
    """Webhook endpoints of accounting software."""


def _run(work):
    """Run `work(session)` in one transaction; a refused change is a clean CLI error (exit 1)."""
    database = Database(get_settings().database_url)
    try:
        with database.session_scope() as session:
            return work(session)
    except GatewayError as error:
        raise click.ClickException(str(error)) from error
    finally:
        database.dispose()


@webhooks_group.command("add")
@click.argument("creditor_code")
@click.argument("url")
def add(creditor_code: str, url: str) -> None:
    """Send CREDITOR_CODE's status events to URL; prints the signing secret once."""
    endpoint_id, secret = _run(lambda session: _add(session, creditor_code, url))
    click.echo(f"webhook endpoint {endpoint_id} for {creditor_code}: {url}")
    click.echo(f"secret (shown once, verify X-Gateway-Signature with it): {secret}")


def _add(session, creditor_code: str, url: str) -> tuple[uuid.UUID, str]:
    endpoint = webhook_endpoints.add_by_code(session, creditor_code, url, actor=ACTOR, now=utc_now())
    return endpoint.id, endpoint.secret


@webhooks_group.command("list")
@click.argument("creditor_code", required=False)
@click.option("--all", "include_removed", is_flag=True, help="include removed endpoints")
@click.option("--json", "as_json", is_flag=True, help="one JSON list (never the secrets)")
def list_endpoints(creditor_code: str | None, include_removed: bool, as_json: bool) -> None:
    """The endpoints of CREDITOR_CODE (default: every creditor): id, creditor, state, URL."""

    def work(session) -> list[dict]:
        creditors = {c.id: c.code for c in session.scalars(select(CreditorEntity))}
        ids = [webhook_endpoints.creditor_by_code(session, creditor_code).id] if creditor_code else list(creditors)
        return [webhook_endpoints.view(e, creditors[e.creditor_id]) for e in webhook_endpoints.listed(session, ids, include_removed=include_removed)]

    rows = _run(work)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        state = "removed" if row["removed_at"] else "active" if row["active"] else "disabled"
        click.echo(f"{row['id']}  {row['creditor']}  {state}  {row['url']}")


def _change(endpoint_id: uuid.UUID, change, done: str) -> None:
    def work(session) -> str:
        endpoint = webhook_endpoints.visible(session, endpoint_id, None)
        change(session, endpoint)
        return endpoint.url

    url = _run(work)
    click.echo(f"webhook endpoint {endpoint_id} {done}: {url}")


@webhooks_group.command("disable")
@click.argument("endpoint_id", type=click.UUID)
def disable(endpoint_id: uuid.UUID) -> None:
    """Stop sending to ENDPOINT_ID (deliveries still waiting for it are cancelled)."""
    _change(endpoint_id, lambda session, e: webhook_endpoints.set_active(session, e, False, actor=ACTOR, now=utc_now()), "disabled")


@webhooks_group.command("enable")
@click.argument("endpoint_id", type=click.UUID)
def enable(endpoint_id: uuid.UUID) -> None:
    """Send to ENDPOINT_ID again, from the next event on."""
    _change(endpoint_id, lambda session, e: webhook_endpoints.set_active(session, e, True, actor=ACTOR, now=utc_now()), "enabled")


@webhooks_group.command("remove")
@click.argument("endpoint_id", type=click.UUID)
def remove(endpoint_id: uuid.UUID) -> None:
    """Remove ENDPOINT_ID for good (its delivery history stays)."""
    _change(endpoint_id, lambda session, e: webhook_endpoints.remove(session, e, actor=ACTOR, now=utc_now()), "removed")


def register(group: click.Group) -> None:
    group.add_command(webhooks_group)
