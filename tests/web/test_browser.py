"""The admin pages end to end in a real headless Chromium (Debian's /usr/bin/chromium, driven by
Playwright), against a uvicorn server this test starts on 127.0.0.1 with a random port. In the
clerk's flow the server runs its in-process worker with the providers built from settings: the
resent invoice really goes out, over SMTP to a sink on loopback, and the page shows it sent.

Playwright never downloads a browser here: it launches the system Chromium by path. Without it
the tests are skipped, except under CI=true, where a missing browser fails the run (`make setup`
installs it). Screenshots of each key page are written to this run's folder (tests/web/shots.py:
var/screenshots/); GATEWAY_UPDATE_SCREENSHOTS=1 also refreshes the README's tests/web/screenshots/.
"""

from __future__ import annotations

import email
import email.policy
import os
import shutil
import threading
import time
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy import select

from gateway.app import create_app
from gateway.config import Settings
from gateway.store.models import Dispatch
from gateway.store.session import Database
from tests.web.seed import PASSWORD, seed_admin_world
from tests.web.shots import shot  # noqa: F401  (re-exported for the other browser tests)

CHROMIUM = Path(os.environ.get("GATEWAY_TEST_CHROMIUM", "/usr/bin/chromium"))
# The flags this machine needs: no sandbox as root, and no background traffic to Google's hosts.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]
SERVER_START_SECONDS = 15  # uvicorn binds in well under a second; this is the give-up point


def _unavailable(reason: str):
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (browser tests are required under CI=true; `make setup` installs chromium)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        _unavailable(f"no Chromium at {CHROMIUM}: run `make browser` (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed: pip install -e '.[test]'")
    with sync_playwright() as playwright:
        # Playwright gives every launch a new, empty profile directory of its own.
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Server:
    def __init__(self, app) -> None:
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, name="admin-test-server", daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + SERVER_START_SECONDS
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def served(tmp_path, sqlite_template, standards_dir):
    path = tmp_path / "gateway.sqlite"
    shutil.copy(sqlite_template, path)
    database = Database(f"sqlite:///{path}")
    case = seed_admin_world(database, standards_dir)
    settings = Settings(database_url=database.url, standards_dir=tmp_path / "no-standards")
    with Server(create_app(settings, database=database)) as base_url:
        yield base_url, database, case
    database.dispose()


@pytest.fixture
def served_with_worker(tmp_path, sqlite_template, standards_dir):
    """The gateway with its in-process worker and the providers built from settings, the e-mail one
    talking SMTP to a sink on loopback (every message the relay accepts is kept)."""
    from gateway.channels.email.sink import SmtpSink
    from gateway.channels.setup import build_providers

    path = tmp_path / "gateway.sqlite"
    shutil.copy(sqlite_template, path)
    database = Database(f"sqlite:///{path}")
    case = seed_admin_world(database, standards_dir)
    with SmtpSink(mail_dir=tmp_path / "mail") as sink:
        settings = Settings(
            database_url=database.url, standards_dir=standards_dir, smtp_host="127.0.0.1", smtp_port=sink.port, smtp_tls="none",
            email_verp_secret="verp-secret-for-admin-browser-1", print_drop_dir=tmp_path / "print", worker_poll_seconds=0.1,
        )
        with Server(create_app(settings, database=database, run_workers=True, providers=build_providers(settings))) as base_url:
            yield base_url, database, case, sink
    database.dispose()


def state_shown(page, url: str, dispatch_id, wanted: set[str]) -> str:
    """Reload the claim page until the dispatch shows one of `wanted` (the worker sends within a second or two)."""
    deadline = time.monotonic() + 30
    while True:
        page.goto(url)
        state = page.locator(f'li[data-kind="dispatch"][data-id="{dispatch_id}"] .state').get_attribute("class").split("state-")[-1]
        if state in wanted or time.monotonic() > deadline:
            return state
        time.sleep(0.3)


