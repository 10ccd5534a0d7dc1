"""Fixing the contact and resending, for every channel that can fail, on SQLite and PostgreSQL.

Each failed channel gets the fields that can fix it and nothing else: an e-mail address, a mobile
number, a postal address (ordinary or registered letter), a Peppol participant id; an eBox failure
offers e-mail (only when the debtor may get e-mail) or paper. Every offered form succeeds with a
good value; the new dispatch is queued by the delivery service with its transmit job.
"""

from __future__ import annotations

import hashlib
import re
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from gateway.api.payloads import ClaimIn
from gateway.app import create_app
from gateway.delivery import service as delivery
from gateway.kit.time import utc_now
from gateway.services.claims import create_claim
from gateway.store.models import AuditEvent, Debtor, Dispatch, Document, Job
from tests.factories import consumer_claim
from tests.web.seed import _principal, seed_admin_world
from tests.web.test_admin_http import signed_in

LETTER = b"%PDF-1.7 the invoice letter"


@pytest.fixture
def case(database, standards_dir):
    return seed_admin_world(database, standards_dir)


@pytest.fixture
def client(settings, database):
    with TestClient(create_app(settings, database=database)) as test_client:
        test_client.get("/admin/lang/en")
        yield test_client


def failed(database, claim_id: uuid.UUID, document_id: uuid.UUID, channel: str, recipient: str, error: str) -> uuid.UUID:
    now = utc_now()
    with database.session_scope() as session:
        dispatch = Dispatch(document_id=document_id, claim_id=claim_id, channel=channel, recipient=recipient, state="failed_permanent", attempt_count=1,
                            idempotency_key=delivery.idempotency_key(document_id, channel, recipient), last_error=error, created_at=now, updated_at=now)
        session.add(dispatch)
        session.flush()
        return dispatch.id


def consumer_with_letter(database, number: str, *, email_consent: bool) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    """A consumer claim (An Peeters, eBox consent) with its PDF letter: (claim, debtor, document)."""
    now = utc_now()
    with database.session_scope() as session:
        payload = consumer_claim(number)
        payload["debtor"]["consents"] = [{"channel": "ebox", "given": True, "date": "2026-01-15", "source": "portal"},
                                         {"channel": "email", "given": email_consent, "date": "2026-01-15", "source": "portal"}]
        claim = create_claim(session, _principal(session, "gent"), ClaimIn.model_validate(payload), now=now).claim
        letter = Document(claim_id=claim.id, creditor_id=claim.creditor_id, kind="invoice", prefix="F", sequence=int(number[-3:]), number=f"GENT-F-{number}",
                          media_type="application/pdf", content=LETTER, sha256=hashlib.sha256(LETTER).hexdigest(), issued_at=now, meta={}, created_at=now)
        session.add(letter)
        session.flush()
        return claim.id, claim.debtor_id, letter.id


def forms(html: str, dispatch_id: uuid.UUID) -> list[tuple[str, list[str], str]]:
    """Per resend form of the case: (channel, the labels of its visible fields, the button)."""
    card = html.split(f'id="dispatch-{dispatch_id}"')[1].split("</article>")[0]
    found = []
    for channel, body in re.findall(r'<form method="post" action="/admin/undeliverable/[^"]+/resend" class="row fix" data-channel="(\w+)">(.*?)</form>', card, re.S):
        found.append((channel, re.findall(r"<label>([^<]+)<input", body), re.search(r'<button type="submit">([^<]+)</button>', body).group(1)))
    return found


def resend(client, csrf: str, dispatch_id: uuid.UUID, **data):
    return client.post(f"/admin/undeliverable/{dispatch_id}/resend", data={"csrf_token": csrf, **data}, follow_redirects=False)


def new_dispatch(database, document_id: uuid.UUID, channel: str) -> Dispatch:
    with database.session_scope() as session:
        dispatch = session.scalar(select(Dispatch).where(Dispatch.document_id == document_id, Dispatch.channel == channel, Dispatch.state == "queued"))
        job = session.scalar(select(Job).where(Job.dedup_key == f"{delivery.TRANSMIT}:{dispatch.id}:1"))
        assert (job.kind, job.payload, job.state) == (delivery.TRANSMIT, {"dispatch_id": str(dispatch.id)}, "pending")
        session.expunge(dispatch)
        return dispatch


