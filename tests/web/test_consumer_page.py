"""The consumer's personal page (issue 7) over HTTP, on SQLite and PostgreSQL: token refusals,
isolation between debtors and creditors, the e-mail change through the real SMTP sink, the phone
change through the SMS sandbox, consent rows, rate limits, and paying through the Bancontact
sandbox with its signed callback into our API (uvicorn on 127.0.0.1)."""

from __future__ import annotations

import email
import email.policy
import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from fastapi.testclient import TestClient
from sqlalchemy import select

from gateway.api.payloads import ClaimIn, PaymentIn
from gateway.app import create_app
from gateway.channels.payment import epc_qr
from gateway.channels.payment.bancontact import BancontactVerifier, JwksCache
from gateway.channels.payment.bancontact_client import BancontactClient
from gateway.channels.payment.bancontact_sandbox import BancontactSandbox
from gateway.channels.registry import ProviderRegistry
from gateway.channels.sms.client import SmsClient
from gateway.channels.sms.provider import SmsProvider
from gateway.channels.sms.sandbox import SmsSandbox
from gateway.config import Settings
from gateway.kit import personal_link
from gateway.kit.time import brussels_today, utc_now
from gateway.services import consumer_page
from gateway.services.auth import authenticate
from gateway.services.claims import create_claim, record_payment
from gateway.store.models import AuditEvent, Claim, DebtorConsent, DebtorContact, Document, InboundEvent
from gateway.workers.run import Worker
from gateway.web.consumer import routes
from tests.channels.test_sms_provider import serve
from tests.factories import consumer_claim, seed_creditors

SECRET = "personal-page-secret-for-tests-0123"
PDF = b"%PDF-1.4\n% a letter for the personal page tests\n"
SMS_KEY, SMS_SECRET = "sms-test-key", "sms-test-callback-secret"
BC_KEY, PPID = "bc-test-key", "5fd0a2c1e4b0d9a1b2c3d4e5"


@dataclass
class World:
    an_claim: uuid.UUID  # An Peeters at Stad Gent: 45.00 open
    an_paid_claim: uuid.UUID  # An Peeters at Stad Gent: paid
    an_document: uuid.UUID
    an_debtor: uuid.UUID
    gent: uuid.UUID
    bob_document: uuid.UUID  # Bob Claes, another debtor of Stad Gent
    bob_claim: uuid.UUID
    hospital_document: uuid.UUID  # An Peeters again, but as a debtor of the hospital
    hospital_debtor: uuid.UUID
    hospital: uuid.UUID


def _document(session, claim, number: str, sequence: int) -> uuid.UUID:
    now = utc_now()
    row = Document(
        claim_id=claim.id, creditor_id=claim.creditor_id, kind="invoice", prefix="INV", sequence=sequence, number=number, media_type="application/pdf",
        content=PDF + number.encode(), sha256=hashlib.sha256(PDF + number.encode()).hexdigest(), issued_at=now, meta={}, created_at=now,
    )
    session.add(row)
    session.flush()
    return row.id


def seed(database) -> World:
    keys = seed_creditors(database)
    now = utc_now()
    with database.session_scope() as session:
        gent = authenticate(session, keys.municipality_key)
        hospital = authenticate(session, keys.hospital_key)
        an = create_claim(session, gent, ClaimIn.model_validate(consumer_claim("C1", due_date="2026-12-02")), now=now).claim
        paid = create_claim(session, gent, ClaimIn.model_validate(consumer_claim("C0", due_date="2026-11-10")), now=now).claim
        record_payment(session, gent, paid.id, PaymentIn(amount=Decimal("45.00"), paid_on=date(2026, 11, 12), source="api", external_id="bank-1"), now=now)
        bob_payload = consumer_claim("C2", email="bob.claes@telenet.be")
        bob_payload["debtor"].update(external_id="C-BOB", name="Bob Claes", national_register_number="90020100130")
        bob = create_claim(session, gent, ClaimIn.model_validate(bob_payload), now=now).claim
        at_hospital = create_claim(session, hospital, ClaimIn.model_validate(consumer_claim("H1")), now=now).claim
        return World(
            an_claim=an.id, an_paid_claim=paid.id, an_document=_document(session, an, "INV000001", 1), an_debtor=an.debtor_id, gent=an.creditor_id,
            bob_document=_document(session, bob, "INV000002", 2), bob_claim=bob.id,
            hospital_document=_document(session, at_hospital, "INV000001", 1), hospital_debtor=at_hospital.debtor_id, hospital=at_hospital.creditor_id,
        )


