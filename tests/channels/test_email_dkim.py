"""Optional DKIM signing: a consumer letter sent through the SMTP sink carries a DKIM-Signature that
dkimpy verifies against the public key as DNS would publish it; a changed header breaks it; the
settings turn it on only when domain, selector and key are all given."""

from __future__ import annotations

import base64

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gateway.channels.email.dkim_signing import DkimKey, sign
from gateway.channels.email.provider import EmailProvider
from gateway.channels.registry import ProviderRegistry
from gateway.channels.setup import build_providers
from gateway.errors import TerminalError
from gateway.workers.run import Worker
from tests.channels.test_consumer_flow import submit
from tests.channels.test_email_provider import email_config, sink  # noqa: F401 - fixture
from tests.channels.test_sms_provider import serve
from tests.factories import consumer_claim, seed_creditors
from gateway.app import create_app


@pytest.fixture(scope="module")
def key():
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    public = private.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem, b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)


def dns_for(record: bytes):
    def lookup(name, timeout=5):
        return record if name == b"gw2026._domainkey.gateway.test." else None
    return lookup


def test_a_sent_letter_is_signed_and_verifies(database, settings, standards_dir, sink, key):  # noqa: F811
    pem, record = key
    providers = ProviderRegistry()
    config = email_config(sink)
    providers.add(EmailProvider(type(config)(**{**config.__dict__, "dkim": DkimKey("gateway.test", "gw2026", pem)})))
    keys = seed_creditors(database)
    with serve(create_app(settings, database=database, providers=providers)) as base_url:
        submit(base_url, keys.municipality_key, consumer_claim("D1"))
        Worker(database, settings.model_copy(update={"standards_dir": standards_dir}), name="t", providers=providers).drain()
    [sent] = sink.messages
    assert sent.data.startswith(b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=gateway.test;")
    assert b"s=gw2026" in sent.data[:400]
    assert dkim.verify(sent.data, dnsfunc=dns_for(record)) is True
    tampered = sent.data.replace(b"Subject: Factuur", b"Subject: Faktuur", 1)
    assert dkim.verify(tampered, dnsfunc=dns_for(record)) is False


def test_a_broken_key_is_terminal():
    with pytest.raises(TerminalError, match="^DKIM signing failed"):
        sign(b"From: a@b.test\r\nTo: c@d.test\r\nSubject: x\r\n\r\nbody\r\n", DkimKey("gateway.test", "gw2026", b"not a key"))


def test_settings_turn_signing_on_only_when_complete(settings, tmp_path, key):
    path = tmp_path / "dkim.pem"
    path.write_bytes(key[0])
    base = settings.model_copy(update={"email_verp_secret": "x" * 24, "smtp_host": "127.0.0.1"})
    signed = build_providers(base.model_copy(update={"email_dkim_domain": "gateway.test", "email_dkim_selector": "gw2026", "email_dkim_private_key_path": path}))
    assert signed.for_channel("email").config.dkim == DkimKey("gateway.test", "gw2026", key[0])
    unsigned = build_providers(base.model_copy(update={"email_dkim_domain": "gateway.test", "email_dkim_selector": ""}))
    assert unsigned.for_channel("email").config.dkim is None
