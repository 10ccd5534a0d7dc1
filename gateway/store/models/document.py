from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import event, ForeignKey, Index, Integer, JSON, LargeBinary, String, text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gateway.errors import Conflict
from gateway.store.base import Base, RecordMixin
from gateway.store.types import UTCDateTime


class DocumentSequence(Base):
    """Gap-free numbering: the next value per (creditor, prefix), taken under a row lock."""

    __tablename__ = "document_sequence"

    creditor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("creditor_entity.id"), primary_key=True)
    prefix: Mapped[str] = mapped_column(String(32), primary_key=True)
    next_value: Mapped[int] = mapped_column(Integer, default=1)


class Document(RecordMixin, Base):
    """An issued document (UBL, PDF, letter). Immutable: corrections are new documents."""

    __tablename__ = "document"
    __table_args__ = (
        UniqueConstraint("creditor_id", "prefix", "sequence"),
        UniqueConstraint("creditor_id", "number"),
        # A claim has one invoice; corrections are credit notes. Backs the check in claim.issue
        # against two tries of the same job (a slow one whose lease expired, and its replacement).
        Index("uq_document_one_invoice_per_claim", "claim_id", unique=True, postgresql_where=text("kind = 'invoice'"), sqlite_where=text("kind = 'invoice'")),
    )

    claim_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("claim.id"), index=True)
    creditor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("creditor_entity.id"))
    kind: Mapped[str] = mapped_column(String(32))  # invoice, credit_note, reminder, fee_invoice, letter
    prefix: Mapped[str] = mapped_column(String(32))
    sequence: Mapped[int] = mapped_column(Integer)
    number: Mapped[str] = mapped_column(String(64))
    media_type: Mapped[str] = mapped_column(String(100))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    corrects_document_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("document.id"))
    rule_set_version: Mapped[str | None] = mapped_column(String(64))
    meta: Mapped[dict] = mapped_column(JSON, default=dict)


@event.listens_for(Document, "before_update")
def _documents_are_immutable(mapper, connection, target) -> None:
    raise Conflict(f"document {target.number} is issued and immutable; issue a credit note instead")


@event.listens_for(Document, "before_delete")
def _documents_are_never_deleted(mapper, connection, target) -> None:
    raise Conflict(f"document {target.number} is issued and cannot be deleted")
