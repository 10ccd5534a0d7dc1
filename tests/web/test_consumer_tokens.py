"""The personal page's stateless tokens and its words, without I/O (`now` is given)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from gateway.services import consumer_page
from gateway.services.consumer_page import InvalidConfirmation
from gateway.web.consumer import i18n

SECRET = b"personal-page-secret-for-tests-0123"
DEBTOR = uuid.UUID("0192f7a0-0000-7000-8000-000000000001")
NOW = datetime(2026, 11, 23, 15, 7, 30, tzinfo=timezone.utc)  # 15:00-15:15 is one 15-minute window


def test_the_phone_code_holds_for_its_window_and_the_next_then_expires():
    code = consumer_page.phone_code(SECRET, DEBTOR, "+32470123456", now=NOW)
    assert len(code) == 6 and code.isdigit()
    assert consumer_page.phone_code_matches(SECRET, DEBTOR, "+32470123456", code, now=NOW + timedelta(minutes=7))  # same window
    assert consumer_page.phone_code_matches(SECRET, DEBTOR, "+32470123456", code, now=NOW + timedelta(minutes=20))  # the next one
    assert not consumer_page.phone_code_matches(SECRET, DEBTOR, "+32470123456", code, now=NOW + timedelta(minutes=38))  # two windows on
    assert not consumer_page.phone_code_matches(SECRET, DEBTOR, "+32470999999", code, now=NOW)  # bound to the number
    assert not consumer_page.phone_code_matches(SECRET, uuid.uuid4(), "+32470123456", code, now=NOW)  # and to the debtor
    assert not consumer_page.phone_code_matches(b"another-secret-of-32-bytes-long!!", DEBTOR, "+32470123456", code, now=NOW)
    assert not consumer_page.phone_code_matches(SECRET, DEBTOR, "+32470123456", "", now=NOW)


def test_a_confirmation_token_names_debtor_kind_and_value_for_24_hours():
    token = consumer_page.confirmation_token(SECRET, DEBTOR, "email", "an.nieuw@proximus.be", now=NOW)
    assert consumer_page.verify_confirmation(SECRET, token, now=NOW + timedelta(hours=23, minutes=59)) == (DEBTOR, "email", "an.nieuw@proximus.be")
    with pytest.raises(InvalidConfirmation, match="expired"):
        consumer_page.verify_confirmation(SECRET, token, now=NOW + timedelta(hours=24))
    version, payload, mac = token.split(".")
    forged = consumer_page._b64(consumer_page._unb64(payload).replace(b"an.nieuw", b"evil.one"))
    for bad in (f"{version}.{forged}.{mac}", token[:-1] + ("A" if token[-1] != "A" else "B"), "c2" + token[2:], "", "a.b", "x" * 700):
        with pytest.raises(InvalidConfirmation):
            consumer_page.verify_confirmation(SECRET, bad, now=NOW)
    with pytest.raises(InvalidConfirmation, match="signature"):
        consumer_page.verify_confirmation(b"another-secret-of-32-bytes-long!!", token, now=NOW)


def test_the_form_token_is_bound_to_the_personal_token_and_the_secret():
    form = consumer_page.form_token(SECRET, "v1.abc.def")
    assert consumer_page.form_token_matches(SECRET, "v1.abc.def", form)
    assert not consumer_page.form_token_matches(SECRET, "v1.abc.deg", form)
    assert not consumer_page.form_token_matches(b"another-secret-of-32-bytes-long!!", "v1.abc.def", form)
    assert not consumer_page.form_token_matches(SECRET, "v1.abc.def", None)
    # Derived under its own label: the form token is not the phone code's or the confirmation's MAC.
    assert form != consumer_page._b64(consumer_page._key(SECRET, "confirm")[:16])


def test_every_message_exists_in_the_four_languages_with_the_same_placeholders():
    import string

    for key, texts in i18n.MESSAGES.items():
        assert sorted(texts) == sorted(i18n.LANGUAGES), key
        fields = {language: {name for _, name, _, _ in string.Formatter().parse(text) if name} for language, text in texts.items()}
        assert len({frozenset(names) for names in fields.values()}) == 1, (key, fields)
