"""Admin accounts: argon2id password hashes, server-side sessions, per-session CSRF tokens.

The session cookie holds 256 random bits; only their SHA-256 is stored, so a copy of the
database does not let anyone sign in. Every state-changing form carries the session's CSRF
token; the sign-in form (no session yet) uses a double-submit cookie instead.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.errors import InvalidInput, NotFound
from gateway.services.auth import Principal, descendants
from gateway.store.models import AdminSession, AdminUser, CreditorEntity

# A working day plus margin; an idle clerk signs in again the next morning.
SESSION_LIFETIME = timedelta(hours=10)
# Passwords shorter than this are refused at creation (NIST SP 800-63B's minimum for user-chosen secrets).
MIN_PASSWORD_LENGTH = 8

_hasher = PasswordHasher()  # argon2id with the library's RFC 9106 low-memory profile
# Verified when the e-mail is unknown, so a wrong address costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class Role(StrEnum):
    VIEWER = "viewer"
    CLERK = "clerk"
    FINANCIAL_DIRECTOR = "financial_director"


# What each role may do on the admin pages; viewing is open to every role.
PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.VIEWER: frozenset(),
    Role.CLERK: frozenset({"contact.fix"}),
    Role.FINANCIAL_DIRECTOR: frozenset({"contact.fix", "escalation.approve"}),
}


@dataclass(frozen=True)
class Admin:
    """The signed-in user: who, which role, which creditor entities, and the form token."""

    user_id: uuid.UUID
    email: str
    role: Role
    creditor_id: uuid.UUID
    visible_creditor_ids: frozenset[uuid.UUID]
    csrf_token: str
    language: str

    def may(self, permission: str) -> bool:
        return permission in PERMISSIONS[self.role]

    @property
    def principal(self) -> Principal:
        """The same principal the claims services take from an API key."""
        return Principal(key_id=self.user_id, creditor_id=self.creditor_id, visible_creditor_ids=self.visible_creditor_ids, actor=f"admin:{self.email}")


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(session: Session, email: str, password: str, *, creditor_code: str, role: str, now: datetime) -> AdminUser:
    email = email.strip().lower()
    if "@" not in email:
        raise InvalidInput.single("email", "email.syntax", "an admin user is identified by an e-mail address")
    if role not in {r.value for r in Role}:
        raise InvalidInput.single("role", "role.unknown", f"role is one of {', '.join(r.value for r in Role)}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput.single("password", "password.too_short", f"at least {MIN_PASSWORD_LENGTH} characters")
    creditor = session.scalar(select(CreditorEntity).where(CreditorEntity.code == creditor_code))
    if creditor is None:
        raise NotFound(f"no creditor entity with code {creditor_code!r}")
    if session.scalar(select(AdminUser).where(AdminUser.email == email)) is not None:
        raise InvalidInput.single("email", "email.taken", f"an admin user {email} already exists")
    user = AdminUser(email=email, password_hash=_hasher.hash(password), role=role, creditor_id=creditor.id, language="nl", disabled=False, created_at=now)
    session.add(user)
    session.flush()
    return user


def sign_in(session: Session, email: str, password: str, *, now: datetime, language: str | None = None) -> str | None:
    """A new session token, or None when the e-mail, password or account is not good; `language`, when
    given, becomes the account's (the choice the user made on the sign-in page)."""
    user = session.scalar(select(AdminUser).where(AdminUser.email == email.strip().lower()))
    try:
        _hasher.verify(user.password_hash if user is not None else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or user.disabled:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    if language is not None:
        user.language = language
    token = secrets.token_urlsafe(32)
    session.add(AdminSession(user_id=user.id, token_hash=_token_hash(token), csrf_token=secrets.token_urlsafe(32), expires_at=now + SESSION_LIFETIME, created_at=now))
    return token


def current_admin(session: Session, token: str | None, *, now: datetime) -> Admin | None:
    if not token:
        return None
    row = session.execute(
        select(AdminSession, AdminUser).join(AdminUser, AdminUser.id == AdminSession.user_id).where(AdminSession.token_hash == _token_hash(token))
    ).first()
    if row is None:
        return None
    admin_session, user = row
    if admin_session.ended_at is not None or admin_session.expires_at <= now or user.disabled:
        return None
    return Admin(
        user_id=user.id, email=user.email, role=Role(user.role), creditor_id=user.creditor_id,
        visible_creditor_ids=frozenset(descendants(session, user.creditor_id)), csrf_token=admin_session.csrf_token, language=user.language,
    )


def sign_out(session: Session, token: str | None, *, now: datetime) -> None:
    if token:
        admin_session = session.scalar(select(AdminSession).where(AdminSession.token_hash == _token_hash(token)))
        if admin_session is not None and admin_session.ended_at is None:
            admin_session.ended_at = now


def set_language(session: Session, admin: Admin, language: str) -> None:
    user = session.get(AdminUser, admin.user_id)
    if user is not None:
        user.language = language


def tokens_match(expected: str | None, presented: str | None) -> bool:
    return bool(expected) and bool(presented) and hmac.compare_digest(expected, presented)
