"""A family of creditors with data everywhere, for the isolation and fuzzing tests.

    gent (municipality)                 az-sint-jan (hospital, unrelated)
      ├── ocmw-gent (OCMW)
      │     └── woonzorg-gent (care home, the OCMW's child)
      └── agb-gent (AGB)

Every creditor that plays the victim gets a claim of each kind the API and the admin pages can
reach: an escalated claim (reminder documents, dispatches, a dwangbevel entry), a claim with a
payment and a running hold, a claim with an issued invoice whose e-mail dispatch bounced, a
debtor, status events and a webhook endpoint.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select

from gateway.kit.time import utc_now
from gateway.services import auth, webhook_endpoints
from gateway.store.models import Claim, CreditorEntity, EscalationEntry
from gateway.store.session import Database
from gateway.web import account
from tests.api.test_dunning_api import escalate_to_dwangbevel
from tests.factories import bearer, claim_payload, seed_creditors
from tests.web.seed import PASSWORD, _claim_with_failed_dispatch

ADDRESS = {"street": "Botermarkt 1", "postal_code": "9000", "city": "Gent", "country": "BE"}


@dataclass
class Victim:
    code: str
    creditor_id: uuid.UUID
    claim_id: uuid.UUID  # open claim with a payment and a running hold
    claim_number: str
    ogm: str
    debtor_id: uuid.UUID
    hold_id: uuid.UUID
    escalated_claim_id: uuid.UUID
    entry_id: uuid.UUID
    document_id: uuid.UUID  # the bounced invoice
    dispatch_id: uuid.UUID  # its failed e-mail dispatch
    email: str
    webhook_id: uuid.UUID
    plan_id: uuid.UUID  # a running, unconfirmed payment plan over a claim of its own
    instalment_ogm: str  # the plan's first instalment OGM

    @property
    def claim_ids(self) -> set[uuid.UUID]:
        return {self.claim_id, self.escalated_claim_id}


@dataclass
class World:
    keys: dict[str, str]  # name -> API key
    admins: dict[str, str]  # creditor code -> e-mail of its financial director
    victims: dict[str, Victim] = field(default_factory=dict)
    creditor_ids: dict[str, uuid.UUID] = field(default_factory=dict)


def _add_creditor(session, code: str, kind: str, name: str, parent_code: str, enterprise_number: str) -> None:
    parent = session.scalar(select(CreditorEntity).where(CreditorEntity.code == parent_code))
    session.add(CreditorEntity(code=code, kind=kind, name=name, parent_id=parent.id, enterprise_number=enterprise_number, iban="BE48320070184927", created_at=utc_now(), **ADDRESS))
    session.flush()


def _post(client, key: str, path: str, payload: dict) -> dict:
    response = client.post(path, content=json.dumps(payload), headers={**bearer(key), "Content-Type": "application/json"})
    assert response.status_code in (200, 201), response.text
    return response.json()


def seed_world(client, database: Database, victims: tuple[str, ...] = ("gent", "agb-gent")) -> World:
    seeded = seed_creditors(database)
    now = utc_now()
    with database.session_scope() as session:
        _add_creditor(session, "agb-gent", "agb", "AGB Gent", "gent", "0206653946")
        _add_creditor(session, "woonzorg-gent", "other", "Woonzorgcentrum Gent", "ocmw-gent", "0859694315")
        keys = {
            "gent": seeded.municipality_key, "gent-family": seeded.municipality_family_key, "ocmw-gent": seeded.ocmw_key,
            "az-sint-jan": seeded.hospital_key,
            "ocmw-family": auth.create_key(session, "ocmw-gent", "erp-family", includes_children=True, now=now),
            "agb-gent": auth.create_key(session, "agb-gent", "erp", includes_children=False, now=now),
            "woonzorg-gent": auth.create_key(session, "woonzorg-gent", "erp", includes_children=False, now=now),
        }
        admins = {}
        for code in ("gent", "ocmw-gent", "agb-gent", "az-sint-jan", "woonzorg-gent"):
            admins[code] = f"director@{code}.be"
            account.create_user(session, admins[code], PASSWORD, creditor_code=code, role="financial_director", now=now)
        creditor_ids = {c.code: c.id for c in session.scalars(select(CreditorEntity))}
    world = World(keys=keys, admins=admins, creditor_ids=creditor_ids)
    # The dunning runs of an escalation walk every open claim, so all escalations come first.
    escalated = {code: uuid.UUID(escalate_to_dwangbevel(client, database, world.keys[code], f"{code.split('-')[0].upper()}-ESC-{index}")) for index, code in enumerate(victims, start=1)}
    for index, code in enumerate(victims, start=1):
        world.victims[code] = _seed_victim(client, database, world, code, index, escalated[code])
    return world


def _seed_victim(client, database: Database, world: World, code: str, index: int, escalated_id: uuid.UUID) -> Victim:
    key = world.keys[code]
    prefix = code.split("-")[0].upper()
    claim = _post(client, key, "/v1/claims", claim_payload(f"{prefix}-OPEN-{index}"))
    _post(client, key, f"/v1/claims/{claim['id']}/payments", {"amount": "7.21", "paid_on": "2026-11-20", "external_id": f"{prefix}-PAY-{index}"})
    hold = _post(client, key, f"/v1/claims/{claim['id']}/holds", {"kind": "dispute", "reason": "the hall was not cleaned", "author": "debtor by phone"})
    planned = _post(client, key, "/v1/claims", claim_payload(f"{prefix}-PLAN-{index}"))
    plan = _post(client, key, f"/v1/claims/{planned['id']}/payment-plan", {"months": 3, "first_due_date": "2027-01-01"})
    email = f"victim{index}@{code}.be"
    with database.session_scope() as session:
        bounced, document, dispatch = _claim_with_failed_dispatch(session, code, f"{prefix}-BOUNCE-{index}", email, now=utc_now(), sequence=1)
        entry = session.scalar(select(EscalationEntry).where(EscalationEntry.claim_id == escalated_id))
        endpoint = webhook_endpoints.add_by_code(session, code, f"http://127.0.0.1:9/{code}/hook", now=utc_now())
        stored = session.get(Claim, uuid.UUID(claim["id"]))
        return Victim(
            code=code, creditor_id=world.creditor_ids[code], claim_id=stored.id, claim_number=stored.number, ogm=claim["structured_communication"],
            debtor_id=stored.debtor_id, hold_id=uuid.UUID(hold["hold"]["id"]), escalated_claim_id=escalated_id, entry_id=entry.id,
            document_id=document.id, dispatch_id=dispatch.id, email=email, webhook_id=endpoint.id,
            plan_id=uuid.UUID(plan["id"]), instalment_ogm=plan["instalments"][0]["structured_communication"],
        )


TODAY = date(2026, 12, 1)
