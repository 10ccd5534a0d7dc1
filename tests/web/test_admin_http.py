"""Admin pages over HTTP (TestClient) on SQLite and PostgreSQL: sign-in, CSRF, roles, isolation, resend."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from gateway.app import create_app
from gateway.store.models import AdminSession, AdminUser, AuditEvent, Debtor, Dispatch, Job
from gateway.web import account
from tests.web.seed import PASSWORD, seed_admin_world


@pytest.fixture
def case(database, standards_dir):
    return seed_admin_world(database, standards_dir)


@pytest.fixture
def client(settings, database):
    with TestClient(create_app(settings, database=database)) as test_client:
        yield test_client


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def sign_in(client: TestClient, email: str, password: str = PASSWORD):
    page = client.get("/admin/signin")
    return client.post("/admin/signin", data={"email": email, "password": password, "csrf_token": csrf_of(page.text), "next": "/admin/dashboard"}, follow_redirects=False)


def signed_in(client: TestClient, email: str) -> str:
    """Sign in and return the session's CSRF token (read from a rendered form)."""
    response = sign_in(client, email)
    assert response.status_code == 303 and response.headers["location"] == "/admin/dashboard"
    return csrf_of(client.get("/admin/undeliverable").text)


def count(database, model) -> int:
    with database.session_scope() as session:
        return session.scalar(select(func.count()).select_from(model))


# The seed's dispatches: per claim (ocmw-gent's and the hospital's) the bounced e-mail and the paper letter the worker queued after it.
SEEDED_DISPATCHES = 4


