"""Webhook endpoints of a creditor: add, list, disable, enable, remove (CLI and `/v1/webhook-endpoints`).

An endpoint is never deleted: its deliveries and their attempt rows are the record of what was sent
where, so "remove" marks it removed (inactive for good, no longer listed). A disabled endpoint gets
no new deliveries (`webhooks.fan_out` skips it) and deliveries still waiting for it are cancelled
when their job comes (`webhooks.claim`); enabling it again sends what is published from then on
(`GET /v1/events` has everything in between). Every change is in the audit trail of the creditor.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.errors import InvalidInput, NotFound
from gateway.services import audit
from gateway.store.models import CreditorEntity, WebhookEndpoint

SECRET_BYTES = 32  # 256-bit shared secret, the HMAC-SHA256 key size
MAX_URL_CHARS = 2048  # the column's size


def check_url(url: str) -> str:
    """An absolute http(s) URL with a host; named field `url` and rule `url.scheme` / `url.invalid`."""
    url = url.strip()
    if not url.startswith(("https://", "http://")):
        raise InvalidInput.single("url", "url.scheme", "use an http(s) URL")
    if len(url) > MAX_URL_CHARS or not urlsplit(url).hostname or any(ch.isspace() for ch in url):
        raise InvalidInput.single("url", "url.invalid", f"not an absolute URL of at most {MAX_URL_CHARS} characters")
    return url


def add(session: Session, creditor: CreditorEntity, url: str, *, actor: str, now: datetime) -> WebhookEndpoint:
    """A new active endpoint with a fresh secret (the caller shows it once)."""
    endpoint = WebhookEndpoint(creditor_id=creditor.id, url=check_url(url), secret=secrets.token_hex(SECRET_BYTES), active=True, created_at=now, updated_at=now)
    session.add(endpoint)
    session.flush()
    _record(session, endpoint, "webhook_endpoint.added", actor=actor, now=now)
    return endpoint


def add_by_code(session: Session, creditor_code: str, url: str, *, actor: str = "cli", now: datetime) -> WebhookEndpoint:
    return add(session, creditor_by_code(session, creditor_code), url, actor=actor, now=now)


def creditor_by_code(session: Session, creditor_code: str) -> CreditorEntity:
    creditor = session.scalar(select(CreditorEntity).where(CreditorEntity.code == creditor_code))
    if creditor is None:
        raise NotFound(f"no creditor entity with code {creditor_code}")
    return creditor


def listed(session: Session, creditor_ids: Iterable[uuid.UUID], *, include_removed: bool = False) -> list[WebhookEndpoint]:
    """The endpoints of these creditors, oldest first; removed ones only when asked."""
    query = select(WebhookEndpoint).where(WebhookEndpoint.creditor_id.in_(list(creditor_ids)))
    if not include_removed:
        query = query.where(WebhookEndpoint.removed_at.is_(None))
    return list(session.scalars(query.order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)))


def visible(session: Session, endpoint_id: uuid.UUID, creditor_ids: Iterable[uuid.UUID] | None) -> WebhookEndpoint:
    """The endpoint, if it is one of these creditors' (None: any creditor, for the CLI) and not removed.

    Another creditor's endpoint and a removed one are both "not found": an id reveals nothing."""
    query = select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.removed_at.is_(None))
    if creditor_ids is not None:
        query = query.where(WebhookEndpoint.creditor_id.in_(list(creditor_ids)))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    endpoint = session.scalar(query)
    if endpoint is None:
        raise NotFound(f"no webhook endpoint {endpoint_id}")
    return endpoint


def set_active(session: Session, endpoint: WebhookEndpoint, active: bool, *, actor: str, now: datetime) -> WebhookEndpoint:
    """Disable or enable; doing what is already so changes nothing and records nothing."""
    if endpoint.active != active:
        endpoint.active, endpoint.updated_at = active, now
        _record(session, endpoint, "webhook_endpoint.enabled" if active else "webhook_endpoint.disabled", actor=actor, now=now)
    return endpoint


def remove(session: Session, endpoint: WebhookEndpoint, *, actor: str, now: datetime) -> WebhookEndpoint:
    endpoint.active, endpoint.removed_at, endpoint.updated_at = False, now, now
    _record(session, endpoint, "webhook_endpoint.removed", actor=actor, now=now)
    return endpoint


def view(endpoint: WebhookEndpoint, creditor_code: str) -> dict:
    """The endpoint as the API and `gateway webhooks list --json` show it; never the secret."""
    return {
        "id": str(endpoint.id), "creditor": creditor_code, "url": endpoint.url, "active": endpoint.active,
        "created_at": endpoint.created_at.isoformat(), "updated_at": endpoint.updated_at.isoformat() if endpoint.updated_at else None,
        "removed_at": endpoint.removed_at.isoformat() if endpoint.removed_at else None,
    }


def _record(session: Session, endpoint: WebhookEndpoint, action: str, *, actor: str, now: datetime) -> None:
    audit.record(session, actor=actor, creditor_id=endpoint.creditor_id, entity_type="webhook_endpoint", entity_id=endpoint.id,
                 action=action, data={"url": endpoint.url}, at=now)
