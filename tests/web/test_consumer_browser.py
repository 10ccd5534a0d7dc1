"""The consumer's personal page end to end in a real headless Chromium (Debian's /usr/bin/chromium,
driven by Playwright), against the gateway served by uvicorn on 127.0.0.1 with its in-process
workers and providers built from settings (`build_providers`): the SMTP sink and the Bancontact
sandbox run on loopback.

The consumer opens the personal link from the invoice e-mail the worker sent, changes the
e-mail address and confirms it through the link read from the sink, and pays in the Bancontact
sandbox; the sandbox's signed callback is stored and applied by the worker, and the page then
shows the claim as paid. The Bancontact app itself cannot run here: the deeplink
(https://pay.bancontact.net/...) is answered inside the browser by a stand-in payer screen whose
"pay" button asks the sandbox to pay, exactly as `POST /sandbox/payments/{id}/pay` does for a
person paying in the app. Screenshots (tests/web/shots.py): consumer-*.png (page, phone width, Bancontact QR, paid).
"""

from __future__ import annotations

import email
import email.policy
import io
import re
import shutil
import socket
import threading
import time
from decimal import Decimal
from importlib import resources

import pytest
import requests
import uvicorn
import zxingcpp
from PIL import Image
from sqlalchemy import select

from gateway.api.payloads import ClaimIn
from gateway.app import create_app
from gateway.channels.email.sink import SmtpSink
from gateway.channels.payment.bancontact_sandbox import BancontactSandbox
from gateway.channels.setup import build_providers
from gateway.config import Settings
from gateway.kit.time import utc_now
from gateway.services.auth import authenticate
from gateway.services.claims import create_claim
from gateway.store.models import Claim, CreditorEntity, DebtorContact, Document
from gateway.store.session import Database
from tests.factories import consumer_claim, seed_creditors
from tests.web.test_browser import browser, shot  # noqa: F401 - the Chromium fixture and the screenshot helper

LINK_SECRET = "personal-page-secret-for-browser-01"
BC_KEY, PPID = "bc-browser-key", "5fd0a2c1e4b0d9a1b2c3d4e6"
SETTLE_SECONDS = 30  # the worker issues letters and applies callbacks within a second or two; this is the give-up point


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(predicate, what: str, timeout: float = SETTLE_SECONDS):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def gateway(tmp_path, sqlite_template, standards_dir):
    path = tmp_path / "gateway.sqlite"
    shutil.copy(sqlite_template, path)
    database = Database(f"sqlite:///{path}")
    keys = seed_creditors(database)
    logo = resources.files("gateway.letters.demo_logos").joinpath("zonnedorp.svg").read_bytes()
    now = utc_now()
    with database.session_scope() as session:
        gent = session.scalar(select(CreditorEntity).where(CreditorEntity.code == "gent"))
        # The demo logo is Zonnedorp's: the entity carries that name here, so the page shows a matching pair.
        gent.name, gent.logo, gent.logo_media_type, gent.primary_colour = "Gemeente Zonnedorp", logo, "image/svg+xml", "#0b5394"
        principal = authenticate(session, keys.municipality_key)
        first = create_claim(session, principal, ClaimIn.model_validate(consumer_claim("C1")), now=now).claim
        second_payload = consumer_claim("C3", due_date="2026-12-20")
        second_payload["lines"] = [{"description": "Retributie huisvuilzakken", "quantity": "2", "unit_price": "6.25", "vat_category": "O"}]
        second = create_claim(session, principal, ClaimIn.model_validate(second_payload), now=now).claim
        claim_ids = (first.id, second.id)
    sandbox = BancontactSandbox(api_key=BC_KEY, payment_profile_id=PPID)
    port = free_port()
    with SmtpSink(mail_dir=tmp_path / "mail") as sink:
        settings = Settings(
            database_url=database.url, standards_dir=standards_dir, public_base_url=f"http://127.0.0.1:{port}", personal_link_secret=LINK_SECRET,
            smtp_host="127.0.0.1", smtp_port=sink.port, smtp_tls="none", email_verp_secret="verp-secret-for-browser-tests-01",
            bancontact_api_url=sandbox.url, bancontact_api_key=BC_KEY, bancontact_payment_profile_id=PPID, bancontact_jwks_url=sandbox.jwks_url,
            print_drop_dir=tmp_path / "print", worker_poll_seconds=0.1,
        )
        app = create_app(settings, database=database, run_workers=True, providers=build_providers(settings))
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
        thread = threading.Thread(target=server.run, name="consumer-test-server", daemon=True)
        thread.start()
        wait_for(lambda: server.started, "the gateway to start", timeout=15)
        try:
            yield settings.public_base_url, database, sink, sandbox, claim_ids
        finally:
            server.should_exit = True
            thread.join(timeout=15)
            sandbox.close()
            database.dispose()


def mail_to(sink: SmtpSink, address: str):
    found = [m for m in sink.messages if address in m.recipients]
    return email.message_from_bytes(found[-1].data, policy=email.policy.default) if found else None