def token(debtor_id, creditor_id, *, secret: str = SECRET, days: int = 60) -> str:
    return personal_link.issue(secret.encode(), debtor_id, creditor_id, now=utc_now(), valid_for=timedelta(days=days))


def form_token(personal: str) -> str:
    return consumer_page.form_token(SECRET.encode(), personal)


@pytest.fixture
def world(database):
    return seed(database)


@pytest.fixture
def page_settings(settings):
    return settings.model_copy(update={"personal_link_secret": SECRET, "public_base_url": "http://testserver"})


@pytest.fixture
def client(database, page_settings):
    with TestClient(create_app(page_settings, database=database), follow_redirects=False) as client:
        yield client


def rows(database, model, *where):
    with database.session_scope() as session:
        return session.scalars(select(model).where(*where).order_by(model.created_at)).all()


def contacts(database, debtor_id):
    return [(c.kind, c.value, c.validity) for c in rows(database, DebtorContact, DebtorContact.debtor_id == debtor_id)]


def audit(database, debtor_id, since: int = 0):
    with database.session_scope() as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.entity_id == debtor_id, AuditEvent.id > since).order_by(AuditEvent.id)).all()
        return [(e.actor, e.action, e.data) for e in events]


def last_audit_id(database) -> int:
    with database.session_scope() as session:
        return max(e.id for e in session.scalars(select(AuditEvent)))


def notice(response) -> dict:
    assert response.status_code == 303, response.text
    return {name: values[0] for name, values in parse_qs(urlsplit(response.headers["location"]).query).items()}


# -- tokens ----------------------------------------------------------------------------------------


def test_every_refused_token_gets_the_same_neutral_404(database, world, client, page_settings):
    good = token(world.an_debtor, world.gent)
    altered = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
    expired = personal_link.issue(SECRET.encode(), world.an_debtor, world.gent, now=utc_now() - timedelta(days=61), valid_for=timedelta(days=60))
    refused = {
        "wrong": "v1.not-a-token.at-all",
        "altered": altered,
        "expired": expired,
        "other secret": token(world.an_debtor, world.gent, secret="another-secret-of-32-bytes-long!!"),
        "unknown debtor": token(uuid.uuid4(), world.gent),
        "debtor at another creditor": token(world.an_debtor, world.hospital),
    }
    answers = {name: client.get(f"/my/{value}") for name, value in refused.items()}
    answers.update({f"{name} document": client.get(f"/my/{value}/documents/{world.an_document}") for name, value in refused.items()})
    with TestClient(create_app(page_settings.model_copy(update={"personal_link_secret": ""}), database=database)) as disabled:
        answers["page switched off"] = disabled.get(f"/my/{good}")
    bodies = {response.content for response in answers.values()}
    assert {response.status_code for response in answers.values()} == {404}
    assert len(bodies) == 1
    body = bodies.pop().decode()
    assert "Peeters" not in body and "Gent" not in body and "expired" not in body.lower()
    assert {response.headers["cache-control"] for response in answers.values()} == {"no-store"}
    assert {response.headers["referrer-policy"] for response in answers.values()} == {"no-referrer"}
    assert client.get(f"/my/{good}").status_code == 200


def test_personal_url_for_signs_a_link_or_is_none_without_a_secret(page_settings, world):
    now = utc_now()
    url = consumer_page.personal_url_for(page_settings, world.an_debtor, world.gent, now)
    assert url.startswith("http://testserver/my/v1.")
    subject = personal_link.verify(SECRET.encode(), url.rsplit("/", 1)[1], now=now)
    assert (subject.debtor_id, subject.creditor_id) == (world.an_debtor, world.gent)
    assert subject.expires_at == (now + timedelta(days=60)).replace(microsecond=0)
    assert consumer_page.personal_url_for(page_settings.model_copy(update={"personal_link_secret": ""}), world.an_debtor, world.gent, now) is None


# -- what the page shows ---------------------------------------------------------------------------


