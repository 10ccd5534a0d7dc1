"""SMP: URLs, ServiceGroup parsing, signature verification, endpoint choice, HTTP behaviour."""

from __future__ import annotations

import socket
from dataclasses import replace
from datetime import timedelta

import pytest
from cryptography import x509
from lxml import etree

from fixtures_discovery import (  # noqa: F401 - fixtures
    AP_ENDPOINT,
    NOT_IN_SMP,
    REACHABLE,
    SMP_500,
    TAMPERED,
    UNSIGNED,
    UNTRUSTED,
    now,
    sandbox,
    smp_config,
    test_pki,
    untrusted_pki,
)
from gateway.peppol.smp import (
    CREDIT_NOTE,
    DOCUMENT_TYPES,
    INVOICE,
    REMINDER,
    SMP_NS,
    SmpAnswerRefused,
    SmpClient,
    SmpUnavailable,
    find_endpoint,
    parse_service_group,
    parse_service_metadata,
    service_group_url,
    service_metadata_url,
    verify_signed_service_metadata,
)

INVOICE_ID = (
    "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2::Invoice"
    "##urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0::2.1"
)


# --- identifiers and URLs (SMP 1.4.0, PFUOI 4.4.0) ---------------------------------------------


def test_bis_billing_3_document_type_ids_are_the_published_ones() -> None:
    assert INVOICE.identifier == INVOICE_ID
    assert CREDIT_NOTE.identifier == (
        "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2::CreditNote"
        "##urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0::2.1"
    )
    assert INVOICE.process == CREDIT_NOTE.process == "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
    assert REMINDER.identifier.startswith("urn:oasis:names:specification:ubl:schema:xsd:Reminder-2::Reminder##")
    assert REMINDER.identifier.endswith("::2.1")
    assert sorted(DOCUMENT_TYPES) == ["credit-note", "invoice", "reminder"]


def test_service_group_url_percent_encodes_the_scheme_qualified_id() -> None:
    assert service_group_url("https://smp.example.org/smp/", "0208:0403019261") == (
        "https://smp.example.org/smp/iso6523-actorid-upis%3A%3A0208%3A0403019261"
    )


def test_service_metadata_url_percent_encodes_colons_and_hashes() -> None:
    assert service_metadata_url("https://smp.example.org", "9915:TEST", INVOICE_ID) == (
        "https://smp.example.org/iso6523-actorid-upis%3A%3A9915%3Atest/services/"
        "busdox-docid-qns%3A%3Aurn%3Aoasis%3Anames%3Aspecification%3Aubl%3Aschema%3Axsd%3AInvoice-2%3A%3AInvoice"
        "%23%23urn%3Acen.eu%3Aen16931%3A2017%23compliant%23urn%3Afdc%3Apeppol.eu%3A2017%3Apoacc%3Abilling%3A3.0%3A%3A2.1"
    )


# --- ServiceGroup -----------------------------------------------------------------------------


def _service_group(participant: str, hrefs: list[str]) -> bytes:
    refs = "".join(f'<smp:ServiceMetadataReference href="{h}"/>' for h in hrefs)
    return (
        f'<smp:ServiceGroup xmlns:smp="{SMP_NS}" xmlns:ids="http://busdox.org/transport/identifiers/1.0/">'
        f'<ids:ParticipantIdentifier scheme="iso6523-actorid-upis">{participant}</ids:ParticipantIdentifier>'
        f"<smp:ServiceMetadataReferenceCollection>{refs}</smp:ServiceMetadataReferenceCollection></smp:ServiceGroup>"
    ).encode()


def test_parse_service_group_lists_busdox_document_types_only() -> None:
    invoice_href = service_metadata_url("https://smp.example.org", REACHABLE, INVOICE_ID)
    wildcard_href = "https://smp.example.org/x/services/peppol-doctype-wildcard%3A%3Aurn%3Apeppol%3Apint%3Abilling-1%2A"
    group = parse_service_group(_service_group("0208:0403019261", [invoice_href, wildcard_href]), "0208:0403019261")
    assert group.participant_id == "0208:0403019261"
    assert group.document_type_ids == frozenset({INVOICE_ID})


def test_parse_service_group_compares_participants_case_insensitively() -> None:
    group = parse_service_group(_service_group("9925:BE0403019261", []), "9925:be0403019261")
    assert group.participant_id == "9925:be0403019261"
    assert group.document_type_ids == frozenset()


def test_parse_service_group_refuses_another_participant() -> None:
    with pytest.raises(SmpAnswerRefused) as caught:
        parse_service_group(_service_group("0208:0403811196", []), REACHABLE)
    assert caught.value.rule == "smp.participant_mismatch"


def test_parse_service_group_refuses_non_xml() -> None:
    with pytest.raises(SmpAnswerRefused) as caught:
        parse_service_group(b"<html><body>502 Bad Gateway", REACHABLE)
    assert caught.value.rule == "smp.malformed_xml"


