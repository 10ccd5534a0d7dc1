"""API keys for accounting software: created and revoked from the admin CLI, stored hashed.

A key is `gw_<prefix>_<secret>`: the prefix finds the row, the SHA-256 of the whole key is
compared in constant time. Keys carry 256 bits of randomness, so a fast hash is enough (a
password KDF protects low-entropy secrets; these are not).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.errors import GatewayError, NotFound
from gateway.store.models import ApiKey, CreditorEntity


class Unauthorized(GatewayError):
    status_code = 401
    problem_type = "https://gateway.example/problems/unauthorized"
    title = "Missing or invalid API key"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's creditor entity and every entity it may see."""

    key_id: uuid.UUID
    creditor_id: uuid.UUID
    visible_creditor_ids: frozenset[uuid.UUID]
    actor: str


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(session: Session, creditor_code: str, name: str, *, includes_children: bool, now: datetime) -> str:
    creditor = session.scalar(select(CreditorEntity).where(CreditorEntity.code == creditor_code))
    if creditor is None:
        raise NotFound(f"no creditor entity with code {creditor_code!r}")
    prefix = secrets.token_hex(6)
    key = f"gw_{prefix}_{secrets.token_urlsafe(32)}"
    session.add(
        ApiKey(creditor_id=creditor.id, name=name, prefix=prefix, key_hash=_hash(key), includes_children=includes_children, created_at=now)
    )
    return key


def revoke_key(session: Session, prefix: str, *, now: datetime) -> None:
    key = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if key is None:
        raise NotFound(f"no API key with prefix {prefix!r}")
    if key.revoked_at is None:
        key.revoked_at = now


def descendants(session: Session, root_id: uuid.UUID) -> set[uuid.UUID]:
    """The entity and every entity below it (a municipality's OCMW, AGB, schools ...)."""
    rows = session.execute(select(CreditorEntity.id, CreditorEntity.parent_id)).all()
    children: dict[uuid.UUID, list[uuid.UUID]] = {}
    for entity_id, parent_id in rows:
        if parent_id is not None:
            children.setdefault(parent_id, []).append(entity_id)
    found, stack = set(), [root_id]
    while stack:
        current = stack.pop()
        if current not in found:
            found.add(current)
            stack.extend(children.get(current, []))
    return found


def authenticate(session: Session, presented: str | None) -> Principal:
    if not presented or not presented.startswith("gw_") or presented.count("_") < 2:
        raise Unauthorized("send the API key as `Authorization: Bearer gw_...` or `X-API-Key`")
    prefix = presented.split("_", 2)[1]
    key = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if key is None or key.revoked_at is not None or not hmac.compare_digest(key.key_hash, _hash(presented)):
        raise Unauthorized("the API key is unknown or revoked")
    visible = descendants(session, key.creditor_id) if key.includes_children else {key.creditor_id}
    return Principal(key_id=key.id, creditor_id=key.creditor_id, visible_creditor_ids=frozenset(visible), actor=f"api_key:{key.prefix}")