def test_the_page_shows_the_open_claim_with_its_epc_qr_and_the_paid_one_in_the_history(database, world, client):
    with database.session_scope() as session:
        claim = session.get(Claim, world.an_claim)
        ogm = claim.structured_communication
    page = client.get(f"/my/{token(world.an_debtor, world.gent)}")
    assert page.status_code == 200
    html = page.text
    open_part = html[html.index('id="open"'):html.index('id="history"')]
    history = html[html.index('id="history"'):html.index('id="contact"')]
    assert open_part.count('class="claim"') == 1
    assert "<h3>C1</h3>" in open_part
    assert '<dd class="amount-open">€\u00a045,00</dd>' in open_part
    assert '<dd class="due">2 december 2026</dd>' in open_part
    formatted = f"+++{ogm[:3]}/{ogm[3:7]}/{ogm[7:]}+++"
    assert f'<dd class="ogm">{formatted}</dd>' in open_part
    assert "INV000001" in open_part and f"/documents/{world.an_document}" in open_part
    # The EPC QR is exactly the transfer's payload: Stad Gent's IBAN, the open amount, the OGM as structured reference.
    payload = "BCD\n002\n1\nSCT\n\nStad Gent\nBE48320070184927\nEUR45.00\n\n" + ogm
    assert epc_qr.build_payload(epc_qr.EpcPayment(name="Stad Gent", iban="BE48320070184927", amount=Decimal("45.00"), ogm=ogm)) == payload
    assert epc_qr.render_svg(payload, scale=3).decode() in open_part
    assert "/pay/" not in open_part  # Bancontact is not configured: only the transfer QR
    assert "<strong>C0</strong> · €\u00a045,00 · <span class=\"status\">Betaald</span> · Betaald op 12 november 2026" in history
    # Nothing of the other debtor at the same creditor, nor of the same person at the hospital.
    # (Claim numbers as the page prints them: the bare "C2" or "H1" can occur by chance in the link's token.)
    assert "<h3>C2</h3>" not in html and "<strong>C2</strong>" not in html and "<h3>H1</h3>" not in html and "<strong>H1</strong>" not in html
    assert "Bob" not in html and html.count("<h3>") == 1
    expires = brussels_today(utc_now() + timedelta(days=60))
    assert f'<footer class="hint" id="valid-until">Deze persoonlijke link is geldig tot {_day(expires, "nl")}.' in html
    french = client.get(f"/my/{token(world.an_debtor, world.gent)}?lang=fr").text
    assert '<dd class="amount-open">45,00\u00a0€</dd>' in french and "À payer" in french
    assert '<html lang="de">' in client.get(f"/my/{token(world.an_debtor, world.gent)}?lang=de").text


def test_documents_only_of_this_debtor_at_this_creditor(database, world, client):
    an = token(world.an_debtor, world.gent)
    own = client.get(f"/my/{an}/documents/{world.an_document}")
    assert (own.status_code, own.content, own.headers["content-type"]) == (200, PDF + b"INV000001", "application/pdf")
    assert own.headers["content-disposition"] == 'attachment; filename="INV000001.pdf"'
    neutral = client.get("/my/v1.x.y").content
    for other in (world.bob_document, world.hospital_document, uuid.uuid4()):
        refused = client.get(f"/my/{an}/documents/{other}")
        assert (refused.status_code, refused.content) == (404, neutral)
    at_hospital = token(world.hospital_debtor, world.hospital)
    assert client.get(f"/my/{at_hospital}/documents/{world.an_document}").status_code == 404
    assert client.get(f"/my/{at_hospital}/documents/{world.hospital_document}").content == PDF + b"INV000001"
    # Paying is scoped the same way: Bob's claim through An's link is a 404 and creates nothing.
    refused = client.post(f"/my/{an}/pay/{world.bob_claim}", data={"form_token": form_token(an), "mode": "app"})
    assert (refused.status_code, refused.content) == (404, neutral)


# -- e-mail change ---------------------------------------------------------------------------------


