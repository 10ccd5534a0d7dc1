"""Whose fault a failed dispatch is (issue 5, router): only the debtor's own contact being wrong
(hard bounce, the relay refusing the address with 5.1.x, SMS UNDELIV) marks it invalid and asks
for a repair. A failure on our side (a broken DKIM key, a message we cannot compose because the
creditor's logo_url is not https) still falls back to the next channel, so the debtor gets the
letter, but the address stays usable and no repair SMS goes out. Real SMTP sink, SMS sandbox,
store on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from gateway.channels.email.dkim_signing import DkimKey
from gateway.channels.email.provider import EmailProvider
from gateway.cli import main
from gateway.store.models import AuditEvent, CreditorEntity, DebtorContact, Document
from tests.channels.test_consumer_flow import ADDRESS, EMAIL, audit_actions, dispatches, ebox_key, flow, submit  # noqa: F401 - fixtures
from tests.channels.test_email_provider import email_config
from tests.factories import consumer_claim


def consumer_with_phone(number: str) -> dict:
    payload = consumer_claim(number)
    payload["debtor"]["contacts"].append({"kind": "phone", "value": "+32470000001"})
    payload["debtor"]["consents"].append({"channel": "sms", "given": True, "date": "2026-02-01", "source": "portal"})
    return payload


def assert_fell_back_without_blame(database, claim_id, error: str) -> None:
    assert dispatches(database) == [("email", EMAIL, "failed_permanent"), ("paper", ADDRESS, "sent")]
    with database.session_scope() as session:
        assert {c.kind: c.validity for c in session.scalars(select(DebtorContact))} == {"email": "unverified", "phone": "unverified"}
        [fallback] = session.scalars(select(AuditEvent).where(AuditEvent.entity_id == claim_id, AuditEvent.action == "dispatch.fallback")).all()
        assert fallback.data["reason"].startswith(f"after email failed ({error}")
        assert (fallback.data["channel"], fallback.data["contact_invalidated"]) == ("paper", False)
        assert session.scalars(select(Document).where(Document.kind == "contact_repair")).all() == []
    assert not {"contact.invalidated", "contact_repair.requested", "contact_repair.skipped"} & set(audit_actions(database, claim_id))


def test_a_broken_dkim_key_sends_the_letter_on_paper_and_keeps_the_address(database, flow):
    keys, worker, sink, sms_sandbox, _, base_url, _, _ = flow
    worker.providers.providers["email"] = EmailProvider(replace(email_config(sink), dkim=DkimKey("gateway.test", "gw2026", b"not a key")))
    claim_id = submit(base_url, keys.municipality_key, consumer_with_phone("K1"))
    worker.drain()
    assert sink.messages == [] and sms_sandbox.messages == {}
    assert_fell_back_without_blame(database, claim_id, "TerminalError: DKIM signing failed")


def test_a_creditor_logo_url_that_is_not_https_sends_the_letter_on_paper_and_keeps_the_address(database, flow):
    keys, worker, sink, sms_sandbox, _, base_url, _, _ = flow
    with database.session_scope() as session:  # stored before import checked it (see the next test)
        session.scalar(select(CreditorEntity).where(CreditorEntity.code == "gent")).logo_url = "http://cdn.gent.example/logo.png"
    claim_id = submit(base_url, keys.municipality_key, consumer_with_phone("K2"))
    worker.drain()
    assert sink.messages == [] and sms_sandbox.messages == {}
    assert_fell_back_without_blame(database, claim_id, "TerminalError: the e-mail cannot be composed: creditor.logo_url is an https")


@pytest.mark.parametrize("logo_url", ["http://cdn.gent.example/logo.png", "https://cdn.gent.example/logo.png\" onerror=\"x", "javascript:alert(1)", "https:///logo.png"])
def test_creditor_import_refuses_a_logo_url_that_is_not_https_and_stores_nothing(cli_database, tmp_path, logo_url):
    path = tmp_path / "creditors.json"
    entities = [
        {"code": "zonnedorp", "kind": "municipality", "name": "Gemeente Zonnedorp", "iban": "BE48320070184927", "logo_url": "https://zonnedorp.example/logo.png"},
        {"code": "delta", "kind": "school", "name": "School Delta", "iban": "BE48320070184927", "parent": "zonnedorp", "logo_url": logo_url},
    ]
    path.write_text(json.dumps(entities), encoding="utf-8")
    result = CliRunner().invoke(main, ["creditors", "import", str(path)])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "1.logo_url: url.https: an https:// URL with a host name, without spaces, quotes or angle brackets",
        "Error: nothing imported: 1 field(s) break a rule",
    ]
    with cli_database.session_scope() as session:
        assert session.scalars(select(CreditorEntity)).all() == []


def test_creditor_import_keeps_an_https_logo_url(cli_database, tmp_path):
    path = tmp_path / "creditors.json"
    path.write_text(json.dumps([{"code": "zonnedorp", "kind": "municipality", "name": "Gemeente Zonnedorp", "iban": "BE48320070184927", "logo_url": " https://zonnedorp.example/logo.png "}]), encoding="utf-8")
    result = CliRunner().invoke(main, ["creditors", "import", str(path)])
    assert result.exit_code == 0, result.output
    with cli_database.session_scope() as session:
        assert session.scalar(select(CreditorEntity.logo_url)) == "https://zonnedorp.example/logo.png"
