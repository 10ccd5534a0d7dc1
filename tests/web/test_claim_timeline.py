"""The claim page's timeline on SQLite and PostgreSQL: a claim walked by the gateway's own code
(intake, the worker's issuance and transmit to a provider on loopback HTTP, the provider's signed
callback through the inbox, a dunning decision, a dispute hold opened and ended, a payment), shown
once each, in time order; the documents download as UBL and as the PDF that was sent.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import date
from decimal import Decimal

import pypdfium2
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from gateway.api.payloads import ClaimIn, PaymentIn
from gateway.app import create_app
from gateway.channels.registry import ProviderRegistry
from gateway.dunning import service as dunning
from gateway.dunning.rules import HoldKind
from gateway.kit.time import utc_now
from gateway.services import letters
from gateway.services.claims import create_claim, record_payment
from gateway.store.models import Dispatch, Document
from gateway.workers.run import Worker
from tests.delivery.loopback_provider import LoopbackProvider, LoopbackService
from tests.factories import claim_payload
from tests.web.seed import _principal, seed_admin_world
from tests.web.test_admin_http import signed_in


@pytest.fixture
def loopback():
    service = LoopbackService()
    yield service
    service.close()


@pytest.fixture
def walked(database, settings, standards_dir, loopback):
    """The claim F2026-0300 (gent, Peppol) through its life; returns (claim id, app settings, providers)."""
    seed_admin_world(database, standards_dir)
    providers = ProviderRegistry()
    providers.add(LoopbackProvider("peppol", loopback.url))
    settings = settings.model_copy(update={"standards_dir": standards_dir})
    worker = Worker(database, settings, name="timeline", providers=providers)
    with database.session_scope() as session:
        claim_id = create_claim(session, _principal(session, "gent"), ClaimIn.model_validate(claim_payload("F2026-0300")), now=utc_now()).claim.id
    worker.drain()  # issue, route to Peppol, transmit: sent
    with TestClient(create_app(settings, database=database, providers=providers)) as client:
        body = json.dumps({"id": "msg-1", "status": "delivered"}).encode()
        stamp = str(int(time.time()))
        stored = client.post("/v1/callbacks/loopback", content=body, headers={"X-Timestamp": stamp, "X-Signature": LoopbackProvider.sign(body, stamp)})
        assert stored.json() == {"stored": 1, "duplicates": 0}
    worker.drain()  # the callback applied: delivered
    with database.session_scope() as session:
        evaluation = dunning.evaluate(session, claim_id, today=date(2026, 12, 9), now=utc_now())
        assert evaluation.recorded
    today = dunning.local_today(utc_now())
    with database.session_scope() as session:
        hold = dunning.add_hold(session, _principal(session, "gent"), claim_id, kind=HoldKind.DISPUTE, reason="de zaal was niet gepoetst", author="clerk@gent.be",
                                starts_on=today, ends_on=None, today=today, now=utc_now())
        hold_id = hold.id
    with database.session_scope() as session:
        dunning.end_hold(session, _principal(session, "gent"), claim_id, hold_id, author="clerk@gent.be", ends_on=today, now=utc_now())
    with database.session_scope() as session:
        record_payment(session, _principal(session, "gent"), claim_id, PaymentIn(amount=Decimal("50.00"), paid_on=today, source="bank_statement", reference="+++090/9337/55493+++"), now=utc_now())
    return claim_id, settings, providers


def timeline(html: str) -> list[tuple[str, str, str, str, str]]:
    """(kind, label, title, state, detail) of each entry, in page order."""
    found = []
    for kind, body in re.findall(r'<li class="event[^"]*" data-kind="(\w+)"[^>]*>(.*?)</li>', html, re.S):
        def part(pattern: str) -> str:
            match = re.search(pattern, body, re.S)
            return match.group(1) if match else ""
        found.append((kind, part(r'<span class="kind">(.*?)</span>'), part(r"<strong>(.*?)</strong>"), part(r'<span class="state [^"]+">(.*?)</span>'), part(r'<div class="detail">(.*?)</div>')))
    return found


def test_callbacks_dunning_decisions_holds_and_payments_appear_once_in_time_order(client_for, walked, database):
    claim_id, settings, providers = walked
    today = dunning.local_today(utc_now())
    client = client_for(settings, providers)
    page = client.get(f"/admin/claims/{claim_id}").text
    assert timeline(page) == [
        ("claim", "Claim created", "F2026-0300", "", "invoice · 107.21 EUR"),  # the claim type, translated
        ("audit", "Debtor created", "", "", "name: Bakkerij Janssens BV · by: test:seed"),
        ("audit", "Contact added", "", "", "kind: email · value: boekhouding@janssens.be · by: test:seed"),
        ("audit", "Channel chosen", "", "", "channel: Peppol · recipient: 0208:0403019261 · reason: business debtor with a Peppol participant id · by: worker"),
        ("document", "Invoice issued", "INV000001", "", "validation: clean"),
        ("dispatch", "Dispatch by Peppol", "0208:0403019261", "delivered", "INV000001 · business debtor with a Peppol participant id"),
        ("attempt", "Attempt", "#1 loopback", "sent", "202"),
        ("callback", "Callback from Peppol: delivered", "", "delivered", "source: loopback"),
        ("dunning", "Dunning decision: reminder 1", "", "",
         "reason: step 1 (first_reminder) eligible since 2026-12-07 · policy: municipality-non-fiscal@2026.2 · amount open: 107.21 · fee: 0.00"
         " · new due date: 2027-01-08 · channel required: any · rule_set_version: dunning-rules/2026.11-1 · by: dunning.run"),
        ("hold", "On hold: Dispute", "", "", f"reason: de zaal was niet gepoetst · author: clerk@gent.be · since: {today.isoformat()} · status: open → disputed"),
        ("hold", "Hold ended: Dispute", "", "", f"author: clerk@gent.be · until: {today.isoformat()} · status: disputed → open"),
        ("payment", "Payment", "50.00 EUR", "", f"paid on: {today.isoformat()} · source: bank statement · reference: +++090/9337/55493+++"),
    ]
    times = re.findall(r'<time datetime="([^"]+)"', page)
    assert times == sorted(times) and len(set(times)) == 8  # intake, issue (routing, document, dispatch), try, callback, decision, hold, end, payment
    assert "Payment recorded" not in page and page.count("50.00") == 1  # the payment once: its row, not also its audit event


def test_a_business_invoice_downloads_as_ubl_and_as_the_pdf_letter_that_was_sent(client_for, walked, database):
    claim_id, settings, providers = walked
    with database.session_scope() as session:
        document = session.scalar(select(Document).where(Document.claim_id == claim_id))
        document_id, number = document.id, document.number
    client = client_for(settings, providers)
    page = client.get(f"/admin/claims/{claim_id}").text
    assert (f' <a href="/admin/documents/{document_id}" class="download">Download UBL</a>'
            f' <a href="/admin/documents/{document_id}/pdf" class="download">Download PDF</a>') in page
    ubl = client.get(f"/admin/documents/{document_id}")
    assert (ubl.headers["content-type"], ubl.headers["content-disposition"]) == ("application/xml", f'attachment; filename="{number}.xml"')
    pdf = client.get(f"/admin/documents/{document_id}/pdf")
    assert (pdf.status_code, pdf.headers["content-type"], pdf.headers["content-disposition"]) == (200, "application/pdf", f'attachment; filename="{number}.pdf"')
    reader = pypdfium2.PdfDocument(pdf.content)
    try:
        text = "\n".join(page.get_textpage().get_text_range() for page in reader)
    finally:
        reader.close()
    assert f"Documentnummer {number}" in text and "Bakkerij Janssens BV\r\nMarkt 1\r\n9000 Gent" in text
    # The letter as transmit draws it for the printer or the e-mail (letters.pdf_rendition, not registered: it went by Peppol).
    with database.session_scope() as session:
        assert pdf.content == letters.pdf_rendition(session, session.get(Document, document_id), registered=False)


def test_the_pdf_route_answers_404_for_another_creditors_document_and_for_one_without_a_letter(client_for, walked, database, standards_dir):
    claim_id, settings, providers = walked
    client = client_for(settings, providers)
    with database.session_scope() as session:
        hospital_document = session.scalar(select(Document).join(Dispatch, Dispatch.document_id == Document.id).where(Dispatch.recipient == "jan@azpatient.be"))
        hospital_document_id = hospital_document.id
    assert client.get(f"/admin/documents/{hospital_document_id}/pdf").status_code == 404
    assert client.get(f"/admin/documents/{uuid.uuid4()}/pdf").status_code == 404


@pytest.fixture
def client_for(database):
    clients = []

    def make(settings, providers):
        client = TestClient(create_app(settings, database=database, providers=providers))
        client.__enter__()
        clients.append(client)
        signed_in(client, "viewer@gent.be")
        client.get("/admin/lang/en")
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def test_a_document_that_went_registered_downloads_as_the_registered_letter(client_for, database, settings, standards_dir):
    case = seed_admin_world(database, standards_dir)
    with database.session_scope() as session:
        document = session.get(Document, case.document_id)
        session.add(Dispatch(document_id=document.id, claim_id=case.claim_id, channel="registered_paper", recipient="Markt 1, 9000 Gent, BE", state="sent",
                             idempotency_key="registered-letter", created_at=utc_now(), updated_at=utc_now()))
    client = client_for(settings, ProviderRegistry())
    pdf = client.get(f"/admin/documents/{case.document_id}/pdf")
    assert pdf.status_code == 200
    with database.session_scope() as session:
        document = session.get(Document, case.document_id)
        registered, ordinary = letters.pdf_rendition(session, document, registered=True), letters.pdf_rendition(session, document, registered=False)
    assert registered != ordinary and pdf.content == registered
