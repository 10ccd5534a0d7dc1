"""Admin users of the status pages and their server-side sessions (issue 7).

A user belongs to one creditor entity and sees that entity and every entity below it. Only
an argon2id hash of the password is stored; a session cookie carries a random token whose
SHA-256 finds the session row, and each session has its own CSRF token.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from gateway.store.base import Base, RecordMixin
from gateway.store.types import UTCDateTime


class AdminUser(RecordMixin, Base):
    __tablename__ = "admin_user"

    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))  # viewer | clerk | financial_director
    creditor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("creditor_entity.id"), index=True)
    language: Mapped[str] = mapped_column(String(2), default="nl")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)


class AdminSession(RecordMixin, Base):
    __tablename__ = "admin_session"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("admin_user.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