def test_a_new_email_is_confirmed_through_a_link_sent_to_it_over_smtp(database, world, page_settings, tmp_path):
    from gateway.channels.email.sink import SmtpSink

    with SmtpSink(mail_dir=tmp_path / "mail") as sink:
        settings = page_settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": sink.port, "smtp_tls": "none"})
        with TestClient(create_app(settings, database=database), follow_redirects=False) as client:
            an = token(world.an_debtor, world.gent)
            before = last_audit_id(database)
            forged = client.post(f"/my/{an}/email", data={"form_token": "forged", "email": "evil@example.org"})
            assert notice(forged) == {"lang": "nl", "error": "form"}
            assert sink.messages == []
            answer = client.post(f"/my/{an}/email", data={"form_token": form_token(an), "email": "an.nieuw@proximus.be", "lang": "nl"})
            assert notice(answer) == {"lang": "nl", "notice": "email_sent", "value": "an.nieuw@proximus.be"}
            # Until the link is opened nothing changes: the old address stays the one in use.
            assert contacts(database, world.an_debtor) == [("email", "an.peeters@telenet.be", "unverified")]
            [sent] = sink.messages
            assert (sent.recipients, sent.mail_from) == (("an.nieuw@proximus.be",), "facturen@gateway.example")
            message = email.message_from_bytes(sent.data, policy=email.policy.default)
            assert message["Subject"] == "Bevestig uw e-mailadres voor Stad Gent"
            body = message.get_body(("plain",)).get_content()
            link = re.search(r"http://testserver(/my/\S+)", body).group(1)
            # The mail goes to an address nobody confirmed yet: no personal token, no name, no claim in it.
            assert link.startswith("/my/confirm/c1.") and link.endswith("?lang=nl") and an not in body
            assert "Peeters" not in body and "C1" not in body
            opened = client.get(link)
            assert opened.status_code == 200
            assert '<p role="status" class="notice" id="notice">Uw nieuw e-mailadres an.nieuw@proximus.be is bevestigd.</p>' in opened.text
            assert "Peeters" not in opened.text and "C1" not in opened.text and an not in opened.text
            assert contacts(database, world.an_debtor) == [("email", "an.peeters@telenet.be", "replaced"), ("email", "an.nieuw@proximus.be", "valid")]
            assert client.get(link).status_code == 200  # opened again (a mail scanner, then the person): nothing more is recorded
            assert audit(database, world.an_debtor, before) == [
                ("debtor", "contact.confirmation_sent", {"kind": "email", "value": "an.nieuw@proximus.be", "source": "personal page"}),
                ("debtor", "contact.confirmed", {"kind": "email", "value": "an.nieuw@proximus.be", "replaced": ["an.peeters@telenet.be"], "source": "personal page"}),
            ]
            page = client.get(f"/my/{an}").text
            assert '<strong class="current" id="current-email">an.nieuw@proximus.be</strong>' in page


def test_without_an_email_relay_the_page_says_so_and_changes_nothing(database, world, client):
    an = token(world.an_debtor, world.gent)
    answer = client.post(f"/my/{an}/email", data={"form_token": form_token(an), "email": "an.nieuw@proximus.be", "lang": "en"})
    assert notice(answer) == {"lang": "en", "error": "no_email_relay"}
    page = client.get(answer.headers["location"])
    assert '<p role="alert" class="error" id="error">We cannot send e-mail at the moment; your address stays as it is. Please try again later.</p>' in page.text
    assert contacts(database, world.an_debtor) == [("email", "an.peeters@telenet.be", "unverified")]


def test_an_expired_altered_or_foreign_confirmation_link_changes_nothing(database, world, client):
    secret = SECRET.encode()
    expired = consumer_page.confirmation_token(secret, world.an_debtor, "email", "x@example.org", now=utc_now() - timedelta(hours=25))
    valid = consumer_page.confirmation_token(secret, world.an_debtor, "email", "x@example.org", now=utc_now())
    altered = valid.replace("c1.", "c1.A", 1)
    other_secret = consumer_page.confirmation_token(b"another-secret-of-32-bytes-long!!", world.an_debtor, "email", "x@example.org", now=utc_now())
    nobody = consumer_page.confirmation_token(secret, uuid.uuid4(), "email", "x@example.org", now=utc_now())
    answers = [client.get(f"/my/confirm/{bad}") for bad in (expired, altered, other_secret, nobody, "nonsense")]
    assert {a.status_code for a in answers} == {404}
    assert len({a.content for a in answers}) == 1
    assert "Deze bevestigingslink is ongeldig of verlopen." in answers[0].text
    assert contacts(database, world.an_debtor) == [("email", "an.peeters@telenet.be", "unverified")]


# -- phone change ----------------------------------------------------------------------------------