def test_password_is_stored_as_argon2id_and_the_session_cookie_is_http_only_and_lax(client, case, database):
    with database.session_scope() as session:
        stored = session.scalar(select(AdminUser.password_hash).where(AdminUser.email == "clerk@gent.be"))
    assert stored.startswith("$argon2id$") and PASSWORD not in stored

    response = sign_in(client, "clerk@gent.be")
    assert response.status_code == 303
    cookie = next(value for name, value in response.headers.multi_items() if name == "set-cookie" and value.startswith("gw_admin="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/admin" in cookie
    assert "Secure" not in cookie  # public_base_url is plain http on localhost
    token = cookie.split(";")[0].split("=", 1)[1]
    with database.session_scope() as session:
        assert session.scalar(select(func.count()).select_from(AdminSession).where(AdminSession.token_hash == token)) == 0  # only the hash is stored
    assert count(database, AdminSession) == 1


def test_session_cookie_is_secure_when_served_over_https(settings, database, case):
    app = create_app(settings.model_copy(update={"public_base_url": "https://gateway.example"}), database=database)
    with TestClient(app, base_url="https://testserver") as https_client:
        response = sign_in(https_client, "clerk@gent.be")
    cookie = next(value for name, value in response.headers.multi_items() if name == "set-cookie" and value.startswith("gw_admin="))
    assert "Secure" in cookie


def test_wrong_password_unknown_user_and_disabled_user_are_refused_alike(client, case, database):
    for email, password in (("clerk@gent.be", "wrong password!"), ("nobody@gent.be", PASSWORD)):
        response = sign_in(client, email, password)
        assert response.status_code == 401
        assert "E-mailadres of wachtwoord klopt niet." in response.text
    with database.session_scope() as session:
        session.scalar(select(AdminUser).where(AdminUser.email == "viewer@gent.be")).disabled = True
    assert sign_in(client, "viewer@gent.be").status_code == 401
    assert count(database, AdminSession) == 0


def test_pages_redirect_to_sign_in_without_a_session(client, case):
    for path in ("/admin/dashboard", "/admin/undeliverable", f"/admin/claims/{case.claim_id}", "/admin/search?q=x", f"/admin/documents/{case.document_id}"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/admin/signin?next=%2Fadmin%2F"), path


def test_sign_in_without_the_csrf_cookie_is_refused(client, case, database):
    page = client.get("/admin/signin")
    client.cookies.clear()
    response = client.post("/admin/signin", data={"email": "clerk@gent.be", "password": PASSWORD, "csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert response.status_code == 403
    assert count(database, AdminSession) == 0


def test_resend_without_or_with_a_wrong_csrf_token_changes_nothing(client, case, database):
    signed_in(client, "clerk@gent.be")
    for data in ({"value": "an.peeters@telenet.be"}, {"value": "an.peeters@telenet.be", "csrf_token": "forged"}):
        response = client.post(f"/admin/undeliverable/{case.dispatch_id}/resend", data=data, follow_redirects=False)
        assert response.status_code == 403
    assert count(database, Dispatch) == SEEDED_DISPATCHES
    with database.session_scope() as session:
        assert [c.value for c in session.get(Debtor, case.debtor_id).contacts] == ["an.peeters@telenet.bee"]


def test_viewer_sees_the_queue_but_may_not_resend(client, case, database):
    jobs_before = count(database, Job)
    csrf = signed_in(client, "viewer@gent.be")
    page = client.get("/admin/undeliverable")
    assert page.status_code == 200
    assert "an.peeters@telenet.bee" in page.text and "550 5.1.1 mailbox unavailable" in page.text
    assert f"/admin/undeliverable/{case.dispatch_id}/resend" not in page.text  # no form for a viewer
    response = client.post(f"/admin/undeliverable/{case.dispatch_id}/resend", data={"value": "an.peeters@telenet.be", "csrf_token": csrf}, follow_redirects=False)
    assert response.status_code == 403
    assert "Dat mag uw rol niet." in response.text
    assert count(database, Dispatch) == SEEDED_DISPATCHES and count(database, Job) == jobs_before  # nothing queued


@pytest.mark.parametrize("email", ["clerk@gent.be", "director@gent.be"])
def test_clerk_and_director_fix_the_email_and_resend(client, case, database, email):
    csrf = signed_in(client, email)
    response = client.post(f"/admin/undeliverable/{case.dispatch_id}/resend", data={"value": "an.peeters@telenet.be", "csrf_token": csrf}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/undeliverable?resent=an.peeters%40telenet.be"

    with database.session_scope() as session:
        old = session.get(Dispatch, case.dispatch_id)
        new = session.scalar(select(Dispatch).where(Dispatch.claim_id == case.claim_id, Dispatch.id.not_in([case.dispatch_id, case.fallback_id])))
        assert (old.state, old.recipient) == ("failed_permanent", "an.peeters@telenet.bee")
        assert (new.state, new.channel, new.recipient, new.document_id, new.attempt_count) == ("queued", "email", "an.peeters@telenet.be", case.document_id, 0)
        assert [c.value for c in session.get(Debtor, case.debtor_id).contacts] == ["an.peeters@telenet.be"]
        job = session.scalar(select(Job).where(Job.kind == "dispatch.transmit", Job.payload["dispatch_id"].as_string() == str(new.id)))
        assert (job.payload, job.dedup_key, job.state) == ({"dispatch_id": str(new.id)}, f"dispatch.transmit:{new.id}:1", "pending")
        superseded = session.scalars(select(AuditEvent).where(AuditEvent.entity_id == case.dispatch_id)).all()
        assert [(e.action, e.actor, e.data["by"]) for e in superseded] == [("dispatch.superseded", f"admin:{email}", str(new.id))]
        actions = session.scalars(select(AuditEvent.action).where(AuditEvent.entity_id == case.debtor_id).order_by(AuditEvent.id)).all()
        assert actions[-2:] == ["contact.removed", "contact.added"]

    queue_page = client.get("/admin/undeliverable?resent=an.peeters%40telenet.be")
    assert f'id="dispatch-{case.dispatch_id}"' not in queue_page.text  # superseded: off the queue
    claim_page = client.get(f"/admin/claims/{case.claim_id}")
    assert f'data-id="{new.id}"' in claim_page.text and "state-queued" in claim_page.text
    assert '<span class="kind">Opnieuw verstuurd</span>' in claim_page.text  # dispatch.resent, in the user's language (nl)

    again = client.post(f"/admin/undeliverable/{case.dispatch_id}/resend", data={"value": "an.other@telenet.be", "csrf_token": csrf})
    assert again.status_code == 409
    assert count(database, Dispatch) == SEEDED_DISPATCHES + 1


def test_a_malformed_email_is_refused_and_nothing_changes(client, case, database):
    csrf = signed_in(client, "clerk@gent.be")
    response = client.post(f"/admin/undeliverable/{case.dispatch_id}/resend", data={"value": "not-an-address", "csrf_token": csrf})
    assert response.status_code == 422
    assert 'class="problem"' in response.text
    assert count(database, Dispatch) == SEEDED_DISPATCHES


def test_another_creditors_claim_document_and_dispatch_are_404(client, case, database):
    csrf = signed_in(client, "clerk@gent.be")
    assert client.get(f"/admin/claims/{case.hospital_claim_id}").status_code == 404
    assert client.get(f"/admin/claims/{case.claim_id}").status_code == 200  # ocmw-gent is gent's child
    response = client.post(f"/admin/undeliverable/{case.hospital_dispatch_id}/resend", data={"value": "jan@azpatient.com", "csrf_token": csrf})
    assert response.status_code == 404
    assert count(database, Dispatch) == SEEDED_DISPATCHES
    queue_page = client.get("/admin/undeliverable").text
    assert "jan@azpatient.be" not in queue_page and "an.peeters@telenet.bee" in queue_page

    client.cookies.clear()
    signed_in(client, "clerk@azsintjan.be")
    assert client.get(f"/admin/claims/{case.claim_id}").status_code == 404
    assert client.get(f"/admin/documents/{case.document_id}").status_code == 404
    assert client.get(f"/admin/documents/{case.invalid_document_id}").status_code == 404
    assert client.get("/admin/search", params={"q": "F2026-0100"}).text.count("/admin/claims/") == 0


def test_claim_page_shows_the_timeline_in_time_order_and_the_ubl_downloads(client, case):
    signed_in(client, "viewer@gent.be")
    page = client.get(f"/admin/claims/{case.claim_id}")
    assert page.status_code == 200
    kinds = re.findall(r'data-kind="(\w+)"', page.text)
    # at intake: the claim and its audit (debtor.created, contact.added); the worker routes it (claim.routed), issues it and queues
    # the e-mail; the try; the bounce makes the worker mark the address (contact.invalidated), queue the paper letter and say so
    # (dispatch.fallback). claim.created and document.issued are the claim's and the document's own rows.
    assert kinds == ["claim", "audit", "audit", "audit", "document", "dispatch", "attempt", "dispatch", "audit", "audit"]
    assert "550 5.1.1 mailbox unavailable (hard bounce)" in page.text and 'href="/admin/documents/' in page.text
    times = re.findall(r'<time datetime="([^"]+)"', page.text)
    assert times == sorted(times)
    download = client.get(f"/admin/documents/{case.document_id}")
    assert download.status_code == 200
    assert download.headers["content-disposition"] == 'attachment; filename="INV000001.xml"'
    assert download.content.startswith(b"<?xml") and b"<cbc:ID>INV000001</cbc:ID>" in download.content


def dashboard_counts(html: str) -> dict[str, dict[str, str]]:
    table = html.split('id="dispatch-counts"')[1].split("</table>")[0]
    return {row: dict(re.findall(r'data-state="(\w+)">(\d+)<', cells)) for row, cells in re.findall(r'<tr data-channel="(\w+)">(.*?)</tr>', table)}


def section(html: str, section_id: str) -> str:
    return html.split(f'id="{section_id}"')[1].split("</section>")[0]


def test_dashboard_counts_dispatches_by_channel_and_state_and_lists_the_cases(client, case):
    signed_in(client, "viewer@gent.be")
    client.get("/admin/lang/en")
    page = client.get("/admin/dashboard")
    assert page.status_code == 200
    # ocmw-gent's bounced e-mail and the paper letter the worker queued after it; not the hospital's
    assert dashboard_counts(page.text) == {"email": {"queued": "0", "failed_permanent": "1"}, "paper": {"queued": "1", "failed_permanent": "0"}}
    assert "<svg" in page.text and "<title>e-mail · failed (permanent): 1</title>" in page.text and "<title>letter · queued: 1</title>" in page.text
    assert '<tr data-channel="email"><th scope="row">e-mail</th>' in page.text and '<span class="dot" style="background:#c2410c"></span>failed (permanent)</th>' in page.text
    assert "F2026-0100" in section(page.text, "undeliverable")
    empty = client.get("/admin/dashboard", params={"start": "2020-01-01", "end": "2020-01-31"})
    assert 'id="dispatch-counts"' not in empty.text
    assert '<span class="badge">0</span>' in section(empty.text, "invalid")


def test_dashboard_shows_the_validators_rule_ids_and_the_documents_refused_before_storage(client, case):
    signed_in(client, "viewer@gent.be")
    client.get("/admin/lang/en")
    invalid = section(client.get("/admin/dashboard").text, "invalid")
    assert '<h2>Documents that failed validation <span class="badge">2</span></h2>' in invalid
    # The stored invoice, with the official rules it broke (as the validator reported them, key `rule`) ...
    assert re.sub(r' title="[^"]*"', "", invalid.split(f'<li data-document="{case.invalid_document_number}">')[1].split("</li>")[0]) == (
        f'<a href="/admin/claims/{case.invalid_claim_id}">{case.invalid_document_number}</a> · F2026-0102'
        ' · <span class="rule">BR-CO-15</span> · <span class="rule">BR-CO-16</span>'
    )
    assert 'title="[BR-CO-15]-Invoice total amount with VAT (BT-112) = Invoice total amount without VAT (BT-109) + Invoice total VAT amount (BT-110). (at /Invoice[1])"' in invalid
    # ... and the claim whose invoice was refused before anything was stored (audit document.refused).
    assert (
        f'<li data-refused="F2026-0101"><a href="/admin/claims/{case.refused_claim_id}">F2026-0101</a> · refused before issue · <span class="rule">PEPPOL-EN16931-R003</span>'
        '<div class="detail">[PEPPOL-EN16931-R003] a buyer reference or an order reference must be given</div></li>'
    ) in invalid
    assert invalid.count("<li ") == 2


def test_dashboard_period_counts_exactly_the_dispatches_of_the_chosen_days(client, case, database, standards_dir):
    from datetime import timedelta

    from gateway.kit.time import brussels_today, utc_now
    from tests.web.seed import failed_email_claim, seed_settings

    earlier = utc_now() - timedelta(days=40)
    failed_email_claim(database, seed_settings(database, standards_dir), "gent", "F2026-0040", "boekhouding@janssens.be", now=earlier)
    day = brussels_today(earlier)
    signed_in(client, "viewer@gent.be")
    # The default period, the last 30 days: only the recent claim.
    assert dashboard_counts(client.get("/admin/dashboard").text) == {"email": {"queued": "0", "failed_permanent": "1"}, "paper": {"queued": "1", "failed_permanent": "0"}}
    # The day of the earlier claim alone, then a period holding both.
    one_day = client.get("/admin/dashboard", params={"start": day.isoformat(), "end": day.isoformat()}).text
    assert dashboard_counts(one_day) == {"email": {"queued": "0", "failed_permanent": "1"}, "paper": {"queued": "1", "failed_permanent": "0"}}
    assert f'value="{day.isoformat()}"' in one_day
    assert "F2026-0040" in section(one_day, "undeliverable")  # the queue has no period: every open case
    both = client.get("/admin/dashboard", params={"start": (day - timedelta(days=1)).isoformat(), "end": brussels_today().isoformat()}).text
    assert dashboard_counts(both) == {"email": {"queued": "0", "failed_permanent": "2"}, "paper": {"queued": "2", "failed_permanent": "0"}}
    assert "<title>e-mail · definitief mislukt: 2</title>" in both  # the viewer reads Dutch
    # Start and end the wrong way round are taken as the same period.
    swapped = client.get("/admin/dashboard", params={"start": brussels_today().isoformat(), "end": (day - timedelta(days=1)).isoformat()}).text
    assert dashboard_counts(swapped) == dashboard_counts(both)
    # The day after the earlier claim: nothing.
    assert 'id="dispatch-counts"' not in client.get("/admin/dashboard", params={"start": (day + timedelta(days=1)).isoformat(), "end": (day + timedelta(days=2)).isoformat()}).text


def test_dashboard_lists_the_claims_on_hold_with_the_kind_reason_and_dates(client, case, database):
    from gateway.dunning import service
    from gateway.dunning.rules import HoldKind
    from gateway.kit.time import utc_now
    from tests.web.seed import _principal

    today = service.local_today(utc_now())
    with database.session_scope() as session:
        principal = _principal(session, "gent")
        service.add_hold(session, principal, case.claim_id, kind=HoldKind.DEBT_MEDIATION, reason="collectieve schuldenregeling aangevraagd", author="clerk@gent.be",
                         starts_on=today, ends_on=None, today=today, now=utc_now())
        service.add_hold(session, principal, case.invalid_claim_id, kind=HoldKind.MANUAL, reason="wacht op creditnota", author="clerk@gent.be",
                         starts_on=today, ends_on=today + timedelta(days=14), today=today, now=utc_now())
        # Not listed: a hold that starts next week, and the hospital's.
        service.add_hold(session, principal, case.refused_claim_id, kind=HoldKind.MANUAL, reason="later", author="clerk@gent.be",
                         starts_on=today + timedelta(days=7), ends_on=None, today=today, now=utc_now())
        service.add_hold(session, _principal(session, "az-sint-jan"), case.hospital_claim_id, kind=HoldKind.DISPUTE, reason="not ours", author="clerk@azsintjan.be",
                         starts_on=today, ends_on=None, today=today, now=utc_now())
    signed_in(client, "viewer@gent.be")
    client.get("/admin/lang/en")
    on_hold = section(client.get("/admin/dashboard").text, "on-hold")
    assert '<h2>Claims on hold <span class="badge">2</span></h2>' in on_hold
    assert re.findall(r"<li .*?</li>", on_hold) == [
        f'<li data-kind="debt_mediation"><a href="/admin/claims/{case.claim_id}">F2026-0100</a> · <strong>Debt mediation</strong> · Bakkerij Janssens BV · 107.21 EUR · Since {today.isoformat()}'
        '<div class="detail">collectieve schuldenregeling aangevraagd</div></li>',
        f'<li data-kind="manual"><a href="/admin/claims/{case.invalid_claim_id}">F2026-0102</a> · <strong>Manual</strong> · Drukkerij Verstraete NV · 107.21 EUR · Since {today.isoformat()}'
        f' · until {(today + timedelta(days=14)).isoformat()}<div class="detail">wacht op creditnota</div></li>',
    ]


@pytest.mark.parametrize(
    ("query", "found"),
    [("F2026-0100", True), ("janssens", True), ("0403.019.261", True), ("telenet.bee", True), ("nothing-like-this", False)],
)
def test_search_finds_a_claim_by_number_name_enterprise_number_and_email(client, case, database, query, found):
    signed_in(client, "viewer@gent.be")
    page = client.get("/admin/search", params={"q": query})
    assert (f"/admin/claims/{case.claim_id}" in page.text) is found
    assert f"/admin/claims/{case.hospital_claim_id}" not in page.text


def test_search_by_ogm(client, case, database):
    signed_in(client, "viewer@gent.be")
    page = client.get(f"/admin/claims/{case.claim_id}")
    ogm = re.search(r"<code>(\+\+\+[0-9/]+\+\+\+)</code>", page.text).group(1)
    assert f"/admin/claims/{case.claim_id}" in client.get("/admin/search", params={"q": ogm}).text


def test_sign_out_ends_the_session_and_needs_the_csrf_token(client, case, database):
    csrf = signed_in(client, "viewer@gent.be")
    assert client.post("/admin/signout", data={"csrf_token": "forged"}, follow_redirects=False).status_code == 403
    response = client.post("/admin/signout", data={"csrf_token": csrf}, follow_redirects=False)
    assert response.status_code == 303
    with database.session_scope() as session:
        assert session.scalar(select(AdminSession.ended_at)) is not None
    assert client.get("/admin/dashboard", follow_redirects=False).status_code == 303


def test_language_switch_changes_the_page_language(client, case):
    signed_in(client, "viewer@gent.be")
    assert "<h1>Overzicht</h1>" in client.get("/admin/dashboard").text
    client.get("/admin/lang/fr?next=/admin/dashboard")
    assert "<h1>Tableau de bord</h1>" in client.get("/admin/dashboard").text
    client.get("/admin/lang/en?next=https://evil.example/")
    assert "<h1>Dashboard</h1>" in client.get("/admin/dashboard").text
    assert client.get("/admin/lang/nl?next=https://evil.example/", follow_redirects=False).headers["location"] == "/admin/dashboard"


def test_create_user_refuses_a_short_password_an_unknown_role_and_a_taken_email(database, case):
    from gateway.errors import GatewayError
    from gateway.kit.time import utc_now

    for kwargs in (
        {"email": "new@gent.be", "password": "short", "creditor_code": "gent", "role": "clerk"},
        {"email": "new@gent.be", "password": PASSWORD, "creditor_code": "gent", "role": "admin"},
        {"email": "Clerk@Gent.be", "password": PASSWORD, "creditor_code": "gent", "role": "clerk"},
        {"email": "new@gent.be", "password": PASSWORD, "creditor_code": "nowhere", "role": "clerk"},
    ):
        with pytest.raises(GatewayError), database.session_scope() as session:
            account.create_user(session, kwargs.pop("email"), kwargs.pop("password"), now=utc_now(), **kwargs)
    assert count(database, AdminUser) == 4


def test_a_returned_letter_is_fixed_by_the_address_and_resent_on_paper(client, case, database):
    # The paper letter the worker sent after the bounce comes back: addressee unknown.
    with database.session_scope() as session:
        letter = session.get(Dispatch, case.fallback_id)
        letter.state, letter.last_error = "failed_permanent", "returned: addressee unknown"
    csrf = signed_in(client, "clerk@gent.be")
    response = client.post(
        f"/admin/undeliverable/{case.fallback_id}/resend", data={"street": "Veldstraat 12", "postal_code": "9000", "city": "Gent", "country": "BE", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert response.status_code == 303
    with database.session_scope() as session:
        debtor = session.get(Debtor, case.debtor_id)
        assert (debtor.street, debtor.postal_code, debtor.city) == ("Veldstraat 12", "9000", "Gent")
        new = session.scalar(select(Dispatch).where(Dispatch.claim_id == case.claim_id, Dispatch.channel == "paper", Dispatch.state == "queued"))
        assert (new.recipient, new.document_id) == ("Veldstraat 12, 9000 Gent, BE", case.document_id)


def test_clerk_closes_a_case_as_unreachable_and_a_viewer_may_not(client, case, database):
    viewer_csrf = signed_in(client, "viewer@gent.be")
    assert client.post(f"/admin/undeliverable/{case.dispatch_id}/unreachable", data={"csrf_token": viewer_csrf}).status_code == 403
    client.cookies.clear()
    csrf = signed_in(client, "clerk@gent.be")
    assert client.post(f"/admin/undeliverable/{case.dispatch_id}/unreachable", data={}).status_code == 403  # no CSRF token
    response = client.post(f"/admin/undeliverable/{case.dispatch_id}/unreachable", data={"csrf_token": csrf}, follow_redirects=False)
    assert response.status_code == 303
    assert f'id="dispatch-{case.dispatch_id}"' not in client.get("/admin/undeliverable").text
    with database.session_scope() as session:
        actions = session.scalars(select(AuditEvent.action).where(AuditEvent.entity_id.in_([case.dispatch_id, case.claim_id])).order_by(AuditEvent.id)).all()
        assert actions == ["claim.created", "claim.routed", "document.issued", "dispatch.fallback", "dispatch.closed_unreachable", "dispatch.marked_unreachable"]
    assert count(database, Dispatch) == SEEDED_DISPATCHES  # nothing new is sent
    # closed cases can be neither resent nor closed twice
    assert client.post(f"/admin/undeliverable/{case.dispatch_id}/resend", data={"value": "an.peeters@telenet.be", "csrf_token": csrf}).status_code == 409
    assert client.post(f"/admin/undeliverable/{case.hospital_dispatch_id}/unreachable", data={"csrf_token": csrf}).status_code == 404
