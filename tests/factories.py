"""Builders of valid payloads and seeded creditors, for tests."""

from __future__ import annotations

import copy
from dataclasses import dataclass

from gateway.kit.time import utc_now
from gateway.services import auth
from gateway.store.models import CreditorEntity
from gateway.store.session import Database

BASE_CLAIM = {
    "number": "F2026-0001",
    "type": "invoice",
    "fiscal": False,
    "currency": "EUR",
    "issue_date": "2026-11-02",
    "due_date": "2026-12-02",
    "buyer_reference": "PO-778",
    "debtor": {
        "external_id": "D-1",
        "kind": "business",
        "name": "Bakkerij Janssens BV",
        "enterprise_number": "0403019261",
        "vat_number": "BE0403019261",
        "peppol_id": "0208:0403019261",
        "address": {"street": "Markt 1", "postal_code": "9000", "city": "Gent", "country": "BE"},
        "language": "nl",
        "contacts": [{"kind": "email", "value": "boekhouding@janssens.be"}],
    },
    "lines": [
        {"description": "Zaalhuur", "quantity": "3", "unit_price": "0.333", "vat_category": "S", "vat_rate": "21"},
        {"description": "Schoonmaak", "quantity": "1", "unit_price": "100.00", "vat_category": "S", "vat_rate": "6"},
    ],
}


def claim_payload(number: str = "F2026-0001", **overrides) -> dict:
    payload = copy.deepcopy(BASE_CLAIM)
    payload["number"] = number
    payload.update(overrides)
    return payload


def consumer_claim(number: str, email: str = "an.peeters@telenet.be", **overrides) -> dict:
    payload = claim_payload(number, type="retribution", **overrides)
    payload["debtor"] = {
        "external_id": f"C-{number}",
        "kind": "consumer",
        "name": "An Peeters",
        "national_register_number": "85073003328",
        "address": {"street": "Kerkstraat 1", "postal_code": "9000", "city": "Gent", "country": "BE"},
        "language": "nl",
        "contacts": [{"kind": "email", "value": email}],
        "consents": [{"channel": "email", "given": True, "date": "2026-01-15", "source": "portal"}],
    }
    payload["lines"] = [{"description": "Retributie containerpark", "quantity": "1", "unit_price": "45.00", "vat_category": "O"}]
    return payload


@dataclass
class Seeded:
    municipality_key: str
    municipality_family_key: str
    ocmw_key: str
    hospital_key: str


def seed_creditors(database: Database) -> Seeded:
    """A municipality with its OCMW, and an unrelated hospital; one key each (+ one family key)."""
    now = utc_now()
    with database.session_scope() as session:
        address = {"street": "Botermarkt 1", "postal_code": "9000", "city": "Gent", "country": "BE"}
        municipality = CreditorEntity(code="gent", kind="municipality", name="Stad Gent", enterprise_number="0207451227", vat_number="BE0207451227", iban="BE48320070184927", created_at=now, **address)
        session.add(municipality)
        session.flush()
        session.add(CreditorEntity(code="ocmw-gent", kind="ocmw", name="OCMW Gent", parent_id=municipality.id, enterprise_number="0207351653", vat_number="BE0207351653", iban="BE48320070184927", created_at=now, **address))
        session.add(CreditorEntity(code="az-sint-jan", kind="hospital", name="AZ Sint-Jan", enterprise_number="0841123226", vat_number="BE0841123226", iban="BE48320070184927", created_at=now, **address))
        session.flush()
        keys = Seeded(
            municipality_key=auth.create_key(session, "gent", "erp", includes_children=False, now=now),
            municipality_family_key=auth.create_key(session, "gent", "erp-family", includes_children=True, now=now),
            ocmw_key=auth.create_key(session, "ocmw-gent", "erp", includes_children=False, now=now),
            hospital_key=auth.create_key(session, "az-sint-jan", "his", includes_children=False, now=now),
        )
    return keys


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


class ManualClock:
    """A monotonic clock a test moves by hand (`clock.now = ...`), for `gateway.kit.ratelimit.RateLimiter`."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