def test_the_consumer_opens_the_link_changes_the_email_and_pays_with_bancontact(browser, gateway):  # noqa: F811
    base_url, database, sink, sandbox, (claim_id, other_claim_id) = gateway
    # The worker issues both invoice letters and e-mails them; each carries the personal link.
    invoice = wait_for(lambda: mail_to(sink, "an.peeters@telenet.be"), "the invoice e-mail")
    personal = re.search(rf"{re.escape(base_url)}/my/\S+", invoice.get_body(("plain",)).get_content()).group(0).rstrip(".")

    phone = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=1, is_mobile=True, has_touch=True, locale="nl-BE")
    page = phone.new_page()
    page.goto(personal)
    assert page.locator("h1").inner_text() == "Goeiedag An Peeters"
    assert page.locator("#open article.claim").count() == 2
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling on a phone
    shot(page, "consumer-page-phone")
    phone.close()

    context = browser.new_context(viewport={"width": 1100, "height": 900}, locale="nl-BE")
    page = context.new_page()
    page.goto(personal)
    card = page.locator(f"#claim-{claim_id}")
    assert card.locator(".amount-open").inner_text() == "€\u00a045,00"
    assert card.locator(".ogm").inner_text().startswith("+++")
    # The transfer QR as a banking app reads it from the screen: the entity's IBAN, the open amount, the OGM.
    with database.session_scope() as session:
        ogm = session.get(Claim, claim_id).structured_communication
    [decoded] = zxingcpp.read_barcodes(Image.open(io.BytesIO(card.locator(".epc svg").screenshot())))
    assert decoded.text == f"BCD\n002\n1\nSCT\n\nGemeente Zonnedorp\nBE48320070184927\nEUR45.00\n\n{ogm}"
    assert page.locator(f"#claim-{other_claim_id} .amount-open").inner_text() == "€\u00a012,50"
    shot(page, "consumer-page")

    # A new e-mail address: a link goes to it; nothing changes until it is opened.
    page.get_by_label("Nieuw e-mailadres").fill("an.nieuw@proximus.be")
    page.get_by_role("button", name="Stuur een bevestigingslink").click()
    assert page.get_by_role("status").inner_text() == "We stuurden een bevestigingslink naar an.nieuw@proximus.be. Uw adres wijzigt pas als u die link opent."
    assert page.locator("#current-email").inner_text() == "an.peeters@telenet.be"
    confirmation = wait_for(lambda: mail_to(sink, "an.nieuw@proximus.be"), "the confirmation e-mail")
    link = re.search(rf"{re.escape(base_url)}/my/\S+", confirmation.get_body(("plain",)).get_content()).group(0)
    assert personal not in link  # the unconfirmed address never receives the personal link
    page.goto(link)
    assert page.get_by_role("status").inner_text() == "Uw nieuw e-mailadres an.nieuw@proximus.be is bevestigd."
    page.goto(personal)
    assert page.locator("#current-email").inner_text() == "an.nieuw@proximus.be"
    with database.session_scope() as session:
        emails = [(c.value, c.validity) for c in session.scalars(select(DebtorContact).where(DebtorContact.kind == "email").order_by(DebtorContact.created_at))]
    assert emails == [("an.peeters@telenet.be", "replaced"), ("an.nieuw@proximus.be", "valid")]

    # Pay: the form asks Bancontact for a payment and sends the browser to its deeplink.
    def bancontact_app(route) -> None:
        payment_id = route.request.url.rstrip("/").split("/")[-1]
        if route.request.url.endswith("/confirm"):
            payment_id = route.request.url.split("/")[-2]
            answer = requests.post(f"{sandbox.url}/sandbox/payments/{payment_id}/pay", timeout=15).json()
            route.fulfill(status=200, content_type="text/html", body=f"<!doctype html><title>Bancontact</title><h1 id=result>{answer['status']}</h1>")
            return
        payment = sandbox.payments[payment_id]
        route.fulfill(status=200, content_type="text/html", body=(
            f"<!doctype html><title>Bancontact</title><h1>Bancontact</h1><p id=amount>{payment.amount / 100:.2f} EUR</p>"
            f"<p id=description>{payment.description}</p><a id=pay href='{route.request.url}/confirm'>Betalen</a>"
        ))

    context.route("https://pay.bancontact.net/**", bancontact_app)
    page.goto(personal)
    # On a computer the debtor asks for the Bancontact QR instead, to scan it with the phone.
    page.locator(f"#claim-{claim_id}").get_by_role("button", name="Toon Bancontact-QR-code").click()
    # Each letter asked Bancontact for its own payment request (issue 5); the page reuses this claim's.
    with database.session_scope() as session:
        ogm = session.get(Claim, claim_id).structured_communication
        invoice_number = session.scalar(select(Document.number).where(Document.claim_id == claim_id, Document.kind == "invoice"))
    [payment] = [payment for payment in sandbox.payments.values() if payment.reference == ogm]
    [decoded] = zxingcpp.read_barcodes(Image.open(io.BytesIO(page.locator(".bancontact-qr svg").screenshot())))
    assert decoded.text == f"https://pay.bancontact.net/pay/2/{payment.payment_id}"
    shot(page, "consumer-bancontact-qr")
    page.goto(personal)
    page.locator(f"#claim-{claim_id}").get_by_role("button", name="Betalen met Bancontact").click()
    page.wait_for_url(f"https://pay.bancontact.net/pay/2/{payment.payment_id}")  # the same live payment request
    assert (page.locator("#amount").inner_text(), page.locator("#description").inner_text()) == ("45.00 EUR", f"Gemeente Zonnedorp {invoice_number}")
    page.locator("#pay").click()
    assert page.locator("#result").inner_text() == "SUCCEEDED"

    def paid() -> bool:
        page.goto(personal)
        return page.locator(f'#history li[data-status="paid"]#claim-{claim_id}').count() == 1

    wait_for(paid, "the claim shown as paid")
    assert page.locator("#open article.claim").count() == 1
    assert page.locator(f"#claim-{claim_id} .status").inner_text() == "Betaald"
    shot(page, "consumer-paid")
    with database.session_scope() as session:
        claim = session.get(Claim, claim_id)
        assert (claim.status, claim.amount_paid) == ("paid", Decimal("45.00"))
    context.close()