ADDRESS = ["Street and number", "Postal code", "City"]


def test_a_failed_sms_is_fixed_by_the_mobile_number(client, case, database):
    dispatch_id = failed(database, case.claim_id, case.document_id, "sms", "+32470000001", "TerminalError: number not in service")
    csrf = signed_in(client, "clerk@gent.be")
    assert forms(client.get("/admin/undeliverable").text, dispatch_id) == [("sms", ["New mobile number"], "Resend by SMS")]
    assert resend(client, csrf, dispatch_id, channel="sms", value="+32470123456").status_code == 303
    assert (new_dispatch(database, case.document_id, "sms").recipient) == "+32470123456"
    with database.session_scope() as session:
        assert sorted((c.kind, c.value) for c in session.get(Debtor, case.debtor_id).contacts) == [("email", "an.peeters@telenet.bee"), ("phone", "+32470123456")]


def test_a_returned_registered_letter_is_fixed_by_the_address_and_sent_registered_again(client, case, database):
    dispatch_id = failed(database, case.claim_id, case.document_id, "registered_paper", "Markt 1, 9000 Gent, BE", "returned: moved, no forwarding address")
    csrf = signed_in(client, "clerk@gent.be")
    assert forms(client.get("/admin/undeliverable").text, dispatch_id) == [("registered_paper", ADDRESS, "Resend by registered letter")]
    response = resend(client, csrf, dispatch_id, channel="registered_paper", street="Korenmarkt 5", postal_code="9000", city="Gent", country="BE")
    assert response.status_code == 303
    assert new_dispatch(database, case.document_id, "registered_paper").recipient == "Korenmarkt 5, 9000 Gent, BE"
    with database.session_scope() as session:
        debtor = session.get(Debtor, case.debtor_id)
        assert (debtor.street, debtor.postal_code, debtor.city) == ("Korenmarkt 5", "9000", "Gent")
        resent = session.scalar(select(AuditEvent).where(AuditEvent.action == "dispatch.resent"))
        assert (resent.data["channel"], resent.data["failed_channel"], resent.data["to"]) == ("registered_paper", "registered_paper", "Korenmarkt 5, 9000 Gent, BE")


def test_a_failed_ebox_offers_email_and_paper_and_sends_by_email(client, case, database):
    claim_id, debtor_id, document_id = consumer_with_letter(database, "C-601", email_consent=True)
    dispatch_id = failed(database, claim_id, document_id, "ebox", "85073003328", "TerminalError: the citizen has no active eBox")
    csrf = signed_in(client, "clerk@gent.be")
    page = client.get("/admin/undeliverable").text
    assert forms(page, dispatch_id) == [("email", ["New e-mail address"], "Resend by e-mail"), ("paper", ADDRESS, "Resend by letter")]
    assert 'type="email" value="an.peeters@telenet.be"' in page  # the debtor's usable address, to confirm or correct
    assert resend(client, csrf, dispatch_id, channel="email", value="an.peeters@telenet.be").status_code == 303
    assert new_dispatch(database, document_id, "email").recipient == "an.peeters@telenet.be"
    with database.session_scope() as session:
        assert [(c.kind, c.value) for c in session.get(Debtor, debtor_id).contacts] == [("email", "an.peeters@telenet.be")]  # kept, not duplicated


def test_a_failed_ebox_without_email_consent_offers_paper_only_and_refuses_email(client, case, database):
    claim_id, _, document_id = consumer_with_letter(database, "C-602", email_consent=False)
    dispatch_id = failed(database, claim_id, document_id, "ebox", "85073003328", "TerminalError: the citizen has no active eBox")
    csrf = signed_in(client, "clerk@gent.be")
    assert forms(client.get("/admin/undeliverable").text, dispatch_id) == [("paper", ADDRESS, "Resend by letter")]
    refused = resend(client, csrf, dispatch_id, channel="email", value="an.peeters@telenet.be")
    assert refused.status_code == 422
    assert '<p class="problem" role="alert">a failed ebox dispatch is sent again by paper, not by email</p>' in refused.text
    response = resend(client, csrf, dispatch_id, channel="paper", street="Kerkstraat 1", postal_code="9000", city="Gent", country="BE")
    assert response.status_code == 303
    assert new_dispatch(database, document_id, "paper").recipient == "Kerkstraat 1, 9000 Gent, BE"


