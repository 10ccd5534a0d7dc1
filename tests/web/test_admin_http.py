"""Admin pages over HTTP (TestClient) on SQLite and PostgreSQL: sign-in, CSRF, roles, isolation, resend."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from gateway.app import create_app
from gateway.store.models import AdminSession, AdminUser, AuditEvent, Debtor, Dispatch, Job
from gateway.web import account
from tests.web.seed import PASSWORD, seed_admin_world


@pytest.fixture
def case(database):
    return seed_admin_world(database)


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
    assert count(database, Dispatch) == 2
    with database.session_scope() as session:
        assert [c.value for c in session.get(Debtor, case.debtor_id).contacts] == ["an.peeters@telenet.bee"]


def test_viewer_sees_the_queue_but_may_not_resend(client, case, database):
    csrf = signed_in(client, "viewer@gent.be")
    page = client.get("/admin/undeliverable")
    assert page.status_code == 200
    assert "an.peeters@telenet.bee" in page.text and "550 5.1.1 mailbox unavailable" in page.text
    assert f"/admin/undeliverable/{case.dispatch_id}/resend" not in page.text  # no form for a viewer
    response = client.post(f"/admin/undeliverable/{case.dispatch_id}/resend", data={"value": "an.peeters@telenet.be", "csrf_token": csrf}, follow_redirects=False)
    assert response.status_code == 403
    assert "Dat mag uw rol niet." in response.text
    assert count(database, Dispatch) == 2 and count(database, Job) == 2  # the two claim.issue jobs only


@pytest.mark.parametrize("email", ["clerk@gent.be", "director@gent.be"])
def test_clerk_and_director_fix_the_email_and_resend(client, case, database, email):
    csrf = signed_in(client, email)
    response = client.post(f"/admin/undeliverable/{case.dispatch_id}/resend", data={"value": "an.peeters@telenet.be", "csrf_token": csrf}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/undeliverable?resent=an.peeters%40telenet.be"

    with database.session_scope() as session:
        old = session.get(Dispatch, case.dispatch_id)
        new = session.scalar(select(Dispatch).where(Dispatch.claim_id == case.claim_id, Dispatch.id != case.dispatch_id))
        assert (old.state, old.recipient) == ("failed_permanent", "an.peeters@telenet.bee")
        assert (new.state, new.channel, new.recipient, new.document_id, new.attempt_count) == ("queued", "email", "an.peeters@telenet.be", case.document_id, 0)
        assert [c.value for c in session.get(Debtor, case.debtor_id).contacts] == ["an.peeters@telenet.be"]
        job = session.scalar(select(Job).where(Job.kind == "dispatch.transmit"))
        assert (job.payload, job.dedup_key, job.state) == ({"dispatch_id": str(new.id)}, f"dispatch.transmit:{new.id}:1", "pending")
        superseded = session.scalars(select(AuditEvent).where(AuditEvent.entity_id == case.dispatch_id)).all()
        assert [(e.action, e.actor, e.data["by"]) for e in superseded] == [("dispatch.superseded", f"admin:{email}", str(new.id))]
        actions = session.scalars(select(AuditEvent.action).where(AuditEvent.entity_id == case.debtor_id).order_by(AuditEvent.id)).all()
        assert actions[-2:] == ["contact.removed", "contact.added"]

    queue_page = client.get("/admin/undeliverable?resent=an.peeters%40telenet.be")
    assert f'id="dispatch-{case.dispatch_id}"' not in queue_page.text  # superseded: off the queue
    claim_page = client.get(f"/admin/claims/{case.claim_id}")
    assert f'data-id="{new.id}"' in claim_page.text and "state-queued" in claim_page.text
    assert "dispatch.resent" in claim_page.text

    again = client.post(f"/admin/undeliverable/{case.dispatch_id}/resend", data={"value": "an.other@telenet.be", "csrf_token": csrf})
    assert again.status_code == 409
    assert count(database, Dispatch) == 3


def test_a_malformed_email_is_refused_and_nothing_changes(client, case, database):
    csrf = signed_in(client, "clerk@gent.be")
    response = client.post(f"/admin/undeliverable/{case.dispatch_id}/resend", data={"value": "not-an-address", "csrf_token": csrf})
    assert response.status_code == 422
    assert 'class="problem"' in response.text
    assert count(database, Dispatch) == 2


def test_another_creditors_claim_document_and_dispatch_are_404(client, case, database):
    csrf = signed_in(client, "clerk@gent.be")
    assert client.get(f"/admin/claims/{case.hospital_claim_id}").status_code == 404
    assert client.get(f"/admin/claims/{case.claim_id}").status_code == 200  # ocmw-gent is gent's child
    response = client.post(f"/admin/undeliverable/{case.hospital_dispatch_id}/resend", data={"value": "jan@azpatient.com", "csrf_token": csrf})
    assert response.status_code == 404
    assert count(database, Dispatch) == 2
    queue_page = client.get("/admin/undeliverable").text
    assert "jan@azpatient.be" not in queue_page and "an.peeters@telenet.bee" in queue_page

    client.cookies.clear()
    signed_in(client, "clerk@azsintjan.be")
    assert client.get(f"/admin/claims/{case.claim_id}").status_code == 404
    assert client.get(f"/admin/documents/{case.document_id}").status_code == 404
    assert client.get("/admin/search", params={"q": "F2026-0100"}).text.count("/admin/claims/") == 0


def test_claim_page_shows_the_timeline_in_time_order_and_the_ubl_downloads(client, case):
    signed_in(client, "viewer@gent.be")
    page = client.get(f"/admin/claims/{case.claim_id}")
    assert page.status_code == 200
    kinds = re.findall(r'data-kind="(\w+)"', page.text)
    # at intake: the claim and its audit (debtor.created, contact.added, claim.created); then issue, send, the failed try
    assert kinds == ["claim", "audit", "audit", "audit", "document", "dispatch", "attempt"]
    assert "550 5.1.1 mailbox unavailable (hard bounce)" in page.text and 'href="/admin/documents/' in page.text
    times = re.findall(r'<time datetime="([^"]+)"', page.text)
    assert times == sorted(times)
    download = client.get(f"/admin/documents/{case.document_id}")
    assert download.status_code == 200
    assert download.headers["content-disposition"] == 'attachment; filename="OCMW-GENT-F-000001.xml"'
    assert download.content.startswith(b"<?xml") and b"GENT-2026-000001" in download.content


def test_dashboard_counts_dispatches_by_channel_and_state_and_lists_the_cases(client, case):
    signed_in(client, "viewer@gent.be")
    page = client.get("/admin/dashboard")
    assert page.status_code == 200
    table = page.text.split('id="dispatch-counts"')[1].split("</table>")[0]
    assert re.findall(r'<th scope="row">(\w+)</th>', table) == ["email"]
    assert re.findall(r'data-state="(\w+)">(\d+)<', table) == [("failed_permanent", "1")]  # not the hospital's
    assert "<svg" in page.text and "email · failed_permanent: 1" in page.text
    assert "OCMW-GENT-F-000001" in page.text.split('id="invalid"')[1].split("</section>")[0]
    assert "F2026-0100" in page.text.split('id="undeliverable"')[1].split("</section>")[0]
    empty = client.get("/admin/dashboard", params={"start": "2020-01-01", "end": "2020-01-31"})
    assert 'id="dispatch-counts"' not in empty.text


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
    from datetime import timedelta

    from gateway.kit.time import utc_now

    with database.session_scope() as session:
        now = utc_now() - timedelta(minutes=1)
        letter = Dispatch(
            document_id=case.document_id, claim_id=case.claim_id, channel="paper", recipient="Markt 1, 9000 Gent, BE", state="failed_permanent",
            idempotency_key="paper-returned", last_error="returned: addressee unknown", created_at=now, updated_at=now,
        )
        session.add(letter)
        session.flush()
        letter_id = letter.id
    csrf = signed_in(client, "clerk@gent.be")
    response = client.post(
        f"/admin/undeliverable/{letter_id}/resend", data={"street": "Veldstraat 12", "postal_code": "9000", "city": "Gent", "country": "BE", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert response.status_code == 303
    with database.session_scope() as session:
        debtor = session.get(Debtor, case.debtor_id)
        assert (debtor.street, debtor.postal_code, debtor.city) == ("Veldstraat 12", "9000", "Gent")
        new = session.scalar(select(Dispatch).where(Dispatch.channel == "paper", Dispatch.state == "queued"))
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
        assert actions == ["claim.created", "dispatch.closed_unreachable", "dispatch.marked_unreachable"]
    assert count(database, Dispatch) == 2  # nothing new is sent
    # closed cases can be neither resent nor closed twice
    assert client.post(f"/admin/undeliverable/{case.dispatch_id}/resend", data={"value": "an.peeters@telenet.be", "csrf_token": csrf}).status_code == 409
    assert client.post(f"/admin/undeliverable/{case.hospital_dispatch_id}/unreachable", data={"csrf_token": csrf}).status_code == 404
