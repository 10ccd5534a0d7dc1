"""Bounce parsing against hand-written samples in bounce_samples/ (each with its expected JSON)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.channels.email import bounce
from gateway.channels.email.bounce import (
    BounceParseError,
    FailureKind,
    MessageKind,
    Reason,
    classify,
    extract_status,
    iter_hard_addresses,
    parse_bounce,
)
from gateway.channels.email.verp import verify_token

SAMPLES = Path(__file__).parent / "bounce_samples"
SAMPLE_NAMES = sorted(p.stem for p in SAMPLES.glob("*.eml"))
EXPECTED_KEYS = ("address", "kind", "status", "reason", "action")


def test_there_are_at_least_25_samples_each_with_an_expectation():
    assert len(SAMPLE_NAMES) >= 25
    for name in SAMPLE_NAMES:
        assert (SAMPLES / f"{name}.expected.json").is_file(), name


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_sample(name):
    expected = json.loads((SAMPLES / f"{name}.expected.json").read_text())
    report = parse_bounce((SAMPLES / f"{name}.eml").read_bytes())
    got = report.to_json()
    assert got["is_bounce"] is expected["is_bounce"]
    assert got["message_kind"] == expected["message_kind"]
    assert [{k: r[k] for k in EXPECTED_KEYS} for r in got["recipients"]] == expected["recipients"]
    assert got["original_message_id"] == expected["original_message_id"]
    assert got["verp_token"] == expected["verp_token"]


def test_every_format_and_kind_is_covered():
    kinds, reasons, formats = set(), set(), set()
    for name in SAMPLE_NAMES:
        expected = json.loads((SAMPLES / f"{name}.expected.json").read_text())
        formats.add(expected["message_kind"])
        for recipient in expected["recipients"]:
            kinds.add(recipient["kind"])
            reasons.add(recipient["reason"])
    assert formats == {"dsn", "non_standard_bounce", "auto_reply", "not_a_bounce"}
    assert kinds == {"hard", "soft"}
    assert {"user_unknown", "host_unknown", "mailbox_full", "policy", "delayed"} <= reasons
    for marker in ("qmail", "exim", "postfix", "exchange", "gmail", "generic", "afwezig", "absent", "malformed"):
        assert any(marker in name for name in SAMPLE_NAMES), marker


def test_verp_token_of_the_postfix_sample_verifies_with_the_test_secret():
    report = parse_bounce((SAMPLES / "01_dsn_postfix_user_unknown.eml").read_bytes())
    assert verify_token(report.verp_token, [b"verp-test-secret-0123456789"]) == "5b0f6c1e-2d4a-4f7b-9c3e-8a1d2e3f4a5b"
    assert verify_token(report.verp_token, [b"another-secret-0123456789"]) is None


# --- errors and size cap -------------------------------------------------------------------


def test_empty_input_is_a_parse_error():
    with pytest.raises(BounceParseError) as info:
        parse_bounce(b"  \r\n")
    assert info.value.rule == "bounce.empty"


def test_text_instead_of_bytes_is_a_parse_error():
    with pytest.raises(BounceParseError) as info:
        parse_bounce("From: x@example.org\n\nhi")  # type: ignore[arg-type]
    assert info.value.rule == "bounce.type"


def test_oversized_input_is_refused_before_parsing(monkeypatch):
    monkeypatch.setattr(bounce, "MAX_BOUNCE_BYTES", 100)
    with pytest.raises(BounceParseError) as info:
        parse_bounce(b"Subject: x\n\n" + b"a" * 100)
    assert info.value.rule == "bounce.too_large"
    assert parse_bounce(b"Subject: x\n\n" + b"a" * 10).message_kind is MessageKind.NOT_A_BOUNCE


def test_garbage_without_header_fields_is_not_a_message():
    for raw in (b"\x00\xff\xfe garbage without headers", bytes(range(256)) * 8, b"just a line of text\r\n"):
        with pytest.raises(BounceParseError) as info:
            parse_bounce(raw)
        assert (info.value.rule, info.value.message) == ("bounce.no_headers", "not an RFC 822 message: it has no header fields")


@pytest.mark.parametrize(
    "raw",
    [
        b"Content-Type: multipart/report; boundary=\"x\"\n\n--x\nContent-Type: message/delivery-status\nContent-Transfer-Encoding: base64\n\n!!!!\n",
        b"Content-Type: multipart/mixed; boundary=\"a\"\n\n" + b"--a\nContent-Type: multipart/mixed; boundary=\"a\"\n\n" * 300,
        b"From: =?utf-8?q?=E2=28broken?= <x@example.org>\nSubject: =?bogus-charset?b?AAAA?=\nContent-Type: text/plain; charset=bogus\n\nhello",
        # found by mutating the samples: a charset name with a NUL, a non-ASCII encoded-word
        # charset (CharsetError), an address header that makes email.utils recurse
        b"From: a@b.example\nContent-Type: text/plain; charset=\"ut\x00f-8\"\n\nhello",
        b"Subject: =?u\xb4I-8?q?Absent?=\nX-Autoreply: yes\n\nhi",
        b"From: MAILER-DAEMON@out" + b"om: MAILER-DAEMON@out." * 3000 + b"\n\nhi",
    ],
)
def test_hostile_mime_never_crashes(raw):
    report = parse_bounce(raw)
    assert report.is_bounce is False
    assert report.recipients == ()


def test_mutated_samples_only_ever_raise_bounce_parse_error():
    """A seeded mutation run over the samples (truncation, byte flips, repeated slices)."""
    rng = random.Random(20261123)
    samples = [(SAMPLES / f"{name}.eml").read_bytes() for name in SAMPLE_NAMES]
    refused = 0
    for _ in range(400):
        data = bytearray(rng.choice(samples))
        operation = rng.randrange(3)
        if operation == 0:
            data = data[: rng.randrange(len(data))]
        elif operation == 1:
            for _ in range(rng.randrange(1, 20)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        else:
            at = rng.randrange(len(data))
            data[at:at] = data[rng.randrange(len(data)):][: rng.randrange(500)] * rng.randrange(1, 20)
        try:
            parse_bounce(bytes(data))
        except BounceParseError:
            refused += 1
    assert refused < 20  # almost all mutations still parse to some report


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_only_ever_raise_bounce_parse_error(data):
    try:
        report = parse_bounce(data)
    except BounceParseError as exc:
        assert exc.rule in {"bounce.empty", "bounce.mime", "bounce.no_headers"}
    else:
        assert isinstance(report.is_bounce, bool)


# --- classification table ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "diagnostic", "action", "kind", "reason"),
    [
        ("5.1.1", "550 5.1.1 user unknown", "failed", FailureKind.HARD, Reason.USER_UNKNOWN),
        ("5.1.2", None, "failed", FailureKind.HARD, Reason.HOST_UNKNOWN),
        ("5.1.6", None, "failed", FailureKind.HARD, Reason.HAS_MOVED),
        ("5.1.10", "RecipientNotFound", "failed", FailureKind.HARD, Reason.USER_UNKNOWN),
        ("5.0.0", "550 mailbox does not exist", "failed", FailureKind.HARD, Reason.USER_UNKNOWN),
        ("5.0.0", "550 requested action not taken", "failed", FailureKind.SOFT, Reason.OTHER),
        ("5.2.2", "mailbox full", "failed", FailureKind.SOFT, Reason.MAILBOX_FULL),
        ("4.2.2", None, "failed", FailureKind.SOFT, Reason.MAILBOX_FULL),
        ("4.1.1", "450 4.1.1 user unknown (verification pending)", "failed", FailureKind.SOFT, Reason.TRANSIENT),
        ("5.7.1", "blocked using zen.spamhaus.org", "failed", FailureKind.SOFT, Reason.POLICY),
        ("5.7.1", "recipient does not exist", "failed", FailureKind.HARD, Reason.USER_UNKNOWN),
        ("5.1.8", "Sender address rejected: Domain not found", "failed", FailureKind.SOFT, Reason.POLICY),
        ("5.7.1", "553 5.7.1 Sender domain does not exist", "failed", FailureKind.SOFT, Reason.POLICY),
        (None, "SMTP error after MAIL FROM: 550 your domain does not exist", "failed", FailureKind.SOFT, Reason.POLICY),
        ("5.1.1", "550 5.1.1 user unknown (sender address ok)", "failed", FailureKind.HARD, Reason.USER_UNKNOWN),
        ("5.1.1", "user unknown", "delayed", FailureKind.SOFT, Reason.DELAYED),
        (None, "greylisted, try again later", "failed", FailureKind.SOFT, Reason.TRANSIENT),
        (None, "Unrouteable address", "failed", FailureKind.HARD, Reason.HOST_UNKNOWN),
    ],
)
def test_classify(status, diagnostic, action, kind, reason):
    assert classify(status, diagnostic, action) == (kind, reason)


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("5.1.0 - Unknown address error 550-'5.1.1 <x@example.org>'", "5.1.1"),
        ("host mx[10.5.1.1] said: 550 no such user", None),
        ("Sorry, no mailbox here by that name. (#5.1.1)", "5.1.1"),
        ("452 4.2.2 over quota.", "4.2.2"),
        (None, None),
    ],
)
def test_extract_status(text, status):
    assert extract_status(text) == status


def test_iter_hard_addresses_lists_only_hard_failures():
    report = parse_bounce((SAMPLES / "16_nonstd_qmail_two_recipients.eml").read_bytes())
    assert list(iter_hard_addresses(report)) == ["lotte@example.com"]
