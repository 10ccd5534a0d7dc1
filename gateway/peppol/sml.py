"""Peppol SML: from a participant id to the base URL of its SMP, over DNS (U-NAPTR).

Sources: Peppol SML 1.3.0 and Peppol Policy for use of Identifiers (PFUOI) 4.4.0 POLICY 7, as
summarised in docs/channels-and-law.md section 6.4 (and phax/peppol-cli wiki "Specifications");
BDXL 1.0 and RFC 4848 (U-NAPTR) for the record format.

The pure part (hash, host name, NAPTR record selection) takes values and returns values. The one
I/O function, `resolve_smp_url`, asks a DNS server through dnspython; its server and zone are
passed in, so tests and the demo point it at the loopback sandbox and never at real DNS.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass

import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver

from gateway.errors import RetryableError

# PFUOI 4.4.0: "iso6523-actorid-upis" is the participant identifier scheme; at transport level the id
# is written `iso6523-actorid-upis::0208:0403019261`.
PARTICIPANT_SCHEME = "iso6523-actorid-upis"
# SML 1.3.0 / BDXL: the U-NAPTR service name whose record points at the SMP.
SMP_SERVICE = "Meta:SMP"

# The ICD (ISO 6523 code) is four digits; the value after the colon is free text up to 130 characters
# (PFUOI 4.4.0 raised the participant identifier maximum from 50 to 130).
_PARTICIPANT_RE = re.compile(r"^(?P<icd>[0-9]{4}):(?P<value>\S{1,130})$")


class SmlLookupError(RetryableError):
    """The SML could not be asked (timeout, SERVFAIL, no server answered): try again later."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message


def normalize_participant_id(participant_id: str) -> str:
    """`0208:0403019261` or `iso6523-actorid-upis::0208:0403019261` -> `0208:0403019261` (lower-cased).

    PFUOI POLICY 2: participant identifier values are case-insensitive, so they are compared and
    hashed lower-cased. Raises ValueError when the text is not an ICD-qualified participant id.
    """
    text = participant_id.strip()
    scheme, sep, rest = text.partition("::")
    if sep:
        if scheme.lower() != PARTICIPANT_SCHEME:
            raise ValueError(f"participant identifier scheme must be {PARTICIPANT_SCHEME}, got {scheme!r}")
        text = rest
    if not _PARTICIPANT_RE.match(text):
        raise ValueError(f"not a Peppol participant id (ICD:value, e.g. 0208:0403019261): {participant_id!r}")
    return text.lower()


def participant_hash(participant_value: str) -> str:
    """The DNS label for a participant: base32(sha256(lower-cased value)), '=' padding stripped, lower-case.

    PFUOI 4.4.0 POLICY 7 / SML 1.3.0: only the value including the ICD (`9915:test`) is hashed; the
    scheme `iso6523-actorid-upis` is not part of the hash but becomes its own DNS label. Test vector:
    `9915:test` -> `eh5boavaktmbgzyh2a63dz4qov33fvp5nsdvqklucfraayoodw6a`. (The `B-` + MD5 + CNAME
    form is the legacy scheme, forbidden since 2025-11-01.)
    """
    digest = hashlib.sha256(participant_value.lower().encode("utf-8")).digest()
    return base64.b32encode(digest).decode("ascii").rstrip("=").lower()


def sml_hostname(participant_id: str, zone: str) -> str:
    """`<hash>.iso6523-actorid-upis.<zone>` without a trailing dot, e.g. for `9915:test` in the test zone."""
    value = normalize_participant_id(participant_id)
    return f"{participant_hash(value)}.{PARTICIPANT_SCHEME}.{zone.strip().rstrip('.')}"


@dataclass(frozen=True)
class NaptrRecord:
    """The fields of one NAPTR record (RFC 3403 section 4.1) that U-NAPTR uses."""

    order: int
    preference: int
    flags: str
    service: str
    regexp: str


def uri_from_regexp(regexp: str) -> str | None:
    """The URI of a U-NAPTR regexp such as `!.*!https://smp.example.org/!`, or None if it is not usable.

    RFC 3403 section 4.1: the field is delim-char ERE delim-char replacement delim-char [flags].
    RFC 4848 section 2.2 (U-NAPTR): the result is the URI itself, so the ERE has to match the whole
    input (`.*`, optionally anchored) and the replacement must not use back-references; anything
    else is not a U-NAPTR answer we can apply.
    """
    if len(regexp) < 4:
        return None
    delimiter = regexp[0]
    if delimiter.isdigit() or delimiter == "\\":
        return None
    parts = regexp[1:].split(delimiter)
    if len(parts) != 3 or parts[2] not in ("", "i"):
        return None
    ere, replacement = parts[0], parts[1]
    if ere not in (".*", "^.*$") or "\\" in replacement or not replacement:
        return None
    return replacement


def select_smp_url(records: list[NaptrRecord]) -> str | None:
    """The SMP base URL from the NAPTR records of a participant name, or None when none applies.

    SML 1.3.0 / BDXL: take the records with flag "U" and service "Meta:SMP" (RFC 3403: flags and
    services compare case-insensitively), lowest order first, then lowest preference; the first one
    whose regexp yields an http(s) URI wins.
    """
    candidates = [
        record
        for record in records
        if record.flags.upper() == "U" and record.service.lower() == SMP_SERVICE.lower()
    ]
    for record in sorted(candidates, key=lambda r: (r.order, r.preference)):
        uri = uri_from_regexp(record.regexp)
        if uri and uri.lower().startswith(("https://", "http://")):
            return uri
    return None


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def resolve_smp_url(
    participant_id: str,
    *,
    zone: str,
    nameserver: tuple[str, int] | None = None,
    timeout_seconds: float = 5.0,
) -> str | None:
    """Ask DNS for the participant's NAPTR records and return its SMP URL.

    Returns None when the SML says the participant is not registered: the name does not exist
    (NXDOMAIN), or it has no `Meta:SMP` U-NAPTR record. Raises `SmlLookupError` when DNS could not
    answer (timeout, SERVFAIL, refused): that says nothing about the participant.

    `nameserver` overrides the system resolver (tests and the demo use the loopback sandbox).
    """
    name = dns.name.from_text(sml_hostname(participant_id, zone))  # absolute: no search-domain suffixes
    if nameserver is None:
        resolver = dns.resolver.Resolver()
    else:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [nameserver[0]]
        resolver.port = nameserver[1]
    resolver.lifetime = timeout_seconds
    resolver.timeout = timeout_seconds
    try:
        answer = resolver.resolve(name, dns.rdatatype.NAPTR, raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN:
        return None
    except dns.resolver.NoNameservers as exc:  # SERVFAIL / REFUSED / unreachable from every server
        raise SmlLookupError("sml.dns_no_server", f"no DNS server answered for {name}: {exc}") from exc
    except dns.exception.Timeout as exc:
        raise SmlLookupError("sml.dns_timeout", f"DNS lookup of {name} timed out after {timeout_seconds}s") from exc
    except dns.exception.DNSException as exc:
        raise SmlLookupError("sml.dns_error", f"DNS lookup of {name} failed: {exc}") from exc
    records = [
        NaptrRecord(
            order=rdata.order,
            preference=rdata.preference,
            flags=_text(rdata.flags),
            service=_text(rdata.service),
            regexp=_text(rdata.regexp),
        )
        for rdata in (answer.rrset or [])
    ]
    return select_smp_url(records)