def test_a_new_phone_is_confirmed_with_the_code_sent_by_sms(database, world, page_settings):
    sandbox = SmsSandbox(api_key=SMS_KEY, callback_secret=SMS_SECRET)
    try:
        providers = ProviderRegistry()
        providers.add(SmsProvider(SmsClient(sandbox.url, SMS_KEY, timeout_seconds=5), callback_secret=SMS_SECRET, callback_url="http://127.0.0.1:9/v1/callbacks/sms", max_segments=3))
        # The code's delivery reports go to public_base_url/my/sms-reports; here a closed port: the page does not wait for them.
        settings = page_settings.model_copy(update={"public_base_url": "http://127.0.0.1:9"})
        with TestClient(create_app(settings, database=database, providers=providers), follow_redirects=False) as client:
            an = token(world.an_debtor, world.gent)
            before = last_audit_id(database)
            assert notice(client.post(f"/my/{an}/phone", data={"form_token": form_token(an), "phone": "0470 12 34 56"}))["error"] == "phone_invalid"
            sent = client.post(f"/my/{an}/phone", data={"form_token": form_token(an), "phone": "+32 470 12 34 56", "lang": "fr"})
            assert notice(sent) == {"lang": "fr", "notice": "sms_sent", "value": "+32470123456", "phone": "+32470123456"}
            again = client.post(f"/my/{an}/phone", data={"form_token": form_token(an), "phone": "+32470123456", "lang": "fr"})
            assert notice(again)["notice"] == "sms_sent"
            [message] = sandbox.messages.values()  # the same window: the vendor deduplicated the second request
            code = re.fullmatch(r"Stad Gent : votre code de confirmation est (\d{6})\. Valable 15 minutes\.", message.text).group(1)
            assert (message.to, message.callback_url) == ("+32470123456", "http://127.0.0.1:9/my/sms-reports")
            report, headers = sandbox.signed_report(message.id, "DELIVRD")
            assert client.post("/my/sms-reports", content=report, headers=headers).status_code == 204
            assert rows(database, InboundEvent) == []  # dropped: it belongs to no dispatch
            page = client.get(sent.headers["location"]).text
            assert 'id="code-form"' in page and '<input type="hidden" name="phone" value="+32470123456">' in page
            wrong = "000000" if code != "000000" else "111111"
            assert notice(client.post(f"/my/{an}/phone/confirm", data={"form_token": form_token(an), "phone": "+32470123456", "code": wrong}))["error"] == "code_wrong"
            # The code is bound to the number: it does not confirm another one.
            assert notice(client.post(f"/my/{an}/phone/confirm", data={"form_token": form_token(an), "phone": "+32470999999", "code": code}))["error"] == "code_wrong"
            assert contacts(database, world.an_debtor) == [("email", "an.peeters@telenet.be", "unverified")]
            confirmed = client.post(f"/my/{an}/phone/confirm", data={"form_token": form_token(an), "phone": "+32470123456", "code": code, "lang": "fr"})
            assert notice(confirmed) == {"lang": "fr", "notice": "phone_confirmed", "value": "+32470123456"}
            assert contacts(database, world.an_debtor) == [("email", "an.peeters@telenet.be", "unverified"), ("phone", "+32470123456", "valid")]
            assert audit(database, world.an_debtor, before) == [
                ("debtor", "contact.confirmation_sent", {"kind": "phone", "value": "+32470123456", "source": "personal page"}),
                ("debtor", "contact.confirmation_sent", {"kind": "phone", "value": "+32470123456", "source": "personal page"}),
                ("debtor", "contact.confirmed", {"kind": "phone", "value": "+32470123456", "replaced": [], "source": "personal page"}),
            ]
    finally:
        sandbox.wait_for_reports()
        sandbox.close()


# -- preferences and consent -----------------------------------------------------------------------


def test_language_and_consent_are_recorded_with_date_and_source(database, world, client):
    an = token(world.an_debtor, world.gent)
    before = last_audit_id(database)
    today = brussels_today()
    saved = client.post(f"/my/{an}/preferences", data={"form_token": form_token(an), "language": "fr", "consent_email": "yes", "consent_sms": "yes"})
    assert notice(saved) == {"lang": "fr", "notice": "saved"}

    def consents():
        return sorted((c.channel, c.given, c.given_on, c.source) for c in rows(database, DebtorConsent, DebtorConsent.debtor_id == world.an_debtor))

    # E-mail consent was already given (at intake, from the portal): unchanged, its date kept.
    assert consents() == [("email", True, date(2026, 1, 15), "portal"), ("sms", True, today, "personal page")]
    saved = client.post(f"/my/{an}/preferences", data={"form_token": form_token(an), "language": "fr", "consent_sms": "yes", "consent_paper": "yes"})
    assert consents() == [("email", False, today, "personal page"), ("paper", True, today, "personal page"), ("sms", True, today, "personal page")]
    assert audit(database, world.an_debtor, before) == [
        ("debtor", "debtor.updated", {"language": "fr", "previous": "nl", "source": "personal page"}),
        ("debtor", "consent.recorded", {"channel": "sms", "given": True, "date": today.isoformat(), "source": "personal page"}),
        ("debtor", "consent.recorded", {"channel": "email", "given": False, "date": today.isoformat(), "source": "personal page"}),
        ("debtor", "consent.recorded", {"channel": "paper", "given": True, "date": today.isoformat(), "source": "personal page"}),
    ]
    page = client.get(f"/my/{an}").text  # no ?lang: the debtor's own language now
    assert '<html lang="fr">' in page and 'name="consent_sms" value="yes" checked' in page and 'name="consent_email" value="yes" >' in page


