import uuid
from datetime import datetime, timedelta, timezone

import pytest

from gateway.kit import personal_link
from gateway.kit.personal_link import InvalidLink
from gateway.kit.ratelimit import RateLimiter, Verdict

SECRET = b"k" * 32
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
DEBTOR, CREDITOR = uuid.UUID(int=1), uuid.UUID(int=2)


def test_round_trip_names_debtor_creditor_and_expiry():
    token = personal_link.issue(SECRET, DEBTOR, CREDITOR, now=NOW, valid_for=timedelta(days=60))
    subject = personal_link.verify(SECRET, token, now=NOW + timedelta(days=59))
    assert (subject.debtor_id, subject.creditor_id, subject.expires_at) == (DEBTOR, CREDITOR, NOW + timedelta(days=60))
    assert personal_link.url("https://pay.example/", token) == f"https://pay.example/my/{token}"


@pytest.mark.parametrize("mutate", [
    lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # mac changed
    lambda t: t.replace("v1.", "v2.", 1),
    lambda t: "v1." + t.split(".")[1][::-1] + "." + t.split(".")[2],  # payload changed
    lambda t: t + ".x",
    lambda t: "",
    lambda t: "v1.." ,
    lambda t: "v1.ü.x",
    lambda t: "x" * 500,
])
def test_altered_or_malformed_tokens_are_refused_alike(mutate):
    token = personal_link.issue(SECRET, DEBTOR, CREDITOR, now=NOW, valid_for=timedelta(days=1))
    with pytest.raises(InvalidLink):
        personal_link.verify(SECRET, mutate(token), now=NOW)


def test_expired_and_foreign_secret_refused_previous_secret_accepted():
    token = personal_link.issue(SECRET, DEBTOR, CREDITOR, now=NOW, valid_for=timedelta(hours=1))
    with pytest.raises(InvalidLink, match="expired"):
        personal_link.verify(SECRET, token, now=NOW + timedelta(hours=1))
    with pytest.raises(InvalidLink, match="signature"):
        personal_link.verify(b"z" * 32, token, now=NOW)
    assert personal_link.verify(b"z" * 32, token, now=NOW, previous_secrets=[SECRET]).debtor_id == DEBTOR


def test_short_secret_and_naive_expiry_are_programming_errors():
    with pytest.raises(ValueError):
        personal_link.sign(b"short", DEBTOR, CREDITOR, expires_at=NOW)
    with pytest.raises(ValueError):
        personal_link.sign(SECRET, DEBTOR, CREDITOR, expires_at=NOW.replace(tzinfo=None))


def test_rate_limiter_window_and_retry_after():
    clock = [100.0]
    limiter = RateLimiter(3, 60, clock=lambda: clock[0])
    assert [limiter.hit("a").allowed for _ in range(4)] == [True, True, True, False]
    assert limiter.hit("a").retry_after_seconds == 60
    assert limiter.hit("b").allowed  # keys are independent
    clock[0] += 30
    assert limiter.hit("a").retry_after_seconds == 30
    clock[0] += 30.5
    assert limiter.hit("a").allowed
    limiter.reset("a")
    assert [limiter.hit("a").allowed for _ in range(3)] == [True, True, True]


def test_rate_limiter_memory_is_bounded():
    clock = [0.0]
    limiter = RateLimiter(1, 10, clock=lambda: clock[0], max_keys=100)
    for i in range(1000):
        limiter.hit(f"k{i}")
    assert len(limiter._hits) <= 100


def test_rate_limiter_peek_counts_nothing():
    clock = [100.0]
    limiter = RateLimiter(2, 60, clock=lambda: clock[0])
    assert all(limiter.peek("a").allowed for _ in range(10))
    assert "a" not in limiter._hits  # a peek at an unknown key stores no window (no memory per probe)
    limiter.hit("a")
    limiter.hit("a")
    assert limiter.peek("a") == limiter.peek("a") == Verdict(False, 60)
    clock[0] += 60
    assert limiter.peek("a").allowed
