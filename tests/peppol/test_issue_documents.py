"""Invoices issued from stored claims: gap-free numbers per creditor and prefix, official
validation before any dispatch, immutability. On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from gateway.api.payloads import ClaimIn
from gateway.errors import Conflict
from gateway.kit.time import utc_now
from gateway.services.auth import authenticate
from gateway.services.claims import create_claim
from gateway.store.models import AuditEvent, Dispatch, Document, DocumentSequence
from gateway.workers.run import Worker
from tests.factories import claim_payload, seed_creditors


def post(database, key, *payloads):
    with database.session_scope() as session:
        principal = authenticate(session, key)
        for payload in payloads:
            create_claim(session, principal, ClaimIn.model_validate(payload), now=utc_now())


@pytest.fixture
def issuing(database, settings, standards_dir):
    keys = seed_creditors(database)
    return keys, Worker(database, settings.model_copy(update={"standards_dir": standards_dir}), name="t")


def test_invoices_are_numbered_per_creditor_validated_and_queued(database, issuing):
    keys, worker = issuing
    post(database, keys.municipality_key, claim_payload("A1"), claim_payload("A2"))
    post(database, keys.hospital_key, claim_payload("H1"))
    assert worker.drain() == 6  # 3 claim.issue + 3 dispatch.transmit
    with database.session_scope() as session:
        documents = session.scalars(select(Document).order_by(Document.created_at)).all()
        assert [(d.number, d.sequence, d.kind) for d in documents] == [("INV000001", 1, "invoice"), ("INV000002", 2, "invoice"), ("INV000001", 1, "invoice")]
        assert [d.meta["validation"]["status"] for d in documents] == ["clean", "clean", "clean"]
        assert b"<cbc:PaymentID>" in documents[0].content and b"<cbc:ID>INV000001</cbc:ID>" in documents[0].content
        dispatches = session.scalars(select(Dispatch).order_by(Dispatch.created_at)).all()
        # No Peppol provider is configured here: the dispatches wait, queued, without an attempt.
        assert [(d.channel, d.recipient, d.state, d.attempt_count, d.last_error) for d in dispatches] == [("peppol", "0208:0403019261", "queued", 0, "no provider configured for channel peppol")] * 3
        assert len({d.idempotency_key for d in dispatches}) == 3


def test_a_refused_claim_spends_no_number(database, issuing):
    keys, worker = issuing
    no_reference = claim_payload("R1")
    no_reference.pop("buyer_reference")
    post(database, keys.municipality_key, claim_payload("R0"), no_reference, claim_payload("R2"))
    worker.drain()
    with database.session_scope() as session:
        assert session.scalars(select(Document.number).order_by(Document.sequence)).all() == ["INV000001", "INV000002"]
        assert session.scalar(select(DocumentSequence.next_value)) == 3
        refused = session.scalar(select(AuditEvent).where(AuditEvent.action == "document.refused"))
        assert refused.data["rules"] == ["PEPPOL-EN16931-R003"]
        assert session.scalar(select(Dispatch.id).where(Dispatch.claim_id == refused.entity_id)) is None


def test_without_the_official_artefacts_nothing_is_queued(database, settings):
    keys = seed_creditors(database)
    post(database, keys.municipality_key, claim_payload("S1"))
    Worker(database, settings, name="t").drain()  # settings point at an empty standards dir
    with database.session_scope() as session:
        document = session.scalar(select(Document))
        assert document.meta["validation"]["status"] == "not_run"
        assert session.scalars(select(Dispatch)).all() == []


def test_issued_documents_are_immutable(database, issuing):
    keys, worker = issuing
    post(database, keys.municipality_key, claim_payload("M1"))
    worker.drain()
    with pytest.raises(Conflict):
        with database.session_scope() as session:
            document = session.scalar(select(Document))
            document.content = b"<Invoice/>"
    with pytest.raises(Conflict):
        with database.session_scope() as session:
            session.delete(session.scalar(select(Document)))
    with database.session_scope() as session:
        assert session.scalar(select(Document)).number == "INV000001"



def test_credit_notes_correct_the_invoice_never_beyond_it(database, issuing, settings, standards_dir):
    from fastapi.testclient import TestClient

    from gateway.app import create_app
    from tests.factories import bearer

    keys, worker = issuing
    post(database, keys.municipality_key, claim_payload("CN1"), claim_payload("CN2"))
    worker.drain()
    app = create_app(settings.model_copy(update={"standards_dir": standards_dir}), database=database)
    headers = bearer(keys.municipality_key)
    with TestClient(app) as client:
        claims = {c["number"]: c for c in client.get("/v1/claims", headers=headers).json()["items"]}
        url = f"/v1/claims/{claims['CN1']['id']}/credit-notes"
        cleaning = {"description": "Schoonmaak", "quantity": "1", "unit_price": "100.00", "vat_category": "S", "vat_rate": "6"}
        first = client.post(url, json={"reason": "schoonmaak niet uitgevoerd", "lines": [cleaning]}, headers=headers)
        assert first.status_code == 201, first.text
        body = first.json()
        assert (body["document"]["number"], body["document"]["kind"], body["validation"]["status"]) == ("CN000001", "credit_note", "clean")
        assert (body["claim"]["total_amount"], body["claim"]["amount_open"], body["claim"]["status"]) == ("1.21", "1.21", "open")
        again = client.post(url, json={"reason": "twice", "lines": [cleaning]}, headers=headers)
        assert again.status_code == 422 and again.json()["errors"][0]["rule"] == "credit_note.exceeds_invoice"
        rest = client.post(url, json={"reason": "zaal niet gebruikt", "lines": [{"description": "Zaalhuur", "quantity": "3", "unit_price": "0.333", "vat_category": "S", "vat_rate": "21"}]}, headers=headers)
        assert rest.status_code == 201
        assert (rest.json()["document"]["number"], rest.json()["claim"]["total_amount"], rest.json()["claim"]["status"]) == ("CN000002", "0.00", "cancelled")
        xml = client.get(f"/v1/documents/{first.json()['document']['id']}", headers=headers)
        assert xml.status_code == 200 and xml.headers["content-type"].startswith("application/xml")
        assert b"<cbc:CreditNoteTypeCode>381</cbc:CreditNoteTypeCode>" in xml.content and b"<cbc:ID>INV000001</cbc:ID>" in xml.content
        assert client.get(f"/v1/documents/{first.json()['document']['id']}", headers=bearer(keys.hospital_key)).status_code == 404
    with database.session_scope() as session:
        notes = session.scalars(select(Document).where(Document.kind == "credit_note").order_by(Document.sequence)).all()
        assert [(d.number, d.meta["payable"]) for d in notes] == [("CN000001", "106.00"), ("CN000002", "1.21")]
        assert session.scalar(select(DocumentSequence.next_value).where(DocumentSequence.prefix == "CN")) == 3


def test_a_claim_without_invoice_cannot_be_credited(database, settings):
    from fastapi.testclient import TestClient

    from gateway.app import create_app
    from tests.factories import bearer

    keys = seed_creditors(database)
    post(database, keys.municipality_key, claim_payload("N1"))  # not issued yet: no worker ran
    with TestClient(create_app(settings, database=database)) as client:
        claim = client.get("/v1/claims", headers=bearer(keys.municipality_key)).json()["items"][0]
        refused = client.post(f"/v1/claims/{claim['id']}/credit-notes", json={"reason": "x"}, headers=bearer(keys.municipality_key))
    assert refused.status_code == 422 and refused.json()["errors"] == [{"field": "claim", "rule": "credit_note.no_invoice", "message": "the claim has no issued invoice to correct"}]
