"""Discovery: every outcome end to end (real DNS + HTTP on loopback), 0208 before 9925, the TTL
cache under controlled time, and the `gateway peppol lookup` CLI (exit codes and JSON)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from fixtures_discovery import (  # noqa: F401 - fixtures
    AP_ENDPOINT,
    AS2_ONLY,
    BOTH_NUMBER,
    DNS_SERVFAIL_NUMBER,
    EXPIRES_AT,
    EXPIRING,
    NOT_IN_SMP,
    NOT_REGISTERED,
    REACHABLE,
    SMP_500,
    TAMPERED,
    UNSIGNED,
    UNTRUSTED,
    VAT_ONLY_NUMBER,
    WITH_REMINDER,
    discovery,
    discovery_config,
    now,
    sandbox,
    test_pki,
    tls_sandbox,
    untrusted_pki,
)
from gateway.config import Settings, sml_zone
from pydantic import ValidationError
from gateway.errors import InvalidInput, RetryableError, TerminalError
from gateway.peppol.discovery import (
    DiscoveryConfig,
    LookupOutcome,
    ParticipantDiscovery,
    PeppolLookupFailed,
    PeppolNotReachable,
    belgian_participant_ids,
)
from gateway.peppol.sml import sml_hostname
from gateway.peppol.smp import CREDIT_NOTE, INVOICE, REMINDER

GATEWAY = Path(sys.executable).parent / "gateway"


# --- outcomes ---------------------------------------------------------------------------------


def test_reachable(discovery, sandbox, test_pki, now) -> None:
    result = discovery.lookup(REACHABLE, "invoice", now=now)
    assert result.outcome is LookupOutcome.REACHABLE
    assert result.reason == "smp.endpoint_found"
    assert result.participant_id == REACHABLE
    assert result.document_type is INVOICE
    assert result.smp_url == sandbox.smp.base_url
    assert result.checked_at == now
    assert result.tried == (REACHABLE,)
    assert result.endpoint is not None
    assert result.endpoint.url == AP_ENDPOINT
    assert result.endpoint.transport_profile == "peppol-transport-as4-v2_0"
    assert result.endpoint.certificate == x509.load_pem_x509_certificate(test_pki.ap_cert.read_bytes())
    assert (result.is_final, result.is_retryable) == (False, False)
    assert result.raise_for_outcome() is result.endpoint


def test_reachable_for_credit_note_and_reminder_where_listed(discovery, now) -> None:
    assert discovery.lookup(REACHABLE, CREDIT_NOTE, now=now).outcome is LookupOutcome.REACHABLE
    reminder = discovery.lookup(WITH_REMINDER, "reminder", now=now)
    assert (reminder.outcome, reminder.document_type) == (LookupOutcome.REACHABLE, REMINDER)


def test_scheme_prefixed_and_upper_case_ids_are_the_same_participant(discovery, now) -> None:
    result = discovery.lookup("iso6523-actorid-upis::9925:BE" + VAT_ONLY_NUMBER, "invoice", now=now)
    assert (result.outcome, result.participant_id) == (LookupOutcome.REACHABLE, f"9925:be{VAT_ONLY_NUMBER}")


def test_not_registered_in_the_sml(discovery, sandbox, now) -> None:
    result = discovery.lookup(NOT_REGISTERED, "invoice", now=now)
    assert result.outcome is LookupOutcome.NOT_REGISTERED
    assert result.reason == "sml.not_registered"
    assert result.smp_url is None and result.endpoint is None
    assert (result.is_final, result.is_retryable) == (True, False)
    assert sandbox.smp.requests == []  # the SMP is never asked
    with pytest.raises(PeppolNotReachable) as caught:
        result.raise_for_outcome()
    assert isinstance(caught.value, TerminalError)


def test_not_registered_at_the_smp(discovery, sandbox, now) -> None:
    result = discovery.lookup(NOT_IN_SMP, "invoice", now=now)
    assert (result.outcome, result.reason, result.smp_url) == (
        LookupOutcome.NOT_REGISTERED, "smp.participant_unknown", sandbox.smp.base_url,
    )


def test_document_type_not_listed(discovery, sandbox, now) -> None:
    result = discovery.lookup(REACHABLE, "reminder", now=now)
    assert result.outcome is LookupOutcome.DOCUMENT_TYPE_NOT_SUPPORTED
    assert result.reason == "smp.document_type_not_listed"
    assert result.endpoint is None and result.is_final
    # Decided on the ServiceGroup alone: no service metadata fetched.
    assert sandbox.smp.requests == ["/smp/iso6523-actorid-upis::0208:0403019261"]


def test_document_type_listed_but_only_over_a_removed_transport_profile(discovery, now) -> None:
    result = discovery.lookup(AS2_ONLY, "invoice", now=now)
    assert (result.outcome, result.reason) == (LookupOutcome.DOCUMENT_TYPE_NOT_SUPPORTED, "smp.transport_profile_not_supported")


@pytest.mark.parametrize(
    ("participant", "reason"),
    [
        (SMP_500, "smp.http_500"),
        (f"0208:{DNS_SERVFAIL_NUMBER}", "sml.dns_no_server"),
        (UNSIGNED, "smp.signature_missing"),
        (TAMPERED, "smp.signature_invalid"),
        (UNTRUSTED, "smp.signature_untrusted"),
    ],
)
def test_lookup_failed_is_temporary(discovery, now, participant: str, reason: str) -> None:
    result = discovery.lookup(participant, "invoice", now=now)
    assert (result.outcome, result.reason) == (LookupOutcome.LOOKUP_FAILED, reason)
    assert result.endpoint is None
    assert (result.is_final, result.is_retryable) == (False, True)
    with pytest.raises(PeppolLookupFailed) as caught:
        result.raise_for_outcome()
    assert isinstance(caught.value, RetryableError)


def test_lookup_failed_when_the_dns_server_is_down(sandbox, test_pki, now) -> None:
    config = discovery_config(sandbox, test_pki)
    sandbox.dns.stop()
    result = ParticipantDiscovery(config).lookup(REACHABLE, "invoice", now=now)
    assert (result.outcome, result.reason) == (LookupOutcome.LOOKUP_FAILED, "sml.dns_timeout")
    assert sandbox.smp.requests == []


def test_reachable_over_https_with_the_production_https_rule(tls_sandbox, test_pki, now) -> None:
    config = discovery_config(tls_sandbox, test_pki)
    config = replace(config, smp=replace(config.smp, require_https=True, tls_ca_bundle=test_pki.root_ca_cert))
    result = ParticipantDiscovery(config).lookup(REACHABLE, "invoice", now=now)
    assert (result.outcome, result.smp_url) == (LookupOutcome.REACHABLE, tls_sandbox.smp.base_url)
    assert result.smp_url.startswith("https://127.0.0.1:")
    assert len(tls_sandbox.smp.requests) == 2


def test_smp_tls_certificate_not_trusted_is_a_temporary_failure(tls_sandbox, test_pki, untrusted_pki, now) -> None:
    config = discovery_config(tls_sandbox, test_pki)
    config = replace(config, smp=replace(config.smp, require_https=True, tls_ca_bundle=untrusted_pki.root_ca_cert))
    result = ParticipantDiscovery(config).lookup(REACHABLE, "invoice", now=now)
    assert (result.outcome, result.reason) == (LookupOutcome.LOOKUP_FAILED, "smp.tls_error")
    assert tls_sandbox.smp.requests == []  # the handshake failed before any request was read


def test_invalid_input_is_refused_before_any_lookup(discovery, sandbox, now) -> None:
    with pytest.raises(InvalidInput) as bad_id:
        discovery.lookup("BE0403019261", "invoice", now=now)
    assert bad_id.value.problems[0].rule == "peppol_id.format"
    with pytest.raises(InvalidInput) as bad_type:
        discovery.lookup(REACHABLE, "order", now=now)
    assert bad_type.value.problems[0].rule == "peppol.document_type"
    with pytest.raises(ValueError):
        discovery.lookup(REACHABLE, "invoice", now=now.replace(tzinfo=None))
    assert sandbox.dns.queries == []


# --- Belgian companies: 0208 before 9925 ------------------------------------------------------


def test_belgian_participant_ids() -> None:
    assert belgian_participant_ids("BE 0403.019.261") == ("0208:0403019261", "9925:be0403019261")
    assert belgian_participant_ids("403019261") == ("0208:0403019261", "9925:be0403019261")  # old 9-digit form
    with pytest.raises(InvalidInput) as caught:
        belgian_participant_ids("0403019262")
    assert caught.value.problems[0].field == "enterprise_number"
    # A BE VAT number alone gives both ids; with both, 0208 comes from the enterprise number, 9925 from the VAT number.
    assert belgian_participant_ids(vat_number="BE0403019261") == ("0208:0403019261", "9925:be0403019261")
    assert belgian_participant_ids("0403019261", vat_number="BE0404603034") == ("0208:0403019261", "9925:be0404603034")
    assert belgian_participant_ids(vat_number="NL123456789B01") == ()
    assert belgian_participant_ids() == ()
    with pytest.raises(InvalidInput) as caught:
        belgian_participant_ids(vat_number="BE0403019262")
    assert (caught.value.problems[0].field, caught.value.problems[0].rule) == ("vat_number", "vat_number.invalid")


def test_0208_wins_and_9925_is_not_asked(discovery, sandbox, now) -> None:
    result = discovery.lookup_belgian_company(BOTH_NUMBER, "invoice", now=now)
    assert (result.outcome, result.participant_id) == (LookupOutcome.REACHABLE, f"0208:{BOTH_NUMBER}")
    assert result.endpoint is not None and result.endpoint.url == AP_ENDPOINT  # not the 9925 registration's AP
    assert result.tried == (f"0208:{BOTH_NUMBER}",)
    assert sandbox.dns.queries == [sml_hostname(f"0208:{BOTH_NUMBER}", sandbox.zone)]


def test_9925_is_tried_after_0208_is_not_registered(discovery, sandbox, now) -> None:
    result = discovery.lookup_belgian_company(VAT_ONLY_NUMBER, "invoice", now=now)
    assert (result.outcome, result.participant_id) == (LookupOutcome.REACHABLE, f"9925:be{VAT_ONLY_NUMBER}")
    assert result.tried == (f"0208:{VAT_ONLY_NUMBER}", f"9925:be{VAT_ONLY_NUMBER}")
    assert sandbox.dns.queries == [
        sml_hostname(f"0208:{VAT_ONLY_NUMBER}", sandbox.zone),
        sml_hostname(f"9925:be{VAT_ONLY_NUMBER}", sandbox.zone),
    ]


def test_neither_id_registered(discovery, now) -> None:
    result = discovery.lookup_belgian_company(NOT_REGISTERED.split(":")[1], "invoice", now=now)
    assert (result.outcome, result.participant_id, result.reason) == (
        LookupOutcome.NOT_REGISTERED, NOT_REGISTERED, "sml.not_registered",
    )
    assert result.tried == (NOT_REGISTERED, "9925:be0411730158")


def test_0208_registered_without_the_document_type_and_no_9925(discovery, now) -> None:
    result = discovery.lookup_belgian_company(REACHABLE.split(":")[1], "reminder", now=now)
    assert (result.outcome, result.participant_id) == (LookupOutcome.DOCUMENT_TYPE_NOT_SUPPORTED, REACHABLE)
    assert result.tried == (REACHABLE, "9925:be0403019261")


def test_a_temporary_failure_on_0208_is_not_turned_into_not_registered(discovery, now) -> None:
    result = discovery.lookup_belgian_company(DNS_SERVFAIL_NUMBER, "invoice", now=now)
    assert (result.outcome, result.participant_id, result.reason) == (
        LookupOutcome.LOOKUP_FAILED, f"0208:{DNS_SERVFAIL_NUMBER}", "sml.dns_no_server",
    )
    assert result.tried == (f"0208:{DNS_SERVFAIL_NUMBER}", f"9925:be{DNS_SERVFAIL_NUMBER}")


# --- cache ------------------------------------------------------------------------------------


def test_positive_answer_is_cached_for_cache_seconds(discovery, sandbox, now) -> None:
    first = discovery.lookup(REACHABLE, "invoice", now=now)
    assert len(sandbox.dns.queries) == 1 and len(sandbox.smp.requests) == 2
    assert discovery.lookup(REACHABLE, "invoice", now=now + timedelta(seconds=3599)) is first
    assert len(sandbox.dns.queries) == 1 and len(sandbox.smp.requests) == 2
    again = discovery.lookup(REACHABLE, "invoice", now=now + timedelta(seconds=3600))
    assert again is not first and again.checked_at == now + timedelta(seconds=3600)
    assert len(sandbox.dns.queries) == 2 and len(sandbox.smp.requests) == 4


def test_cache_is_per_document_type(discovery, sandbox, now) -> None:
    discovery.lookup(REACHABLE, "invoice", now=now)
    discovery.lookup(REACHABLE, "credit-note", now=now)
    assert len(sandbox.dns.queries) == 2


def test_negative_answer_is_cached_shorter(discovery, sandbox, now) -> None:
    first = discovery.lookup(NOT_REGISTERED, "invoice", now=now)
    assert discovery.lookup(NOT_REGISTERED, "invoice", now=now + timedelta(seconds=599)) is first
    assert len(sandbox.dns.queries) == 1
    discovery.lookup(NOT_REGISTERED, "invoice", now=now + timedelta(seconds=600))
    assert len(sandbox.dns.queries) == 2


def test_failed_lookup_is_not_cached(discovery, sandbox, now) -> None:
    discovery.lookup(SMP_500, "invoice", now=now)
    discovery.lookup(SMP_500, "invoice", now=now)
    assert len(sandbox.dns.queries) == 2
    assert len(sandbox.smp.requests) == 2


def test_positive_answer_is_not_cached_past_the_endpoint_expiration(sandbox, test_pki, now) -> None:
    # Cache for ten days; the endpoint expires in one (ServiceExpirationDate), which wins.
    discovery = ParticipantDiscovery(replace(discovery_config(sandbox, test_pki), cache_seconds=10 * 86400))
    first = discovery.lookup(EXPIRING, "invoice", now=now)
    assert first.outcome is LookupOutcome.REACHABLE
    assert first.endpoint is not None and first.endpoint.expiration == EXPIRES_AT
    assert discovery.lookup(EXPIRING, "invoice", now=EXPIRES_AT - timedelta(seconds=1)) is first
    assert len(sandbox.dns.queries) == 1
    expired = discovery.lookup(EXPIRING, "invoice", now=EXPIRES_AT)
    assert (expired.outcome, expired.reason) == (LookupOutcome.DOCUMENT_TYPE_NOT_SUPPORTED, "smp.endpoint_not_active")
    assert len(sandbox.dns.queries) == 2


def test_clear_cache(discovery, sandbox, now) -> None:
    discovery.lookup(REACHABLE, "invoice", now=now)
    discovery.clear_cache()
    discovery.lookup(REACHABLE, "invoice", now=now)
    assert len(sandbox.dns.queries) == 2


# --- settings ---------------------------------------------------------------------------------


def test_config_from_settings(tmp_path) -> None:
    settings = Settings(
        peppol_sml_zone="participant.sml.test.tech.peppol.org",
        peppol_dns_host="127.0.0.1",
        peppol_dns_port=5353,
        peppol_smp_truststore=tmp_path / "smp-ca.pem",
        peppol_smp_require_https=False,
        peppol_smp_tls_ca_bundle=str(tmp_path / "tls-ca.pem"),
        peppol_lookup_cache_seconds=60,
        peppol_lookup_negative_cache_seconds=30,
    )
    config = DiscoveryConfig.from_settings(settings)
    assert (config.sml_zone, config.nameserver) == ("participant.sml.test.tech.peppol.org", ("127.0.0.1", 5353))
    assert (config.smp.truststore, config.smp.require_https) == (tmp_path / "smp-ca.pem", False)
    assert config.smp.tls_ca_bundle == tmp_path / "tls-ca.pem"
    assert (config.smp.connect_timeout_seconds, config.smp.read_timeout_seconds) == (5.0, 10.0)
    assert (config.cache_seconds, config.negative_cache_seconds) == (60, 30)


def test_defaults_use_the_openpeppol_production_zone_the_system_resolver_and_https() -> None:
    config = DiscoveryConfig.from_settings(Settings())
    assert config.sml_zone == "participant.sml.prod.tech.peppol.org"
    assert config.nameserver is None
    assert config.smp.require_https is True
    assert config.smp.truststore is None  # never a test root by default
    assert config.smp.tls_ca_bundle is None


def test_the_network_setting_switches_between_the_production_and_the_test_sml_zone(monkeypatch) -> None:
    for name in ("GATEWAY_PEPPOL_NETWORK", "GATEWAY_PEPPOL_SML_ZONE", "GATEWAY_PEPPOL_SML_ZONE_PRODUCTION", "GATEWAY_PEPPOL_SML_ZONE_TEST"):
        monkeypatch.delenv(name, raising=False)
    # channels-and-law.md 6.4: the OpenPeppol zones (the EC edelivery.tech.ec.europa.eu names are legacy).
    assert sml_zone(Settings()) == "participant.sml.prod.tech.peppol.org"
    assert sml_zone(Settings(peppol_network="test")) == "participant.sml.test.tech.peppol.org"
    monkeypatch.setenv("GATEWAY_PEPPOL_NETWORK", "test")
    assert DiscoveryConfig.from_settings(Settings()).sml_zone == "participant.sml.test.tech.peppol.org"
    # Each network's zone is a setting of its own; an explicit zone (the loopback sandbox) wins over both.
    monkeypatch.setenv("GATEWAY_PEPPOL_SML_ZONE_TEST", "sml.acceptance.example")
    assert sml_zone(Settings()) == "sml.acceptance.example"
    monkeypatch.setenv("GATEWAY_PEPPOL_SML_ZONE", "participant.sml.sandbox.test")
    assert sml_zone(Settings()) == "participant.sml.sandbox.test"
    monkeypatch.setenv("GATEWAY_PEPPOL_NETWORK", "staging")
    with pytest.raises(ValidationError, match="peppol_network"):
        Settings()


def test_cli_network_option_picks_the_zone(sandbox) -> None:
    env = {**os.environ, **sandbox.settings_env(), "GATEWAY_PEPPOL_SML_ZONE": "", "GATEWAY_PEPPOL_SML_ZONE_TEST": sandbox.zone,
           "GATEWAY_PEPPOL_SML_ZONE_PRODUCTION": "participant.sml.prod.invalid"}
    run = lambda *args: subprocess.run([str(GATEWAY), "peppol", "lookup", REACHABLE, "--json", *args], env=env, capture_output=True, text=True, timeout=60)  # noqa: E731
    on_test = run("--network", "test")
    assert on_test.returncode == 0, on_test.stderr
    assert json.loads(on_test.stdout)["outcome"] == "reachable"
    # The production zone (here a name under .invalid the sandbox DNS does not serve) does not know it.
    on_production = run("--network", "production")
    assert (on_production.returncode, json.loads(on_production.stdout)["reason"]) == (1, "sml.not_registered")


# --- CLI --------------------------------------------------------------------------------------


def _cli(sandbox, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **sandbox.settings_env()}
    return subprocess.run(
        [str(GATEWAY), "peppol", "lookup", *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_cli_reachable_json(sandbox, test_pki) -> None:
    run = _cli(sandbox, REACHABLE, "--document-type", "credit-note", "--json")
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    ap_cert = x509.load_pem_x509_certificate(test_pki.ap_cert.read_bytes())
    checked_at = data.pop("checked_at")
    assert checked_at.endswith("+00:00")
    assert data == {
        "participant_id": REACHABLE,
        "document_type": "credit-note",
        "document_type_id": CREDIT_NOTE.identifier,
        "process_id": "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0",
        "outcome": "reachable",
        "final": False,
        "retryable": False,
        "reason": "smp.endpoint_found",
        "detail": f"AS4 endpoint {AP_ENDPOINT}",
        "smp_url": sandbox.smp.base_url,
        "endpoint": {
            "url": AP_ENDPOINT,
            "transport_profile": "peppol-transport-as4-v2_0",
            "activation": None,
            "expiration": None,
            "technical_contact_url": "https://gateway.example/support",
            "certificate": {
                "subject": ap_cert.subject.rfc4514_string(),
                "issuer": ap_cert.issuer.rfc4514_string(),
                "serial_number": format(ap_cert.serial_number, "x"),
                "not_valid_before": ap_cert.not_valid_before_utc.isoformat(),
                "not_valid_after": ap_cert.not_valid_after_utc.isoformat(),
                "sha256_fingerprint": ap_cert.fingerprint(hashes.SHA256()).hex(),
            },
        },
        "tried": [REACHABLE],
    }


def test_cli_text_output_over_https(tls_sandbox) -> None:
    assert tls_sandbox.settings_env()["GATEWAY_PEPPOL_SMP_REQUIRE_HTTPS"] == "true"
    run = _cli(tls_sandbox, REACHABLE)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert "outcome           reachable" in lines
    assert f"endpoint          {AP_ENDPOINT}" in lines


def test_cli_final_negatives_exit_1(sandbox) -> None:
    not_registered = _cli(sandbox, NOT_REGISTERED, "--json")
    assert not_registered.returncode == 1
    assert json.loads(not_registered.stdout)["outcome"] == "not_registered"
    not_supported = _cli(sandbox, REACHABLE, "--document-type", "reminder", "--json")
    assert not_supported.returncode == 1
    assert json.loads(not_supported.stdout)["outcome"] == "document_type_not_supported"


def test_cli_temporary_failure_exits_3(sandbox) -> None:
    run = _cli(sandbox, SMP_500, "--json")
    assert run.returncode == 3
    data = json.loads(run.stdout)
    assert (data["outcome"], data["reason"], data["retryable"]) == ("lookup_failed", "smp.http_500", True)


def test_cli_bare_enterprise_number_tries_0208_then_9925(sandbox) -> None:
    run = _cli(sandbox, f"BE{VAT_ONLY_NUMBER}", "--json")
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert data["participant_id"] == f"9925:be{VAT_ONLY_NUMBER}"
    assert data["tried"] == [f"0208:{VAT_ONLY_NUMBER}", f"9925:be{VAT_ONLY_NUMBER}"]


def test_cli_usage_errors_exit_2(sandbox) -> None:
    bad_id = _cli(sandbox, "0208:")
    assert bad_id.returncode == 2
    assert "PARTICIPANT_ID" in bad_id.stderr
    bad_number = _cli(sandbox, "0403019262")
    assert bad_number.returncode == 2
    bad_type = _cli(sandbox, REACHABLE, "--document-type", "order")
    assert bad_type.returncode == 2
    assert sandbox.dns.queries == []