def test_clerk_signs_in_fixes_a_bounced_email_resends_and_sees_the_new_dispatch(browser, served_with_worker):
    base_url, database, case, sink = served_with_worker
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-GB")
    page = context.new_page()

    page.goto(f"{base_url}/admin/dashboard")
    assert page.url.startswith(f"{base_url}/admin/signin?next=")
    page.get_by_role("link", name="EN").click()
    shot(page, "01-sign-in")
    page.get_by_label("E-mail address").fill("clerk@gent.be")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base_url}/admin/dashboard")
    assert page.locator("h1").inner_text() == "Dashboard"
    assert page.locator('#dispatch-counts td[data-state="failed_permanent"]').first.inner_text() == "1"
    shot(page, "02-dashboard")

    page.get_by_role("link", name="Undeliverable", exact=True).click()
    case_card = page.locator(f"#dispatch-{case.dispatch_id}")
    assert case_card.locator(".recipient").inner_text() == "an.peeters@telenet.bee"
    assert case_card.locator(".reason").inner_text() == "550 5.1.1 mailbox unavailable (hard bounce)"
    assert page.locator("article.case").count() == 1  # the hospital's failed dispatch is not shown
    shot(page, "03-undeliverable")

    case_card.get_by_label("New e-mail address").fill("an.peeters@telenet.be")
    case_card.get_by_role("button", name="Resend by e-mail").click()
    page.wait_for_url(f"{base_url}/admin/undeliverable?resent=*")
    assert page.get_by_role("status").inner_text() == "Queued again for an.peeters@telenet.be"
    assert page.locator("article.case").count() == 0

    with database.session_scope() as session:
        new = session.scalar(select(Dispatch).where(Dispatch.claim_id == case.claim_id, Dispatch.id.not_in([case.dispatch_id, case.fallback_id])))
        assert (new.channel, new.recipient) == ("email", "an.peeters@telenet.be")

    # The worker picks the new dispatch up and the relay accepts the e-mail: the page shows it sent.
    claim_url = f"{base_url}/admin/claims/{case.claim_id}"
    assert state_shown(page, claim_url, new.id, {"sent", "delivered"}) == "sent"
    new_event = page.locator(f'li[data-kind="dispatch"][data-id="{new.id}"]')
    assert (new_event.locator(".kind").text_content(), new_event.locator("strong").inner_text()) == ("Dispatch by e-mail", "an.peeters@telenet.be")
    assert new_event.locator(".state").inner_text() == "sent"
    old_event = page.locator(f'li[data-kind="dispatch"][data-id="{case.dispatch_id}"]')
    assert "superseded" in old_event.get_attribute("class")
    [message] = [m for m in sink.messages if "an.peeters@telenet.be" in m.recipients]
    mail = email.message_from_bytes(message.data, policy=email.policy.default)
    assert sorted(part.get_filename() for part in mail.iter_attachments()) == [f"{case.document_number}.pdf", f"{case.document_number}.xml"]
    assert mail["Message-ID"] == f"<{new.id}@mail.gateway.example>"
    with database.session_scope() as session:
        sent = session.get(Dispatch, new.id)
        assert (sent.state, sent.attempt_count, sent.provider_message_id) == ("sent", 1, f"<{new.id}@mail.gateway.example>")
    shot(page, "04-claim")

    page.get_by_role("link", name="Search").click()
    page.get_by_role("searchbox").fill("janssens")
    page.get_by_role("button", name="Search").click()
    assert page.locator("#results tbody tr").count() == 1
    assert page.locator("#results tbody tr a").inner_text() == "F2026-0100"
    shot(page, "05-search")
    context.close()


def test_claim_page_is_readable_on_a_phone_and_another_creditors_claim_is_not_found(browser, served):
    base_url, _, case = served
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=1, is_mobile=True, has_touch=True, locale="nl-BE")
    page = context.new_page()
    page.goto(f"{base_url}/admin/signin")
    page.get_by_label("E-mailadres").fill("viewer@gent.be")
    page.get_by_label("Wachtwoord").fill(PASSWORD)
    page.get_by_role("button", name="Aanmelden").click()
    page.wait_for_url(f"{base_url}/admin/dashboard")
    assert page.locator("h1").inner_text() == "Overzicht"

    page.goto(f"{base_url}/admin/claims/{case.claim_id}")
    assert page.locator("#timeline li").count() == 10
    # Nothing wider than the phone's screen: no sideways scrolling.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "06-claim-phone")

    response = page.goto(f"{base_url}/admin/claims/{case.hospital_claim_id}")
    assert response.status == 404
    assert page.get_by_role("alert").inner_text() == "Niet gevonden."
    context.close()


PHONE = {"width": 390, "height": 844}


def no_sideways_scroll(page) -> tuple[int, int]:
    """(the page's scroll width, the viewport's width): equal or less means nothing sticks out sideways."""
    return tuple(page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]"))


@pytest.mark.parametrize("language", ["nl", "fr"])  # French labels run longest
def test_every_admin_page_fits_a_phone_without_sideways_scrolling(browser, served, language):
    from tests.web.test_escalations_http import escalate_claim

    base_url, database, case = served
    escalate_claim(database, "F2026-0900")
    escalate_claim(database, "F2026-0901")
    context = browser.new_context(viewport=PHONE, device_scale_factor=1, is_mobile=True, has_touch=True, locale=f"{language}-BE")
    page = context.new_page()
    page.goto(f"{base_url}/admin/lang/{language}?next=/admin/signin")
    widths = {"sign-in": no_sideways_scroll(page)}
    page.locator('input[name="email"]').fill("director@gent.be")
    page.locator('input[name="password"]').fill(PASSWORD)
    page.locator('form.stack button[type="submit"]').click()
    page.wait_for_url(f"{base_url}/admin/dashboard")
    widths["dashboard"] = no_sideways_scroll(page)
    shot(page, f"phone-dashboard-{language}", in_readme=language == "nl")
    for name, path in (("undeliverable", "/admin/undeliverable"), ("escalations", "/admin/escalations"), ("search", "/admin/search?q=janssens"),
                       ("claim", f"/admin/claims/{case.claim_id}")):
        page.goto(f"{base_url}{path}")
        widths[name] = no_sideways_scroll(page)
        shot(page, f"phone-{name}-{language}", in_readme=False)
    assert page.locator("#timeline li").count() > 0  # the pages were the real ones, signed in
    assert widths == {name: (390, 390) for name in ("sign-in", "dashboard", "undeliverable", "escalations", "search", "claim")}
    context.close()
