"""Creditor entities from a file: `gateway creditors import creditors.json`.

A finance department describes its entities (a municipality with its OCMW, AGB and schools)
once; re-importing the file updates them by `code`. Every entity is checked before any is
stored: the whole file is accepted or refused, with the entity, field and rule named.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, TypeAdapter, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.api.errors import invalid_input_from
from gateway.api.payloads import Language, _identifier
from gateway.domain import identifiers
from gateway.errors import InvalidInput
from gateway.letters.logo import LogoError, read_logo_file
from gateway.services import audit
from gateway.store.models import CreditorEntity


class CreditorIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{1,63}$")]
    kind: Literal["municipality", "ocmw", "agb", "school", "hospital", "utility", "other"]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    parent: str | None = None
    enterprise_number: str | None = None
    vat_number: str | None = None
    peppol_id: str | None = None
    iban: str
    bic: Annotated[str | None, Field(pattern=r"^[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?$")] = None
    sender_email: str | None = None
    logo_url: Annotated[str | None, Field(max_length=500)] = None
    primary_colour: Annotated[str | None, Field(pattern=r"^#[0-9a-fA-F]{6}$")] = None
    secondary_colour: Annotated[str | None, Field(pattern=r"^#[0-9a-fA-F]{6}$")] = None
    languages: Annotated[list[Language], Field(min_length=1)] = ["nl"]
    allowed_currencies: Annotated[list[Annotated[str, Field(pattern=r"^[A-Z]{3}$")]], Field(min_length=1)] = ["EUR"]
    street: str | None = None
    postal_code: str | None = None
    city: str | None = None
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] = "BE"
    # Consumer channels the entity does not use; Peppol (B2B law) and paper (the last resort) always stay.
    disabled_channels: list[Literal["email", "sms", "ebox"]] = []
    # SVG or PNG printed on letters, relative to the JSON file; absent: the stored logo is kept.
    logo_file: Annotated[str | None, Field(min_length=1, max_length=500)] = None
    _logo: tuple[bytes, str] | None = PrivateAttr(default=None)

    _enterprise = field_validator("enterprise_number")(lambda v: _identifier(identifiers.normalize_enterprise_number, v))
    _vat = field_validator("vat_number")(lambda v: _identifier(identifiers.normalize_vat_number, v))
    _peppol = field_validator("peppol_id")(lambda v: _identifier(identifiers.normalize_peppol_id, v))
    _iban = field_validator("iban")(lambda v: _identifier(identifiers.normalize_iban, v))
    _email = field_validator("sender_email")(lambda v: _identifier(identifiers.check_email_syntax, v))
    # The logo_url goes into every e-mail the entity sends; an http or odd URL would make each one
    # fail to compose (docs: README "Channels"), so it is refused here, naming the field.
    _logo_url = field_validator("logo_url")(lambda v: _identifier(identifiers.check_https_url, v))


CREDITOR_LIST = TypeAdapter(list[CreditorIn])


def parse_file(path: Path) -> list[CreditorIn]:
    try:
        creditors = CREDITOR_LIST.validate_json(path.read_bytes())
    except ValidationError as exc:
        raise invalid_input_from(exc) from exc
    for index, creditor in enumerate(creditors):
        if creditor.logo_file is not None:
            try:
                creditor._logo = read_logo_file(path.parent / creditor.logo_file)
            except LogoError as exc:
                raise InvalidInput.single(f"{index}.logo_file", exc.rule, exc.message) from exc
    return creditors


def import_creditors(session: Session, creditors: list[CreditorIn], *, actor: str, now: datetime) -> dict[str, str]:
    """Create or update each entity by code; returns code -> "created" | "updated"."""
    existing = {c.code: c for c in session.scalars(select(CreditorEntity))}
    known_codes = set(existing) | {c.code for c in creditors}
    for index, creditor in enumerate(creditors):
        if creditor.parent is not None and creditor.parent not in known_codes:
            raise InvalidInput.single(f"{index}.parent", "creditor.unknown_parent", f"no creditor entity {creditor.parent!r}")
    outcome: dict[str, str] = {}
    # Parents first, so a child can point at a parent defined in the same file.
    for creditor in sorted(creditors, key=lambda c: _depth(c, {c.code: c for c in creditors})):
        row = existing.get(creditor.code)
        outcome[creditor.code] = "updated" if row is not None else "created"
        if row is None:
            row = CreditorEntity(code=creditor.code, created_at=now)
            session.add(row)
            existing[creditor.code] = row
        fields = creditor.model_dump(exclude={"code", "parent", "logo_file"})
        for name, value in fields.items():
            setattr(row, name, value)
        if creditor._logo is not None:
            row.logo, row.logo_media_type = creditor._logo
        row.parent_id = existing[creditor.parent].id if creditor.parent else None
        session.flush()
        audit.record(session, actor=actor, creditor_id=row.id, entity_type="creditor", entity_id=row.id, action=f"creditor.{outcome[creditor.code]}", data={"code": creditor.code}, at=now)
    return outcome


def _depth(creditor: CreditorIn, by_code: dict[str, CreditorIn], seen: frozenset = frozenset()) -> int:
    if creditor.parent is None or creditor.parent not in by_code or creditor.code in seen:
        return 0
    return 1 + _depth(by_code[creditor.parent], by_code, seen | {creditor.code})


