"""Escalation lists in a real headless Chromium (Debian's /usr/bin/chromium driven by Playwright),
against a uvicorn server on 127.0.0.1: a clerk reads the list but cannot approve; the financial
director approves the whole list in one action and downloads the PDF for the bailiff. Saves the
escalations.png screenshot (tests/web/shots.py).
"""

from __future__ import annotations

import re
import shutil
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from gateway.app import create_app
from gateway.config import Settings
from gateway.store.models import EscalationEntry
from gateway.store.session import Database
from tests.web.seed import PASSWORD, seed_admin_world
from tests.web.test_browser import Server, browser, shot  # noqa: F401  (browser is a fixture)
from tests.web.test_escalations_http import PROOF, escalate_claim, evidence, pdf_lines


BRUSSELS = ZoneInfo("Europe/Brussels")


@pytest.fixture
def served(tmp_path, sqlite_template, standards_dir):
    path = tmp_path / "gateway.sqlite"
    shutil.copy(sqlite_template, path)
    database = Database(f"sqlite:///{path}")
    seed_admin_world(database, standards_dir)
    entry_ids = (escalate_claim(database, "F2026-0900"), escalate_claim(database, "F2026-0901"))
    settings = Settings(database_url=database.url, standards_dir=tmp_path / "no-standards")
    with Server(create_app(settings, database=database)) as base_url:
        yield base_url, database, entry_ids
    database.dispose()


def sign_in(browser, base_url: str, email: str):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB", accept_downloads=True)
    page = context.new_page()
    page.goto(f"{base_url}/admin/lang/en?next=/admin/escalations")
    page.wait_for_url(f"{base_url}/admin/signin?next=*")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base_url}/admin/escalations")
    return context, page


def test_clerk_cannot_approve_and_the_director_approves_the_list_and_downloads_the_pdf(browser, served):
    base_url, database, (entry_id, second_id) = served
    card_selector = f"#entry-{entry_id}"
    list_selector = "#list-dwangbevel-college_van_burgemeester_en_schepenen"

    context, page = sign_in(browser, base_url, "clerk@gent.be")
    card = page.locator(card_selector)
    assert card.locator("h3 a").inner_text() == "F2026-0900"
    assert card.locator(".reminder").inner_text() == f"step 2 · registered letter · {PROOF}"
    assert page.locator("#read-only").inner_text() == "Read only: only the financial director approves lists."
    assert page.locator("article.entry").count() == 2 and page.get_by_role("button", name="Approve").count() == 0
    # Even a hand-made POST with the clerk's own valid CSRF token is refused.
    token = page.locator('form[action="/admin/signout"] input[name="csrf_token"]').get_attribute("value")
    refused = page.request.post(f"{base_url}/admin/escalations/approve-list", form={"csrf_token": token, "kind": "dwangbevel",
                                "approving_body": "college_van_burgemeester_en_schepenen", "entry_id": str(entry_id)}, max_redirects=0)
    assert refused.status == 403
    assert evidence(database, entry_id)["status"] == "pending"
    context.close()

    context, page = sign_in(browser, base_url, "director@gent.be")
    listed = page.locator(list_selector)
    approve_list = listed.locator("form.approve-list")
    approve_list.get_by_label("Decision reference").fill("college 2027-02-08, besluit 14")
    approve_list.get_by_role("button", name="Approve the whole list (2 claims)").click()
    page.wait_for_url(re.compile(r".*/admin/escalations\?approved=F2026-0900%2C%20F2026-0901.*"))
    assert page.get_by_role("status").inner_text() == "Approved: F2026-0900, F2026-0901"
    by = "director@gent.be (college 2027-02-08, besluit 14)"
    facts = evidence(database, entry_id)
    assert (facts["status"], facts["approved_by"]) == ("approved", by)
    assert (evidence(database, second_id)["status"], evidence(database, second_id)["approved_by"]) == ("approved", by)
    assert [text for text in page.locator("article.entry .status").all_inner_texts()] == ["approved", "approved"]
    assert page.locator(card_selector).locator(".approval").inner_text() == f"{by} · {facts['approved_at'].astimezone(BRUSSELS):%Y-%m-%d %H:%M:%S %Z}"
    assert page.locator("form.approve-list").count() == 0 and page.get_by_role("button", name="Approve").count() == 0
    shot(page, "escalations")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="PDF for the bailiff").click()
    download = download_info.value
    assert download.suggested_filename == "escalations-dwangbevel-college_van_burgemeester_en_schepenen.pdf"
    lines = pdf_lines(open(download.path(), "rb").read())
    assert "Claim F2026-0900 · Bakkerij Janssens BV (D-1)" in lines and "Claim F2026-0901 · Bakkerij Janssens BV (D-1)" in lines
    assert lines.count(f"Approved by {by} at {facts['approved_at'].isoformat()}") == 2 and "Not approved yet" not in lines
    assert "Totals claims 2 total 214.42 paid 0.00 open 214.42 fees 0.00" in lines
    context.close()
    with database.session_scope() as session:
        assert session.scalars(select(EscalationEntry.status).order_by(EscalationEntry.created_at)).all() == ["approved", "approved"]
