"""Failed API-key authentication is rate limited per client address, over HTTP (TestClient), on
SQLite and PostgreSQL.

30 failures (a key presented and refused) in 15 minutes from one address, then every request from
that address answers 429 with Retry-After and a problem body, and the presented key is not even
looked up (no query on api_key, a valid key included) until the oldest failure leaves the window.
Successes and requests without a key are not counted; another address is not affected. The limiter
runs on a clock the test moves (gateway/kit/ratelimit.py takes the clock as a callable).
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from gateway.api import deps
from gateway.app import create_app
from tests.factories import ManualClock, bearer, seed_creditors

TOO_MANY = "https://gateway.example/problems/too-many-failed-authentications"
UNAUTHORIZED = "https://gateway.example/problems/unauthorized"
WRONG = "gw_nosuchkey_0000000000000000000000000000000000000000000"


@pytest.fixture
def clock():
    return ManualClock(5_000.0)


@pytest.fixture
def world(settings, database, clock):
    keys = seed_creditors(database)
    app = create_app(settings, database=database)
    app.state.api_key_failures = deps.api_key_failure_limiter(clock=clock)  # the real limits, a controlled clock
    return app, keys


@pytest.fixture
def key_lookups(database):
    """Statements that read the api_key table: proves a limited request never looks at its key."""
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if "api_key" in statement:
            statements.append(statement)

    event.listen(database.engine, "before_cursor_execute", count)
    yield statements
    event.remove(database.engine, "before_cursor_execute", count)


def client_at(app, address: str) -> TestClient:
    return TestClient(app, client=(address, 40000))


def test_the_limits_are_30_failures_in_15_minutes():
    assert (deps.API_KEY_FAILURES_PER_ADDRESS, deps.API_KEY_FAILURE_WINDOW_SECONDS) == (30, 900)


def test_thirty_failures_then_429_with_retry_after_and_the_key_is_not_checked(world, clock, key_lookups):
    app, keys = world
    with client_at(app, "198.51.100.7") as client:
        for attempt in range(30):
            clock.now = 5_000.0 + attempt  # one failure a second
            headers = bearer(WRONG) if attempt % 2 else {"X-API-Key": WRONG}  # both ways of presenting a key count
            answer = client.get("/v1/claims", headers=headers)
            assert (answer.status_code, answer.json()["type"]) == (401, UNAUTHORIZED), attempt
        lookups = len(key_lookups)
        assert lookups == 30

        clock.now = 5_030.0
        for headers in (bearer(WRONG), bearer(keys.municipality_key), {}):
            limited = client.get("/v1/claims", headers=headers)
            assert limited.status_code == 429
            assert limited.headers["content-type"] == "application/problem+json"
            assert limited.headers["Retry-After"] == "870"  # the first failure (t=5000) leaves the window at t=5900
            assert limited.json() == {
                "type": TOO_MANY, "title": "Too many failed API-key authentications", "status": 429, "instance": "/v1/claims",
                "detail": "more than 30 failed API-key authentications from this address in 15 minutes; the key is not checked for 870 s",
            }
        # Every route that takes a key, the valid key included: refused before it is looked up.
        assert client.post("/v1/claims", headers=bearer(keys.municipality_key), json={}).status_code == 429
        assert client.get("/v1/events", headers=bearer(keys.municipality_key)).status_code == 429
        assert client.post("/v1/validate", headers=bearer(keys.municipality_key), content=b"<a/>").status_code == 429
        assert len(key_lookups) == lookups

        clock.now = 5_899.0
        assert client.get("/v1/claims", headers=bearer(keys.municipality_key)).headers["Retry-After"] == "1"
        clock.now = 5_900.0  # the first failure has left the window: one more attempt is allowed
        assert client.get("/v1/claims", headers=bearer(keys.municipality_key)).status_code == 200
        assert client.get("/v1/claims", headers=bearer(WRONG)).status_code == 401  # and counted: 30 again (t=5001..5029, 5900)
        assert client.get("/v1/claims", headers=bearer(keys.municipality_key)).status_code == 429
        clock.now = 5_901.0
        assert client.get("/v1/claims", headers=bearer(keys.municipality_key)).status_code == 200


def test_successes_and_requests_without_a_key_are_not_counted(world, clock):
    app, keys = world
    with client_at(app, "198.51.100.8") as client:
        for _ in range(29):
            assert client.get("/v1/claims", headers=bearer(WRONG)).status_code == 401
        for _ in range(60):
            assert client.get("/v1/claims", headers=bearer(keys.municipality_key)).status_code == 200
            assert client.get("/v1/claims").status_code == 401  # no key: nothing guessed, nothing counted
        # A success does not clear earlier failures: the 30th failure is still the last one allowed.
        assert client.get("/v1/claims", headers=bearer(WRONG)).status_code == 401
        assert client.get("/v1/claims", headers=bearer(keys.municipality_key)).status_code == 429


def test_the_window_slides_and_other_addresses_are_not_affected(world, clock):
    app, keys = world
    with client_at(app, "198.51.100.9") as guesser, client_at(app, "203.0.113.5") as neighbour:
        for _ in range(15):
            assert guesser.get("/v1/claims", headers=bearer(WRONG)).status_code == 401
        clock.now += 600
        for _ in range(15):
            assert guesser.get("/v1/claims", headers=bearer(WRONG)).status_code == 401
        refused = guesser.get("/v1/claims", headers=bearer(WRONG))
        assert (refused.status_code, refused.headers["Retry-After"]) == (429, "300")
        assert neighbour.get("/v1/claims", headers=bearer(keys.hospital_key)).status_code == 200
        assert neighbour.get("/v1/claims", headers=bearer(WRONG)).status_code == 401

        clock.now += 300  # the first 15 leave the window; the later 15 stay for another 600 s
        for _ in range(15):
            assert guesser.get("/v1/claims", headers=bearer(WRONG)).status_code == 401
        refused = guesser.get("/v1/claims", headers=bearer(WRONG))
        assert (refused.status_code, refused.headers["Retry-After"]) == (429, "600")


def test_a_revoked_key_counts_as_a_failure(world, clock, database):
    from gateway.kit.time import utc_now
    from gateway.services import auth

    app, keys = world
    with database.session_scope() as session:
        auth.revoke_key(session, keys.ocmw_key.split("_")[1], now=utc_now())
    with client_at(app, "198.51.100.10") as client:
        for _ in range(30):
            assert client.get("/v1/claims", headers=bearer(keys.ocmw_key)).json()["detail"] == "the API key is unknown or revoked"
        assert client.get("/v1/claims", headers=bearer(keys.municipality_key)).status_code == 429
