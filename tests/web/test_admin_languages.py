"""The admin pages in Dutch, French and English, on SQLite and PostgreSQL: delivery states, claim
statuses, channels, audit actions and their labels translated on the claim page and the dashboard;
times in Brussels time with the zone; the language choice stored on the account.
"""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from gateway.app import create_app
from gateway.store.models import AdminUser, Claim
from tests.web.seed import seed_admin_world
from tests.web.test_admin_http import sign_in, signed_in

BRUSSELS = ZoneInfo("Europe/Brussels")

# Per language: the claim page (status, the e-mail dispatch, its state, the routing audit, a detail label, the zone note)
# and the dashboard (a state column, a channel row, the refused document).
EXPECTED = {
    "nl": {
        "status": '<span class="status status-open">open</span></h1>',
        "dispatch": '<span class="kind">Verzending per e-mail</span>',
        "state": '<span class="state state-failed_permanent">definitief mislukt</span>',
        "routed": '<span class="kind">Kanaal gekozen</span>',
        "label": "kanaal: e-mail · ontvanger: an.peeters@telenet.bee · reden: business debtor without Peppol id: e-mail with PDF and UBL · door: worker",
        "zone": '<p class="muted">Tijden in Belgische tijd (Europe/Brussels).</p>',
        "column": '<span class="dot" style="background:#c2410c"></span>definitief mislukt</th>',
        "row": '<tr data-channel="paper"><th scope="row">brief</th>',
        "refused": "F2026-0101</a> · geweigerd vóór uitgifte",
    },
    "fr": {
        "status": '<span class="status status-open">ouverte</span></h1>',
        "dispatch": '<span class="kind">Envoi par e-mail</span>',
        "state": '<span class="state state-failed_permanent">échec définitif</span>',
        "routed": '<span class="kind">Canal choisi</span>',
        "label": "canal : e-mail · destinataire : an.peeters@telenet.bee · motif : business debtor without Peppol id: e-mail with PDF and UBL · par : worker",
        "zone": "<p class=\"muted\">Heures à l&#39;heure belge (Europe/Brussels).</p>",
        "column": '<span class="dot" style="background:#c2410c"></span>échec définitif</th>',
        "row": '<tr data-channel="paper"><th scope="row">courrier</th>',
        "refused": "F2026-0101</a> · refusé avant émission",
    },
    "en": {
        "status": '<span class="status status-open">open</span></h1>',
        "dispatch": '<span class="kind">Dispatch by e-mail</span>',
        "state": '<span class="state state-failed_permanent">failed (permanent)</span>',
        "routed": '<span class="kind">Channel chosen</span>',
        "label": "channel: e-mail · recipient: an.peeters@telenet.bee · reason: business debtor without Peppol id: e-mail with PDF and UBL · by: worker",
        "zone": '<p class="muted">Times in Belgian time (Europe/Brussels).</p>',
        "column": '<span class="dot" style="background:#c2410c"></span>failed (permanent)</th>',
        "row": '<tr data-channel="paper"><th scope="row">letter</th>',
        "refused": "F2026-0101</a> · refused before issue",
    },
}


@pytest.fixture
def case(database, standards_dir):
    return seed_admin_world(database, standards_dir)


@pytest.fixture
def app(settings, database):
    return create_app(settings, database=database)


def stored_language(database, email: str) -> str:
    with database.session_scope() as session:
        return session.scalar(select(AdminUser.language).where(AdminUser.email == email))


@pytest.mark.parametrize("language", ["nl", "fr", "en"])
def test_claim_page_and_dashboard_in_each_language_with_brussels_times(app, case, database, language):
    with TestClient(app) as client:
        signed_in(client, "viewer@gent.be")
        assert client.get(f"/admin/lang/{language}", params={"next": "/admin/dashboard"}, follow_redirects=False).status_code == 303
        assert stored_language(database, "viewer@gent.be") == language
        claim_page = client.get(f"/admin/claims/{case.claim_id}").text
        dashboard = client.get("/admin/dashboard").text
    expected = EXPECTED[language]
    assert f'<html lang="{language}">' in claim_page
    for key in ("status", "dispatch", "state", "routed", "zone"):
        assert expected[key] in claim_page, key
    assert f'<div class="detail">{expected["label"]}</div>' in claim_page
    for key in ("column", "row", "refused"):
        assert expected[key] in dashboard, key
    # The claim's creation, in Brussels time with its zone (CET in winter, CEST in summer).
    with database.session_scope() as session:
        created = session.get(Claim, case.claim_id).created_at
    assert f'<time datetime="{created.isoformat()}">{created.astimezone(BRUSSELS):%Y-%m-%d %H:%M:%S %Z}</time>' in claim_page
    assert re.search(r"<time [^>]+>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d CES?T</time>", claim_page)


def test_the_language_is_stored_on_the_account_and_follows_the_user_to_another_browser(app, case, database):
    with TestClient(app) as first:
        signed_in(first, "clerk@gent.be")
        assert stored_language(database, "clerk@gent.be") == "nl"
        first.get("/admin/lang/fr")
    assert stored_language(database, "clerk@gent.be") == "fr"
    with TestClient(app) as second:  # no cookie, a Dutch browser: the account's choice wins once signed in
        second.headers["Accept-Language"] = "nl-BE,nl;q=0.9"
        assert "<h1>Aanmelden</h1>" in second.get("/admin/signin").text
        signed_in(second, "clerk@gent.be")
        assert "<h1>Tableau de bord</h1>" in second.get("/admin/dashboard").text
    assert stored_language(database, "viewer@gent.be") == "nl"  # another user's choice is their own


def test_a_language_picked_on_the_sign_in_page_becomes_the_accounts(app, case, database):
    with TestClient(app) as client:
        client.get("/admin/lang/en")  # signed out: only the cookie
        assert stored_language(database, "director@gent.be") == "nl"
        assert "<h1>Sign in</h1>" in client.get("/admin/signin").text
        assert sign_in(client, "director@gent.be").status_code == 303
        assert stored_language(database, "director@gent.be") == "en"
        assert "<h1>Dashboard</h1>" in client.get("/admin/dashboard").text
        client.get("/admin/lang/xx")  # not a language: nothing changes
    assert stored_language(database, "director@gent.be") == "en"
