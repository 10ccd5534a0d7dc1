"""SMP 1.x Redirect over the loopback SML + two or three SMPs: followed once, to metadata signed by the
certificate the Redirect names in CertificateUID; a mismatching signer and a second Redirect are refused."""

from __future__ import annotations

import pytest
from cryptography import x509
from lxml import etree

from gateway.peppol.discovery import LookupOutcome, ParticipantDiscovery
from gateway.peppol.sandbox_smp import PeppolSandbox, SandboxParticipant, SandboxSmp
from gateway.peppol.smp import INVOICE, SMP_NS, SmpAnswerRefused, SmpClient, certificate_matches_uid, parse_redirect, parse_service_metadata, service_metadata_url
from tests.peppol.fixtures_discovery import discovery_config, now, smp_config, test_pki, untrusted_pki  # noqa: F401 - fixtures

PARTICIPANT = "0208:0403019261"
TARGET_AP = "https://redirected-ap.sandbox.test/as4"
INVOICE_ID = INVOICE.identifier


@pytest.fixture
def target(test_pki):
    """The SMP the participant's own SMP redirects to; it serves the real metadata (another AP)."""
    smp = SandboxSmp((SandboxParticipant(PARTICIPANT, endpoint_url=TARGET_AP),), pki=test_pki).start()
    yield smp
    smp.stop()


def redirecting(target_url: str, pki, **redirect) -> PeppolSandbox:
    return PeppolSandbox((SandboxParticipant(PARTICIPANT, redirect_to=target_url, **redirect),), pki=pki)


def test_a_redirect_is_followed_once_to_metadata_signed_by_the_named_certificate(target, test_pki, now):
    with redirecting(target.base_url, test_pki) as first:
        result = ParticipantDiscovery(discovery_config(first, test_pki)).lookup(PARTICIPANT, "invoice", now=now)
    href = service_metadata_url(target.base_url, PARTICIPANT, INVOICE_ID)
    assert (result.outcome, result.reason, result.smp_url) == (LookupOutcome.REACHABLE, "smp.endpoint_found", first.smp.base_url)
    assert result.endpoint.url == TARGET_AP
    assert result.detail == f"AS4 endpoint {TARGET_AP} (SMP redirect to {href})"
    # The first SMP answered the ServiceGroup and the Redirect; the target only the metadata.
    assert [path.split("/services/")[-1] if "/services/" in path else "group" for path in first.smp.requests] == ["group", f"busdox-docid-qns::{INVOICE_ID}"]
    assert target.requests == [f"/smp/iso6523-actorid-upis::{PARTICIPANT}/services/busdox-docid-qns::{INVOICE_ID}"]


def test_the_redirect_names_a_certificate_in_either_dn_order(test_pki):
    signer = x509.load_pem_x509_certificate(test_pki.smp_signer_cert.read_bytes())
    rfc4514 = signer.subject.rfc4514_string()  # CN=...,O=...,C=...
    x500 = x509.Name(list(reversed(signer.subject.rdns))).rfc4514_string()  # C=...,O=...,CN=...
    assert rfc4514 != x500
    assert certificate_matches_uid(signer, rfc4514) and certificate_matches_uid(signer, x500) and certificate_matches_uid(signer, x500.upper())
    ap = x509.load_pem_x509_certificate(test_pki.ap_cert.read_bytes())
    assert not certificate_matches_uid(signer, ap.subject.rfc4514_string())
    assert not certificate_matches_uid(signer, "not a DN") and not certificate_matches_uid(signer, "")


def test_a_target_signed_by_another_certificate_than_the_named_one_is_refused(target, test_pki, now):
    # Signed under the trusted root, but the Redirect named the AP certificate, not the SMP signer.
    ap = x509.load_pem_x509_certificate(test_pki.ap_cert.read_bytes())
    with redirecting(target.base_url, test_pki, redirect_certificate_uid=ap.subject.rfc4514_string()) as first:
        result = ParticipantDiscovery(discovery_config(first, test_pki)).lookup(PARTICIPANT, "invoice", now=now)
        with pytest.raises(SmpAnswerRefused) as caught:
            SmpClient(smp_config(test_pki)).service_metadata(first.smp.base_url, PARTICIPANT, INVOICE, now=now)
    assert (result.outcome, result.reason, result.endpoint) == (LookupOutcome.LOOKUP_FAILED, "smp.redirect_certificate_mismatch", None)
    assert caught.value.rule == "smp.redirect_certificate_mismatch"
    assert str(caught.value).endswith(f"the Redirect names {ap.subject.rfc4514_string()!r}")


def test_a_target_signed_outside_the_truststore_is_refused(test_pki, untrusted_pki, now):
    foreign = SandboxSmp((SandboxParticipant(PARTICIPANT, endpoint_url=TARGET_AP, signature="untrusted"),), pki=test_pki, untrusted_pki=untrusted_pki).start()
    try:
        with redirecting(foreign.base_url, test_pki) as first:
            result = ParticipantDiscovery(discovery_config(first, test_pki)).lookup(PARTICIPANT, "invoice", now=now)
    finally:
        foreign.stop()
    assert (result.outcome, result.reason) == (LookupOutcome.LOOKUP_FAILED, "smp.signature_untrusted")


def test_a_second_redirect_is_refused_and_not_followed(test_pki, now):
    third = SandboxSmp((SandboxParticipant(PARTICIPANT, endpoint_url=TARGET_AP),), pki=test_pki).start()
    second = SandboxSmp((SandboxParticipant(PARTICIPANT, redirect_to=third.base_url),), pki=test_pki).start()
    try:
        with redirecting(second.base_url, test_pki) as first:
            result = ParticipantDiscovery(discovery_config(first, test_pki)).lookup(PARTICIPANT, "invoice", now=now)
    finally:
        second.stop()
        third.stop()
    assert (result.outcome, result.reason) == (LookupOutcome.LOOKUP_FAILED, "smp.redirect_twice")
    assert len(second.requests) == 1 and third.requests == []


def test_a_target_without_the_metadata_is_document_type_not_supported(test_pki, now):
    credit_notes_only = SandboxSmp((SandboxParticipant(PARTICIPANT, document_types=("credit-note",)),), pki=test_pki).start()
    try:
        with redirecting(credit_notes_only.base_url, test_pki) as first:
            result = ParticipantDiscovery(discovery_config(first, test_pki)).lookup(PARTICIPANT, "invoice", now=now)
    finally:
        credit_notes_only.stop()
    assert (result.outcome, result.reason) == (LookupOutcome.DOCUMENT_TYPE_NOT_SUPPORTED, "smp.service_metadata_not_found")


def test_a_redirect_is_not_read_as_metadata_and_needs_its_certificate_uid(now):
    root = etree.Element(f"{{{SMP_NS}}}SignedServiceMetadata", nsmap={"smp": SMP_NS})
    redirect = etree.SubElement(etree.SubElement(root, f"{{{SMP_NS}}}ServiceMetadata"), f"{{{SMP_NS}}}Redirect", href="https://elsewhere.example/")
    with pytest.raises(SmpAnswerRefused) as caught:
        parse_redirect(root)
    assert caught.value.rule == "smp.redirect_malformed"
    etree.SubElement(redirect, f"{{{SMP_NS}}}CertificateUID").text = "CN=SMP,O=Example,C=BE"
    assert parse_redirect(root).certificate_uid == "CN=SMP,O=Example,C=BE"
    with pytest.raises(SmpAnswerRefused) as caught:
        parse_service_metadata(root, PARTICIPANT, INVOICE_ID)
    assert caught.value.rule == "smp.redirect_unexpected"
