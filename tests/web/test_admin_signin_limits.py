"""Sign-in rate limiting on the admin pages over HTTP (TestClient), on SQLite and PostgreSQL.

10 attempts per user name and 30 per client address in 15 minutes; a refused attempt answers 429
with Retry-After before the password is looked at; a successful sign-in clears the name's window.
The limiters run on a clock the test moves (RateLimiter takes the clock as a callable).
"""

from __future__ import annotations

import re

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from gateway.app import create_app
from gateway.kit.ratelimit import RateLimiter
from gateway.store.models import AdminSession
from gateway.web import account, routes
from tests.factories import ManualClock
from tests.web.seed import PASSWORD, seed_admin_world


@pytest.fixture
def clock():
    return ManualClock(1_000.0)


@pytest.fixture
def app(settings, database, clock, standards_dir):
    seed_admin_world(database, standards_dir)
    app = create_app(settings, database=database)
    app.state.admin_signin_limits = routes.SigninLimits(
        by_name=RateLimiter(routes.SIGNIN_ATTEMPTS_PER_NAME, routes.SIGNIN_WINDOW_SECONDS, clock=clock),
        by_address=RateLimiter(routes.SIGNIN_ATTEMPTS_PER_ADDRESS, routes.SIGNIN_WINDOW_SECONDS, clock=clock),
    )
    return app


@pytest.fixture
def client(app):
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def password_checks(monkeypatch):
    """Counts argon2 verifications (the real check still runs): proves a refused attempt never reaches it."""
    calls: list[str] = []

    class CountingHasher(PasswordHasher):
        def verify(self, hash, password):
            calls.append(password)
            return super().verify(hash, password)

    monkeypatch.setattr(account, "_hasher", CountingHasher())
    return calls


def attempt(client: TestClient, email: str, password: str):
    page = client.get("/admin/signin")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return client.post("/admin/signin", data={"email": email, "password": password, "csrf_token": token, "next": "/admin/dashboard"}, follow_redirects=False)


def sessions(database) -> int:
    with database.session_scope() as session:
        return session.scalar(select(func.count()).select_from(AdminSession))


def test_the_eleventh_attempt_on_one_name_is_refused_with_retry_after_without_checking_the_password(client, database, clock, password_checks):
    assert (routes.SIGNIN_ATTEMPTS_PER_NAME, routes.SIGNIN_ATTEMPTS_PER_ADDRESS, routes.SIGNIN_WINDOW_SECONDS) == (10, 30, 900)
    for number in range(10):
        clock.now = 1_000.0 + number * 10  # one attempt every 10 s
        assert attempt(client, "clerk@gent.be", f"wrong {number}").status_code == 401
    assert len(password_checks) == 10

    clock.now = 1_100.0
    refused = attempt(client, "CLERK@gent.be ", PASSWORD)  # the right password, the same name written otherwise
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "800"  # the first attempt (t=1000) leaves the window at t=1900
    assert "Te veel aanmeldpogingen." in refused.text  # no language chosen yet: the default, Dutch
    assert "Probeer opnieuw over 14 minuten." in refused.text
    assert len(password_checks) == 10 and sessions(database) == 0

    clock.now = 1_899.0
    assert attempt(client, "clerk@gent.be", PASSWORD).headers["retry-after"] == "1"
    clock.now = 1_900.0  # the first attempt has left the window: one more may try
    assert attempt(client, "clerk@gent.be", PASSWORD).status_code == 303
    assert len(password_checks) == 11 and sessions(database) == 1


def test_other_names_are_not_held_back_by_one_locked_name(client, database, clock):
    for number in range(10):
        attempt(client, "clerk@gent.be", f"wrong {number}")
    assert attempt(client, "clerk@gent.be", PASSWORD).status_code == 429
    assert attempt(client, "viewer@gent.be", PASSWORD).status_code == 303


def test_a_successful_sign_in_clears_the_names_window(client, database, clock, password_checks):
    for number in range(9):
        assert attempt(client, "clerk@gent.be", f"wrong {number}").status_code == 401
    assert attempt(client, "clerk@gent.be", PASSWORD).status_code == 303
    for number in range(10):  # a fresh window of ten
        assert attempt(client, "clerk@gent.be", f"typo {number}").status_code == 401
    assert attempt(client, "clerk@gent.be", PASSWORD).status_code == 429
    assert len(password_checks) == 20 and sessions(database) == 1


def test_thirty_attempts_from_one_address_lock_that_address_only(app, database, clock, password_checks):
    with TestClient(app, client=("192.0.2.7", 50000)) as guesser, TestClient(app, client=("192.0.2.8", 50000)) as colleague:
        for number in range(30):
            assert attempt(guesser, f"guess{number}@gent.be", "Password1!").status_code == 401
        refused = attempt(guesser, "director@gent.be", PASSWORD)
        assert (refused.status_code, refused.headers["retry-after"]) == (429, "900")
        assert len(password_checks) == 30
        assert attempt(colleague, "director@gent.be", PASSWORD).status_code == 303
        clock.now += 900
        assert attempt(guesser, "director@gent.be", PASSWORD).status_code == 303
    assert sessions(database) == 2
