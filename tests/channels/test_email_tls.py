"""The SMTP client against a relay that requires TLS and AUTH (aiosmtpd on 127.0.0.1 with a
certificate from a test PKI made for the run, `gateway.peppol.testpki`): STARTTLS and implicit TLS
with AUTH succeed and the message arrives encrypted and authenticated; a wrong password, an
untrusted certificate and a client that skips STARTTLS are retryable errors that leave the
debtor's address alone; the settings wire the CA file and credentials into the provider that the
worker uses for a real consumer letter."""

from __future__ import annotations

import email
import email.policy
import ssl

import pytest

from gateway.app import create_app
from gateway.channels.email.client import SmtpRelay, send_message
from gateway.channels.email.sink import SmtpSink
from gateway.channels.setup import build_providers
from gateway.errors import RetryableError
from gateway.peppol.testpki import make_test_pki
from gateway.workers.run import Worker
from tests.channels.test_consumer_flow import submit
from tests.channels.test_sms_provider import serve
from tests.factories import consumer_claim, seed_creditors

USER, PASSWORD = "gateway", "relay-password-for-tests"
MESSAGE = b"From: Stad Gent <facturen@gateway.test>\r\nTo: an.peeters@telenet.be\r\nSubject: test\r\n\r\nhallo\r\n"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_test_pki(tmp_path_factory.mktemp("smtp-pki"), organization="SMTP Test PKI")


def server_context(pki) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.smp_tls_cert, pki.smp_tls_key)  # issued for 127.0.0.1 and localhost
    return context


@pytest.fixture
def starttls_relay(pki):
    with SmtpSink(tls_context=server_context(pki), credentials={USER: PASSWORD}) as sink:
        yield sink


def relay(sink: SmtpSink, pki, **changes) -> SmtpRelay:
    values = dict(host="127.0.0.1", port=sink.port, tls="starttls", username=USER, password=PASSWORD, timeout_seconds=5, ca_file=str(pki.root_ca_cert))
    values.update(changes)
    return SmtpRelay(**values)


def test_starttls_and_auth_deliver_the_message_encrypted(starttls_relay, pki):
    accepted = send_message(relay(starttls_relay, pki), envelope_sender="bounces+x@bounces.gateway.test", recipient="an.peeters@telenet.be", message=MESSAGE)
    assert (accepted.code, accepted.response) == (250, "2.0.0 OK: queued in the sink")
    [sunk] = starttls_relay.messages
    assert (sunk.mail_from, sunk.recipients, sunk.data, sunk.authenticated_as) == ("bounces+x@bounces.gateway.test", ("an.peeters@telenet.be",), MESSAGE, USER)
    assert sunk.tls in ("TLSv1.2", "TLSv1.3")
    assert starttls_relay.auth_attempts == [(USER, True)]


def test_implicit_tls_and_auth_deliver_the_message_encrypted(pki):
    with SmtpSink(tls_context=server_context(pki), implicit_tls=True, credentials={USER: PASSWORD}) as sink:
        accepted = send_message(relay(sink, pki, tls="implicit"), envelope_sender="bounces+y@bounces.gateway.test", recipient="an.peeters@telenet.be", message=MESSAGE)
        assert accepted.code == 250
        [sunk] = sink.messages
        assert (sunk.authenticated_as, sunk.tls in ("TLSv1.2", "TLSv1.3"), sunk.data) == (USER, True, MESSAGE)


def test_a_wrong_password_an_untrusted_certificate_or_no_starttls_retry_and_send_nothing(starttls_relay, pki):
    with pytest.raises(RetryableError, match=r"^SMTP AUTH refused \(535\): check the relay credentials$"):
        send_message(relay(starttls_relay, pki, password="wrong"), envelope_sender="b@b.test", recipient="an.peeters@telenet.be", message=MESSAGE)
    assert set(starttls_relay.auth_attempts) == {(USER, False)}  # smtplib tries PLAIN, then LOGIN: both refused
    other = make_test_pki(pki.directory.parent / "other-pki", organization="Someone Else")
    with pytest.raises(RetryableError, match="CERTIFICATE_VERIFY_FAILED"):  # a relay whose certificate we do not trust
        send_message(relay(starttls_relay, pki, ca_file=str(other.root_ca_cert)), envelope_sender="b@b.test", recipient="an.peeters@telenet.be", message=MESSAGE)
    with pytest.raises(RetryableError, match=r"^SMTP 530 at MAIL FROM: Must issue a STARTTLS command first$"):
        send_message(relay(starttls_relay, pki, tls="none", username=""), envelope_sender="b@b.test", recipient="an.peeters@telenet.be", message=MESSAGE)
    assert starttls_relay.messages == []


def test_the_settings_send_a_consumer_letter_through_a_tls_relay_with_auth(database, settings, standards_dir, starttls_relay, pki):
    keys = seed_creditors(database)
    settings = settings.model_copy(update={
        "standards_dir": standards_dir, "smtp_host": "127.0.0.1", "smtp_port": starttls_relay.port, "smtp_tls": "starttls",
        "smtp_username": USER, "smtp_password": PASSWORD, "smtp_ca_file": str(pki.root_ca_cert), "email_verp_secret": "verp-secret-for-tls-test-0123",
    })
    providers = build_providers(settings)
    assert providers.for_channel("email").config.relay.ca_file == str(pki.root_ca_cert)
    with serve(create_app(settings, database=database, providers=providers)) as base_url:
        submit(base_url, keys.municipality_key, consumer_claim("T1"))
        Worker(database, settings, name="t", providers=providers).drain()
    [sunk] = starttls_relay.messages
    assert (sunk.authenticated_as, sunk.tls in ("TLSv1.2", "TLSv1.3"), sunk.recipients) == (USER, True, ("an.peeters@telenet.be",))
    message = email.message_from_bytes(sunk.data, policy=email.policy.default)
    assert message["Subject"] == "Factuur INV000001 van Stad Gent"
