from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, ForeignKey, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gateway.store.base import Base, RecordMixin
from gateway.store.types import UTCDateTime


class CreditorEntity(RecordMixin, Base):
    """A municipality, its OCMW, AGB and schools, a hospital, a utility: whoever issues claims."""

    __tablename__ = "creditor_entity"

    code: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(32))  # municipality, ocmw, agb, school, hospital, utility
    name: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("creditor_entity.id"), index=True)
    enterprise_number: Mapped[str | None] = mapped_column(String(10))
    vat_number: Mapped[str | None] = mapped_column(String(20))
    peppol_id: Mapped[str | None] = mapped_column(String(80))
    iban: Mapped[str | None] = mapped_column(String(34))
    bic: Mapped[str | None] = mapped_column(String(11))
    sender_email: Mapped[str | None] = mapped_column(String(254))
    logo_url: Mapped[str | None] = mapped_column(String(500))
    logo: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)  # SVG or PNG, at most 200 kB; printed on letters
    logo_media_type: Mapped[str | None] = mapped_column(String(40))  # image/svg+xml | image/png, sniffed from the bytes
    primary_colour: Mapped[str | None] = mapped_column(String(7))
    secondary_colour: Mapped[str | None] = mapped_column(String(7))
    languages: Mapped[list] = mapped_column(JSON, default=lambda: ["nl"])
    allowed_currencies: Mapped[list] = mapped_column(JSON, default=lambda: ["EUR"])
    # Consumer channels this entity does not use (no eBox sender registration, no SMS contract ...);
    # the router skips them. Peppol (B2B law) and paper (the last resort) cannot be switched off.
    disabled_channels: Mapped[list | None] = mapped_column(JSON, default=list)  # NULL (older rows): none
    street: Mapped[str | None] = mapped_column(String(200))
    postal_code: Mapped[str | None] = mapped_column(String(16))
    city: Mapped[str | None] = mapped_column(String(100))
    country: Mapped[str] = mapped_column(String(2), default="BE")

    parent: Mapped[CreditorEntity | None] = relationship(remote_side="CreditorEntity.id", lazy="raise")


class ApiKey(RecordMixin, Base):
    """An API key for accounting software; only its SHA-256 is stored (keys are 256-bit random)."""

    __tablename__ = "api_key"

    creditor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("creditor_entity.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    includes_children: Mapped[bool] = mapped_column(Boolean, default=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Debtor(RecordMixin, Base):
    """A debtor of one creditor entity (debtors are never shared across creditors)."""

    __tablename__ = "debtor"
    __table_args__ = (UniqueConstraint("creditor_id", "external_id"),)

    creditor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("creditor_entity.id"), index=True)
    external_id: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # business | consumer
    name: Mapped[str] = mapped_column(String(200))
    enterprise_number: Mapped[str | None] = mapped_column(String(10), index=True)
    vat_number: Mapped[str | None] = mapped_column(String(20))
    peppol_id: Mapped[str | None] = mapped_column(String(80))
    national_register_number: Mapped[str | None] = mapped_column(String(11))
    street: Mapped[str | None] = mapped_column(String(200))
    postal_code: Mapped[str | None] = mapped_column(String(16))
    city: Mapped[str | None] = mapped_column(String(100))
    country: Mapped[str] = mapped_column(String(2), default="BE")
    language: Mapped[str] = mapped_column(String(2), default="nl")
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    contacts: Mapped[list[DebtorContact]] = relationship(lazy="selectin", order_by="DebtorContact.created_at", cascade="all, delete-orphan")
    consents: Mapped[list[DebtorConsent]] = relationship(lazy="selectin", order_by="DebtorConsent.channel", cascade="all, delete-orphan")


class DebtorContact(RecordMixin, Base):
    __tablename__ = "debtor_contact"
    __table_args__ = (UniqueConstraint("debtor_id", "kind", "value"),)

    debtor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("debtor.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # email | phone
    value: Mapped[str] = mapped_column(String(254))
    validity: Mapped[str] = mapped_column(String(16), default="unverified")
    validity_reason: Mapped[str | None] = mapped_column(String(500))
    validity_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DebtorConsent(RecordMixin, Base):
    """Consent per channel, with when and where it was given (GDPR evidence); history is in the audit log."""

    __tablename__ = "debtor_consent"
    __table_args__ = (UniqueConstraint("debtor_id", "channel"),)

    debtor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("debtor.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(16))  # email | sms | ebox | paper | peppol
    given: Mapped[bool] = mapped_column(Boolean)
    given_on: Mapped[date | None] = mapped_column(Date)
    source: Mapped[str | None] = mapped_column(String(200))
