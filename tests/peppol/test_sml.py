"""SML: participant hash, DNS name, U-NAPTR parsing, and real DNS against the loopback sandbox."""

from __future__ import annotations

import socket

import dns.message
import dns.query
import dns.rdatatype
import pytest

from fixtures_discovery import NOT_REGISTERED, REACHABLE, DNS_SERVFAIL_NUMBER, sandbox, test_pki, untrusted_pki  # noqa: F401
from gateway.peppol.sml import (
    NaptrRecord,
    SmlLookupError,
    normalize_participant_id,
    participant_hash,
    resolve_smp_url,
    select_smp_url,
    sml_hostname,
    uri_from_regexp,
)

TEST_ZONE = "participant.sml.test.tech.peppol.org"
VECTOR = "eh5boavaktmbgzyh2a63dz4qov33fvp5nsdvqklucfraayoodw6a"


# --- hash and host name (PFUOI 4.4.0 POLICY 7) -------------------------------------------------


def test_hash_matches_the_documented_test_vector() -> None:
    assert participant_hash("9915:test") == VECTOR


def test_hash_lower_cases_the_value_first() -> None:
    assert participant_hash("9915:TEST") == VECTOR


def test_the_scheme_is_not_part_of_the_hash() -> None:
    # Hashing "iso6523-actorid-upis::9915:test" would give another label; only "9915:test" is hashed.
    assert participant_hash("iso6523-actorid-upis::9915:test") != VECTOR
    assert sml_hostname("iso6523-actorid-upis::9915:test", TEST_ZONE) == f"{VECTOR}.iso6523-actorid-upis.{TEST_ZONE}"


def test_hostname_has_no_b_prefix_and_ignores_a_trailing_dot_on_the_zone() -> None:
    assert sml_hostname("9915:test", TEST_ZONE + ".") == f"{VECTOR}.iso6523-actorid-upis.{TEST_ZONE}"
    assert not sml_hostname("9915:test", TEST_ZONE).startswith("b-")


def test_hash_is_52_base32_characters_without_padding() -> None:
    label = participant_hash("0208:0403019261")
    assert len(label) == 52
    assert set(label) <= set("abcdefghijklmnopqrstuvwxyz234567")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0208:0403019261", "0208:0403019261"),
        ("9925:BE0403019261", "9925:be0403019261"),
        ("  iso6523-actorid-upis::0208:0403019261 ", "0208:0403019261"),
        ("ISO6523-ACTORID-UPIS::9915:Test", "9915:test"),
    ],
)
def test_normalize_participant_id(text: str, expected: str) -> None:
    assert normalize_participant_id(text) == expected


@pytest.mark.parametrize("text", ["0208", "BE0403019261", "208:0403019261", "abcd:1", "foo::0208:1", "0208:", "0208:a b"])
def test_normalize_participant_id_refuses_non_ids(text: str) -> None:
    with pytest.raises(ValueError):
        normalize_participant_id(text)


# --- U-NAPTR (RFC 3403 / RFC 4848) -------------------------------------------------------------


@pytest.mark.parametrize(
    ("regexp", "uri"),
    [
        ("!.*!https://smp.example.org/smp!", "https://smp.example.org/smp"),
        ("!^.*$!https://smp.example.org/!", "https://smp.example.org/"),
        ("#.*#https://smp.example.org/#", "https://smp.example.org/"),
        ("!(.*)!https://\\1/!", None),  # back-reference: not a U-NAPTR answer
        ("!.*smp!https://smp.example.org/!", None),  # ERE does not replace the whole input
        ("!.*!!", None),  # empty URI
        ("!.*!https://smp.example.org/!x", None),  # unknown flag
        ("1.*1https://smp.example.org/1", None),  # digits cannot delimit
        ("", None),
    ],
)
def test_uri_from_regexp(regexp: str, uri: str | None) -> None:
    assert uri_from_regexp(regexp) == uri


def test_select_smp_url_takes_u_meta_smp_lowest_order_then_preference() -> None:
    records = [
        NaptrRecord(order=100, preference=10, flags="U", service="Meta:SMP", regexp="!.*!https://third.example/!"),
        NaptrRecord(order=50, preference=20, flags="U", service="meta:smp", regexp="!.*!https://second.example/!"),
        NaptrRecord(order=50, preference=10, flags="u", service="Meta:SMP", regexp="!.*!https://first.example/!"),
        NaptrRecord(order=1, preference=1, flags="S", service="Meta:SMP", regexp="!.*!https://not-terminal.example/!"),
        NaptrRecord(order=1, preference=1, flags="U", service="Meta:Other", regexp="!.*!https://other.example/!"),
    ]
    assert select_smp_url(records) == "https://first.example/"


def test_select_smp_url_skips_records_without_a_usable_uri() -> None:
    records = [
        NaptrRecord(order=1, preference=1, flags="U", service="Meta:SMP", regexp="!.*!ftp://smp.example/!"),
        NaptrRecord(order=2, preference=1, flags="U", service="Meta:SMP", regexp="!.*!https://smp.example/!"),
    ]
    assert select_smp_url(records) == "https://smp.example/"
    assert select_smp_url(records[:1]) is None
    assert select_smp_url([]) is None


# --- real DNS on loopback ----------------------------------------------------------------------


def test_sandbox_answers_an_sml_style_naptr_record(sandbox) -> None:
    host, port = sandbox.nameserver
    name = sml_hostname(REACHABLE, sandbox.zone) + "."
    response = dns.query.udp(dns.message.make_query(name, dns.rdatatype.NAPTR), host, port=port, timeout=2)
    assert [rrset.to_text() for rrset in response.answer] == [
        f'{name} 60 IN NAPTR 100 10 "U" "Meta:SMP" "!.*!{sandbox.smp.base_url}!" .'
    ]


def test_resolve_registered_participant_returns_the_smp_url(sandbox) -> None:
    url = resolve_smp_url(REACHABLE, zone=sandbox.zone, nameserver=sandbox.nameserver, timeout_seconds=2)
    assert url == sandbox.smp.base_url
    assert sandbox.dns.queries == [sml_hostname(REACHABLE, sandbox.zone)]


def test_resolve_unknown_participant_is_none(sandbox) -> None:
    assert resolve_smp_url(NOT_REGISTERED, zone=sandbox.zone, nameserver=sandbox.nameserver, timeout_seconds=2) is None


def test_resolve_servfail_raises_a_retryable_error(sandbox) -> None:
    with pytest.raises(SmlLookupError) as caught:
        resolve_smp_url(f"0208:{DNS_SERVFAIL_NUMBER}", zone=sandbox.zone, nameserver=sandbox.nameserver, timeout_seconds=2)
    assert caught.value.rule == "sml.dns_no_server"


def test_resolve_with_dns_server_down_raises_a_retryable_error() -> None:
    # A port that was just bound and released: nothing listens there.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(SmlLookupError) as caught:
        resolve_smp_url(REACHABLE, zone=TEST_ZONE, nameserver=("127.0.0.1", port), timeout_seconds=1)
    # dnspython's unconnected UDP socket never sees the ICMP "port unreachable", so the query times out.
    assert caught.value.rule == "sml.dns_timeout"
