from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, BigInteger, Integer, String, Uuid, event
from sqlalchemy.orm import Mapped, mapped_column

from gateway.errors import Conflict
from gateway.kit.time import utc_now
from gateway.store.base import Base
from gateway.store.types import UTCDateTime


class AuditEvent(Base):
    """Append-only history: who did what to which entity. Never updated, never deleted.

    The ORM refuses updates and deletes; on PostgreSQL a trigger (see the first migration)
    refuses them in the database as well.
    """

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    actor: Mapped[str] = mapped_column(String(200))
    creditor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    action: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict] = mapped_column(JSON, default=dict)


@event.listens_for(AuditEvent, "before_update")
@event.listens_for(AuditEvent, "before_delete")
def _audit_is_append_only(mapper, connection, target) -> None:
    raise Conflict("the audit log is append-only")
