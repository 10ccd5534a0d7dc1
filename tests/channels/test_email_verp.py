"""VERP return paths: round trip, tampering, rotation and limits."""

from __future__ import annotations

import pytest

from gateway.channels.email.verp import (
    VerpError,
    dispatch_id_from_address,
    make_token,
    return_path,
    verify_token,
)

SECRET = b"verp-test-secret-0123456789"
OLD = b"verp-old-secret-9876543210"
DISPATCH = "5b0f6c1e-2d4a-4f7b-9c3e-8a1d2e3f4a5b"
DOMAIN = "bounces.gateway.example.org"


def test_known_token():
    # HMAC-SHA256(SECRET, "verp.v1:" + id)[:10], base32 lower case: pinned so a format change is noticed
    assert make_token(DISPATCH, SECRET) == f"{DISPATCH}.jymixg67rrqnj5nl"
    assert return_path(DISPATCH, SECRET, DOMAIN) == f"bounces+{DISPATCH}.jymixg67rrqnj5nl@{DOMAIN}"


def test_round_trip():
    address = return_path(DISPATCH, SECRET, DOMAIN)
    assert len(address.split("@")[0]) == 61  # RFC 5321: local part <= 64
    assert dispatch_id_from_address(address, [SECRET], DOMAIN) == DISPATCH
    assert dispatch_id_from_address(f"<{address}>", [SECRET]) == DISPATCH
    # an MTA that upper-cases the local part still verifies (base32 is compared in lower case)
    assert verify_token(f"{DISPATCH}.JYMIXG67RRQNJ5NL", [SECRET]) == DISPATCH


@pytest.mark.parametrize(
    "token",
    [
        f"{DISPATCH}.jymixg67rrqnj5nm",  # one MAC character changed
        f"5b0f6c1e-2d4a-4f7b-9c3e-8a1d2e3f4a5c.jymixg67rrqnj5nl",  # another dispatch id, same MAC
        f"{DISPATCH}.jymixg67rrqnj5n",  # truncated MAC
        f"{DISPATCH}",
        "",
        f"{DISPATCH}.jymixg67rrqnj5nl.extra",
        f"../{DISPATCH}.jymixg67rrqnj5nl",
    ],
)
def test_tampered_tokens_verify_to_none(token):
    assert verify_token(token, [SECRET]) is None


def test_wrong_secret_and_rotation():
    token = make_token(DISPATCH, OLD)
    assert verify_token(token, [SECRET]) is None
    assert verify_token(token, [SECRET, OLD]) == DISPATCH


def test_address_checks():
    address = return_path(DISPATCH, SECRET, DOMAIN)
    assert dispatch_id_from_address(address, [SECRET], "other.example.org") is None
    assert dispatch_id_from_address(address.replace("bounces+", "bounce+"), [SECRET]) is None
    assert dispatch_id_from_address("an.janssens@example.net", [SECRET]) is None


@pytest.mark.parametrize(
    ("dispatch_id", "secret", "domain"),
    [
        ("has space", SECRET, DOMAIN),
        ("x" * 41, SECRET, DOMAIN),
        ("", SECRET, DOMAIN),
        (DISPATCH, b"short", DOMAIN),
        (DISPATCH, SECRET, "bad@domain"),
        (DISPATCH, SECRET, ""),
    ],
)
def test_refused_inputs(dispatch_id, secret, domain):
    with pytest.raises(VerpError):
        return_path(dispatch_id, secret, domain)
