"""Fixtures for the Peppol discovery tests: a test PKI and the loopback SML/SMP sandbox.

Imported by tests/peppol/test_{sml,smp,discovery}.py (tests/peppol/conftest.py belongs to others).
Everything runs against real DNS and HTTP servers on 127.0.0.1; nothing here resolves real names.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from gateway.kit.time import utc_now
from gateway.peppol.discovery import DiscoveryConfig, ParticipantDiscovery
from gateway.peppol.sandbox_smp import PeppolSandbox, SandboxParticipant
from gateway.peppol.smp import SmpClientConfig
from gateway.peppol.testpki import TestPki, make_test_pki

# Valid Belgian enterprise numbers (mod 97), one per scenario.
REACHABLE = "0208:0403019261"  # Invoice + CreditNote
WITH_REMINDER = "0208:0403811196"  # Invoice + CreditNote + Reminder
VAT_ONLY_NUMBER = "0404603034"  # only 9925:be0404603034 is registered
BOTH_NUMBER = "0405394969"  # both 0208 and 9925 are registered
SMP_500 = "0208:0406186807"  # SMP answers HTTP 500
UNSIGNED = "0208:0406978742"  # SignedServiceMetadata without ds:Signature
TAMPERED = "0208:0407770677"  # changed after signing
UNTRUSTED = "0208:0408562515"  # signed by a key outside the truststore
DNS_SERVFAIL_NUMBER = "0409354450"  # DNS answers SERVFAIL for 0208:<this>
NOT_IN_SMP = "0208:0410146385"  # in the SML, but the SMP answers 404
AS2_ONLY = "0208:0410938223"  # endpoint only with a removed transport profile
NOT_REGISTERED = "0208:0411730158"  # nowhere
EXPIRING = "0208:0412522093"  # endpoint with a ServiceExpirationDate a day from now
EXPIRES_AT = utc_now().replace(microsecond=0) + timedelta(days=1)

AP_ENDPOINT = "https://ap.sandbox.test/as4"

PARTICIPANTS = (
    SandboxParticipant(REACHABLE),
    SandboxParticipant(WITH_REMINDER, document_types=("invoice", "credit-note", "reminder")),
    SandboxParticipant(f"9925:be{VAT_ONLY_NUMBER}"),
    SandboxParticipant(f"0208:{BOTH_NUMBER}"),
    SandboxParticipant(f"9925:be{BOTH_NUMBER}", endpoint_url="https://other-ap.sandbox.test/as4"),
    SandboxParticipant(SMP_500, smp_status=500),
    SandboxParticipant(UNSIGNED, signature="unsigned"),
    SandboxParticipant(TAMPERED, signature="tampered"),
    SandboxParticipant(UNTRUSTED, signature="untrusted"),
    SandboxParticipant(f"0208:{DNS_SERVFAIL_NUMBER}", dns_ok=False),
    SandboxParticipant(NOT_IN_SMP, in_smp=False),
    SandboxParticipant(AS2_ONLY, transport_profile="busdox-transport-as2-ver2p0"),
    SandboxParticipant(EXPIRING, expiration=EXPIRES_AT),
)


@pytest.fixture(scope="session")
def test_pki(tmp_path_factory) -> TestPki:
    return make_test_pki(tmp_path_factory.mktemp("peppol-pki"))


@pytest.fixture(scope="session")
def untrusted_pki(tmp_path_factory) -> TestPki:
    return make_test_pki(tmp_path_factory.mktemp("untrusted-pki"), organization="Untrusted Test PKI")


@pytest.fixture
def sandbox(test_pki: TestPki, untrusted_pki: TestPki):
    with PeppolSandbox(PARTICIPANTS, pki=test_pki, untrusted_pki=untrusted_pki) as running:
        yield running


@pytest.fixture
def tls_sandbox(test_pki: TestPki, untrusted_pki: TestPki):
    """The same sandbox with the SMP on HTTPS (certificate for 127.0.0.1 under the test root)."""
    with PeppolSandbox(PARTICIPANTS, pki=test_pki, untrusted_pki=untrusted_pki, tls=True) as running:
        yield running


@pytest.fixture
def now() -> datetime:
    # Real time (the test certificates are valid from yesterday for a year), whole seconds for exact asserts.
    return utc_now().replace(microsecond=0)


def smp_config(pki: TestPki) -> SmpClientConfig:
    return SmpClientConfig(
        truststore=pki.root_ca_cert, connect_timeout_seconds=2, read_timeout_seconds=2, require_https=False
    )


def discovery_config(sandbox: PeppolSandbox, pki: TestPki) -> DiscoveryConfig:
    return DiscoveryConfig(
        sml_zone=sandbox.zone,
        nameserver=sandbox.nameserver,
        dns_timeout_seconds=2,
        smp=smp_config(pki),
        cache_seconds=3600,
        negative_cache_seconds=600,
    )


@pytest.fixture
def discovery(sandbox: PeppolSandbox, test_pki: TestPki) -> ParticipantDiscovery:
    return ParticipantDiscovery(discovery_config(sandbox, test_pki))