def test_parse_service_group_refuses_a_doctype(tmp_path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("0208:0403019261")
    body = (
        f'<?xml version="1.0"?><!DOCTYPE g [<!ENTITY x SYSTEM "file://{secret}">]>'
        f'<smp:ServiceGroup xmlns:smp="{SMP_NS}" xmlns:ids="http://busdox.org/transport/identifiers/1.0/">'
        '<ids:ParticipantIdentifier scheme="iso6523-actorid-upis">&x;</ids:ParticipantIdentifier></smp:ServiceGroup>'
    ).encode()
    with pytest.raises(SmpAnswerRefused) as caught:
        parse_service_group(body, REACHABLE)
    assert caught.value.rule == "smp.malformed_xml"


# --- signature (SMP 1.x enveloped XML-DSig, RSA-SHA256) ---------------------------------------


def _signed(sandbox, participant_id: str, key: str = "invoice") -> bytes:
    return sandbox.smp.signed_service_metadata(sandbox.smp.participants[participant_id], key)


def test_valid_signature_yields_the_signed_metadata(sandbox, test_pki, now) -> None:
    signed = verify_signed_service_metadata(_signed(sandbox, REACHABLE), truststore=test_pki.root_ca_cert, now=now)
    metadata = parse_service_metadata(signed, REACHABLE, INVOICE_ID)
    assert metadata.participant_id == REACHABLE
    assert metadata.document_type_id == INVOICE_ID
    [process] = metadata.processes
    assert process.identifier == "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
    [endpoint] = process.endpoints
    assert endpoint.url == AP_ENDPOINT
    assert endpoint.transport_profile == "peppol-transport-as4-v2_0"
    assert endpoint.technical_contact_url == "https://gateway.example/support"
    assert endpoint.certificate == x509.load_pem_x509_certificate(test_pki.ap_cert.read_bytes())


def test_unsigned_answer_is_refused(sandbox, test_pki, now) -> None:
    with pytest.raises(SmpAnswerRefused) as caught:
        verify_signed_service_metadata(_signed(sandbox, UNSIGNED), truststore=test_pki.root_ca_cert, now=now)
    assert caught.value.rule == "smp.signature_missing"


def test_tampered_answer_is_refused(sandbox, test_pki, now) -> None:
    body = _signed(sandbox, TAMPERED)
    assert b"https://attacker.example/as4" in body
    with pytest.raises(SmpAnswerRefused) as caught:
        verify_signed_service_metadata(body, truststore=test_pki.root_ca_cert, now=now)
    assert caught.value.rule == "smp.signature_invalid"


def test_answer_changed_in_transit_is_refused(sandbox, test_pki, now) -> None:
    # A correctly signed answer whose participant id is swapped afterwards.
    body = _signed(sandbox, REACHABLE).replace(b"0208:0403019261", b"0208:0403811196")
    with pytest.raises(SmpAnswerRefused) as caught:
        verify_signed_service_metadata(body, truststore=test_pki.root_ca_cert, now=now)
    assert caught.value.rule == "smp.signature_invalid"


@pytest.mark.parametrize("truststore", [None, "missing.pem"])
def test_without_a_truststore_every_answer_is_refused(sandbox, tmp_path, now, truststore) -> None:
    path = None if truststore is None else tmp_path / truststore
    with pytest.raises(SmpAnswerRefused) as caught:
        verify_signed_service_metadata(_signed(sandbox, REACHABLE), truststore=path, now=now)
    assert caught.value.rule == "smp.truststore_missing"


def test_answer_signed_by_an_untrusted_key_is_refused(sandbox, test_pki, now) -> None:
    with pytest.raises(SmpAnswerRefused) as caught:
        verify_signed_service_metadata(_signed(sandbox, UNTRUSTED), truststore=test_pki.root_ca_cert, now=now)
    assert caught.value.rule == "smp.signature_untrusted"


def test_same_answer_verifies_against_the_truststore_of_its_own_signer(sandbox, untrusted_pki, now) -> None:
    # Proves the refusal above is about trust, not about a broken signature.
    signed = verify_signed_service_metadata(_signed(sandbox, UNTRUSTED), truststore=untrusted_pki.root_ca_cert, now=now)
    assert signed.tag == f"{{{SMP_NS}}}SignedServiceMetadata"


def test_signer_certificate_expired_at_now_is_refused(sandbox, test_pki, now) -> None:
    with pytest.raises(SmpAnswerRefused) as caught:
        verify_signed_service_metadata(
            _signed(sandbox, REACHABLE), truststore=test_pki.root_ca_cert, now=now + timedelta(days=400)
        )
    assert caught.value.rule == "smp.signature_untrusted"


def test_signed_metadata_for_another_document_type_is_refused(sandbox, test_pki, now) -> None:
    signed = verify_signed_service_metadata(_signed(sandbox, REACHABLE), truststore=test_pki.root_ca_cert, now=now)
    with pytest.raises(SmpAnswerRefused) as caught:
        parse_service_metadata(signed, REACHABLE, CREDIT_NOTE.identifier)
    assert caught.value.rule == "smp.document_type_mismatch"


def test_signed_metadata_for_another_participant_is_refused(sandbox, test_pki, now) -> None:
    signed = verify_signed_service_metadata(_signed(sandbox, REACHABLE), truststore=test_pki.root_ca_cert, now=now)
    with pytest.raises(SmpAnswerRefused) as caught:
        parse_service_metadata(signed, "0208:0403811196", INVOICE_ID)
    assert caught.value.rule == "smp.participant_mismatch"


# --- endpoint choice --------------------------------------------------------------------------


@pytest.fixture
def metadata(sandbox, test_pki, now):
    signed = verify_signed_service_metadata(_signed(sandbox, REACHABLE), truststore=test_pki.root_ca_cert, now=now)
    return parse_service_metadata(signed, REACHABLE, INVOICE_ID)


def test_find_endpoint_returns_the_as4_endpoint(metadata, now) -> None:
    endpoint, rule = find_endpoint(metadata, INVOICE, now)
    assert rule == "smp.endpoint_found"
    assert endpoint is not None and endpoint.url == AP_ENDPOINT


def test_find_endpoint_needs_the_billing_process(metadata, now) -> None:
    assert find_endpoint(metadata, replace(INVOICE, process="urn:other:process"), now) == (None, "smp.process_not_supported")


def test_find_endpoint_needs_the_as4_v2_profile(metadata, now) -> None:
    [process] = metadata.processes
    as2 = replace(process, endpoints=(replace(process.endpoints[0], transport_profile="busdox-transport-as2-ver2p0"),))
    assert find_endpoint(replace(metadata, processes=(as2,)), INVOICE, now) == (None, "smp.transport_profile_not_supported")


def test_find_endpoint_respects_activation_and_expiration(metadata, now) -> None:
    [process] = metadata.processes
    endpoint = process.endpoints[0]
    expired = replace(endpoint, expiration=now)
    not_yet = replace(endpoint, activation=now + timedelta(seconds=1))
    window = replace(endpoint, activation=now, expiration=now + timedelta(seconds=1))
    for candidate, expected in [(expired, None), (not_yet, None), (window, window)]:
        found, rule = find_endpoint(replace(metadata, processes=(replace(process, endpoints=(candidate,)),)), INVOICE, now)
        assert found == expected
        assert rule == ("smp.endpoint_found" if expected else "smp.endpoint_not_active")


def test_find_endpoint_skips_an_ap_certificate_outside_its_validity(metadata, now) -> None:
    assert find_endpoint(metadata, INVOICE, now + timedelta(days=400)) == (None, "smp.endpoint_certificate_not_valid")


# --- HTTP -------------------------------------------------------------------------------------


def test_client_reads_group_and_verified_metadata(sandbox, test_pki, now) -> None:
    client = SmpClient(smp_config(test_pki))
    group = client.service_group(sandbox.smp.base_url, REACHABLE)
    assert group is not None and group.document_type_ids == frozenset({INVOICE.identifier, CREDIT_NOTE.identifier})
    metadata = client.service_metadata(sandbox.smp.base_url, REACHABLE, CREDIT_NOTE, now=now)
    assert metadata is not None and metadata.document_type_id == CREDIT_NOTE.identifier
    assert sandbox.smp.requests == [
        "/smp/iso6523-actorid-upis::0208:0403019261",
        f"/smp/iso6523-actorid-upis::0208:0403019261/services/busdox-docid-qns::{CREDIT_NOTE.identifier}",
    ]


def test_client_404_is_none(sandbox, test_pki, now) -> None:
    client = SmpClient(smp_config(test_pki))
    assert client.service_group(sandbox.smp.base_url, NOT_IN_SMP) is None
    assert client.service_metadata(sandbox.smp.base_url, REACHABLE, REMINDER, now=now) is None


def test_client_500_is_retryable(sandbox, test_pki) -> None:
    with pytest.raises(SmpUnavailable) as caught:
        SmpClient(smp_config(test_pki)).service_group(sandbox.smp.base_url, SMP_500)
    assert caught.value.rule == "smp.http_500"


def test_client_connection_refused_is_retryable(test_pki) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(SmpUnavailable) as caught:
        SmpClient(smp_config(test_pki)).service_group(f"http://127.0.0.1:{port}/smp", REACHABLE)
    assert caught.value.rule == "smp.connection_error"


def test_client_requires_https_unless_told_otherwise(sandbox, test_pki) -> None:
    strict = SmpClient(replace(smp_config(test_pki), require_https=True))
    with pytest.raises(SmpAnswerRefused) as caught:
        strict.service_group(sandbox.smp.base_url, REACHABLE)
    assert caught.value.rule == "smp.https_required"
    assert sandbox.smp.requests == []  # refused before anything was sent