def test_a_failed_peppol_dispatch_is_fixed_by_the_participant_id_or_sent_by_email(client, case, database):
    wrong_id = failed(database, case.claim_id, case.document_id, "peppol", "0208:0403019162", "TerminalError: participant not found in the SML")
    csrf = signed_in(client, "clerk@gent.be")
    assert forms(client.get("/admin/undeliverable").text, wrong_id) == [("peppol", ["Peppol participant id"], "Resend via Peppol"), ("email", ["New e-mail address"], "Resend by e-mail")]
    malformed = resend(client, csrf, wrong_id, channel="peppol", value="0403019261")
    assert malformed.status_code == 422
    assert "a Peppol participant id is SCHEME:ID with a 4-digit scheme, e.g. 0208:0403019261" in malformed.text
    assert resend(client, csrf, wrong_id, channel="peppol", value=" 0208:0403.019.261 ").status_code == 303
    assert new_dispatch(database, case.document_id, "peppol").recipient == "0208:0403019261"
    with database.session_scope() as session:
        assert session.get(Debtor, case.debtor_id).peppol_id == "0208:0403019261"
        changed = session.scalar(select(AuditEvent).where(AuditEvent.action == "debtor.updated", AuditEvent.entity_id == case.debtor_id))
        assert (changed.actor, changed.data) == ("admin:clerk@gent.be", {"peppol_id": "0208:0403019261", "was": None})



def test_a_buyer_not_on_peppol_gets_the_document_by_email(client, case, database):
    not_on_peppol = failed(database, case.claim_id, case.document_id, "peppol", "0208:0403019261", "TerminalError: participant not found in the SML")
    csrf = signed_in(client, "clerk@gent.be")
    assert 'name="value" required pattern="[0-9]{4}:.+" value="0208:0403019261"' in client.get("/admin/undeliverable").text
    assert resend(client, csrf, not_on_peppol, channel="email", value="boekhouding@janssens.be").status_code == 303
    assert new_dispatch(database, case.document_id, "email").recipient == "boekhouding@janssens.be"
    with database.session_scope() as session:
        # added beside the bounced address the e-mail dispatch of the seed failed on (that one is fixed on its own case)
        assert [(c.kind, c.value) for c in session.get(Debtor, case.debtor_id).contacts] == [("email", "an.peeters@telenet.bee"), ("email", "boekhouding@janssens.be")]


def test_a_channel_that_is_not_offered_and_an_unchanged_contact_are_refused_and_nothing_changes(client, case, database):
    csrf = signed_in(client, "clerk@gent.be")
    with database.session_scope() as session:
        before = (session.scalar(select(func.count()).select_from(Dispatch)), session.scalar(select(func.count()).select_from(AuditEvent)))
    refused = resend(client, csrf, case.dispatch_id, channel="sms", value="+32470123456")
    assert refused.status_code == 422
    assert "a failed email dispatch is sent again by email, not by sms" in refused.text
    unchanged = resend(client, csrf, case.dispatch_id, channel="email", value="AN.PEETERS@telenet.bee")
    assert unchanged.status_code == 422
    assert "this document was already sent to AN.PEETERS@telenet.bee by email" in unchanged.text
    # Nothing of the refused attempts was kept.
    with database.session_scope() as session:
        assert (session.scalar(select(func.count()).select_from(Dispatch)), session.scalar(select(func.count()).select_from(AuditEvent))) == before
        assert [(c.kind, c.value) for c in session.get(Debtor, case.debtor_id).contacts] == [("email", "an.peeters@telenet.bee")]
    letter = resend(client, csrf, case.dispatch_id, channel="email", value="an.peeters@telenet.be")
    assert letter.status_code == 303
    with database.session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Dispatch)) == before[0] + 1
        assert [(c.kind, c.value) for c in session.get(Debtor, case.debtor_id).contacts] == [("email", "an.peeters@telenet.be")]