# -- rate limits -----------------------------------------------------------------------------------


def test_requests_per_client_and_confirmation_attempts_per_debtor_are_limited(database, world, client):
    an = token(world.an_debtor, world.gent)
    for _ in range(routes.CLIENT_LIMIT[0]):
        assert client.get("/my/v1.guess.guess").status_code == 404
    refused = client.get(f"/my/{an}")  # even a good link: the client address is over its limit
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert "Trop de tentatives" in refused.text

    fresh = TestClient(create_app(client.app.state.settings, database=database), follow_redirects=False)
    secret = SECRET.encode()
    code = consumer_page.phone_code(secret, world.an_debtor, "+32470123456", now=utc_now())
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(routes.CONFIRM_LIMIT[0]):
        answer = fresh.post(f"/my/{an}/phone/confirm", data={"form_token": form_token(an), "phone": "+32470123456", "code": wrong})
        assert notice(answer)["error"] == "code_wrong"
    sixth = fresh.post(f"/my/{an}/phone/confirm", data={"form_token": form_token(an), "phone": "+32470123456", "code": code})
    assert sixth.status_code == 429
    assert 800 <= int(sixth.headers["retry-after"]) <= 900
    assert contacts(database, world.an_debtor) == [("email", "an.peeters@telenet.be", "unverified")]
    # The limit is per debtor: Bob's confirmations are still taken.
    bob_id = rows(database, Claim, Claim.id == world.bob_claim)[0].debtor_id
    bob = token(bob_id, world.gent)
    bob_code = consumer_page.phone_code(secret, bob_id, "+32470000002", now=utc_now())
    assert notice(fresh.post(f"/my/{bob}/phone/confirm", data={"form_token": form_token(bob), "phone": "+32470000002", "code": bob_code}))["notice"] == "phone_confirmed"
    fresh.close()


# -- paying ----------------------------------------------------------------------------------------


def test_pay_with_bancontact_redirects_to_the_deeplink_and_the_callback_shows_the_claim_paid(database, world, page_settings):
    sandbox = BancontactSandbox(api_key=BC_KEY, payment_profile_id=PPID)
    providers = ProviderRegistry()
    app = create_app(page_settings, database=database, providers=providers)
    try:
        with serve(app) as base_url:
            bancontact = BancontactClient(sandbox.url, BC_KEY, timeout_seconds=5)
            providers.add_verifier(BancontactVerifier(
                payment_profile_id=PPID, callback_url=f"{base_url}/v1/callbacks/bancontact", jwks=JwksCache(lambda: bancontact.fetch_jwks(sandbox.jwks_url)), client=bancontact,
            ))
            an = token(world.an_debtor, world.gent)
            page = requests.get(f"{base_url}/my/{an}", timeout=10).text
            assert f'action="/my/{an}/pay/{world.an_claim}"' in page
            forged = requests.post(f"{base_url}/my/{an}/pay/{world.an_claim}", data={"form_token": "x", "mode": "app"}, allow_redirects=False, timeout=10)
            assert (forged.status_code, sandbox.create_requests) == (303, 0)
            answer = requests.post(f"{base_url}/my/{an}/pay/{world.an_claim}", data={"form_token": form_token(an), "mode": "app"}, allow_redirects=False, timeout=10)
            [payment] = sandbox.payments.values()
            assert (answer.status_code, answer.headers["location"]) == (303, f"https://pay.bancontact.net/pay/2/{payment.payment_id}")
            with database.session_scope() as session:
                ogm = session.get(Claim, world.an_claim).structured_communication
            assert (payment.amount, payment.reference, payment.description) == (4500, ogm, "Stad Gent C1")
            shown = requests.post(f"{base_url}/my/{an}/pay/{world.an_claim}", data={"form_token": form_token(an), "mode": "qr", "lang": "en"}, timeout=10)
            assert shown.status_code == 200 and sandbox.create_requests == 1  # the live request is reused
            assert f'href="https://pay.bancontact.net/pay/2/{payment.payment_id}"' in shown.text and "<svg" in shown.text
            paid = requests.post(f"{sandbox.url}/sandbox/payments/{payment.payment_id}/pay", timeout=10).json()
            assert paid == {"status": "SUCCEEDED", "callback_status": 202}
            Worker(database, page_settings, name="t", providers=providers).drain()
            page = requests.get(f"{base_url}/my/{an}?lang=en", timeout=10).text
            assert "You have nothing left to pay." in page
            assert f'<li id="claim-{world.an_claim}" data-status="paid"><strong>C1</strong> · €45.00 · <span class="status">Paid</span> · Paid on {_en_day(brussels_today())}' in page
            with database.session_scope() as session:
                claim = session.get(Claim, world.an_claim)
                assert (claim.status, claim.amount_paid) == ("paid", Decimal("45.00"))
            again = requests.post(f"{base_url}/my/{an}/pay/{world.an_claim}", data={"form_token": form_token(an), "mode": "app"}, allow_redirects=False, timeout=10)
            assert (again.status_code, again.headers["location"], sandbox.create_requests) == (303, f"/my/{an}?lang=nl", 1)  # nothing left to pay
    finally:
        sandbox.close()


def _en_day(value: date) -> str:
    return _day(value, "en")


def _day(value: date, language: str) -> str:
    from gateway.channels.email.compose import format_date

    return format_date(value, language)


def test_after_a_confirmed_change_the_router_sends_to_the_new_address(database, world):
    from gateway.delivery.router import choose_channel
    from gateway.store.models import Debtor
    from gateway.workers.tasks import debtor_facts

    with database.session_scope() as session:
        assert consumer_page.confirm_contact(session, world.an_debtor, "email", "an.nieuw@proximus.be", now=utc_now()) is True
    with database.session_scope() as session:
        decision = choose_channel(debtor_facts(session.get(Debtor, world.an_debtor)), "Kerkstraat 1, 9000 Gent, BE")
    assert (decision.channel.value, decision.recipient) == ("email", "an.nieuw@proximus.be")


def test_after_a_secret_rotation_a_link_signed_with_the_previous_secret_still_opens(database, world, page_settings, monkeypatch):
    old_secret, older_secret = "the-secret-before-the-rotation-1", "the-secret-two-rotations-ago-22"
    monkeypatch.setenv("GATEWAY_PERSONAL_LINK_PREVIOUS_SECRETS", json.dumps([old_secret, older_secret]))
    from_environment = Settings().personal_link_previous_secrets
    assert from_environment == [old_secret, older_secret]
    rotated = page_settings.model_copy(update={"personal_link_previous_secrets": from_environment})
    signed_before = token(world.an_debtor, world.gent, secret=old_secret)
    signed_long_before = token(world.an_debtor, world.gent, secret=older_secret)
    unknown = token(world.an_debtor, world.gent, secret="a-secret-this-gateway-never-had")
    expired_before = personal_link.issue(old_secret.encode(), world.an_debtor, world.gent, now=utc_now() - timedelta(days=61), valid_for=timedelta(days=60))
    with TestClient(create_app(rotated, database=database), follow_redirects=False) as client:
        for link in (signed_before, signed_long_before, token(world.an_debtor, world.gent)):
            page = client.get(f"/my/{link}")
            assert page.status_code == 200 and "<h1>Goeiedag An Peeters</h1>" in page.text
            assert client.get(f"/my/{link}/documents/{world.an_document}").content == PDF + b"INV000001"
        refused = [client.get(f"/my/{link}") for link in (unknown, expired_before, "v1.not-a-token.at-all")]
    # The same neutral 404, byte for byte, as without a rotation; and with the old secret dropped, its links stop.
    assert {r.status_code for r in refused} == {404} and len({r.content for r in refused}) == 1
    with TestClient(create_app(page_settings, database=database)) as not_rotated:
        assert not_rotated.get(f"/my/{signed_before}").content == refused[0].content
