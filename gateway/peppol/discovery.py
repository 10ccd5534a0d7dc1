"""Peppol participant discovery: can this participant receive this document type, and where?

`ParticipantDiscovery.lookup(participant_id, document_type, *, now)` walks SML (DNS U-NAPTR,
gateway/peppol/sml.py) then SMP (ServiceGroup + signed ServiceMetadata, gateway/peppol/smp.py) and
returns a `LookupResult` with one of four outcomes:

| outcome | meaning | final? |
|---|---|---|
| `reachable` | an AS4 endpoint (URL + AP certificate) serves the document type | - |
| `not_registered` | no SML record, or the SMP does not know the participant | final |
| `document_type_not_supported` | registered, but not for this document type / process / AS4 profile | final |
| `lookup_failed` | DNS or SMP could not answer, or answered with something we refuse (bad signature) | temporary |

Lookups return rather than raise, so routing can branch on the outcome; `raise_for_outcome()`
turns a result into the shared error types (`RetryableError` for `lookup_failed`,
`TerminalError` for the final negatives) for callers that prefer exceptions.

Results are cached in memory per (participant, document type). `now` is passed in, so tests
control time: a positive answer is kept `cache_seconds` (never past the endpoint's expiration), a
final negative one `negative_cache_seconds`, and a failed lookup is not cached at all.

Belgian companies: `lookup_belgian_company(enterprise_number, ..., vat_number=...)` tries
`0208:<enterprise number>` before `9925:be<VAT digits>` (channels-and-law.md 6.3: 0208 is the
default, mandatory for every Belgian company from 2026; the VAT-based 9925 is optional and
additional). The `claim.issue` worker does this for a business debtor without a Peppol id before
it routes the claim (gateway/workers/tasks.py).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes

from gateway.config import Settings, get_settings, sml_zone
from gateway.domain.identifiers import IdentifierError, normalize_enterprise_number
from gateway.errors import InvalidInput, RetryableError, TerminalError
from gateway.peppol.sml import SmlLookupError, normalize_participant_id, resolve_smp_url, sml_hostname
from gateway.peppol.smp import DOCUMENT_TYPES, DocumentType, Endpoint, SmpClient, SmpClientConfig, SmpError, find_endpoint


class LookupOutcome(StrEnum):
    REACHABLE = "reachable"
    NOT_REGISTERED = "not_registered"
    DOCUMENT_TYPE_NOT_SUPPORTED = "document_type_not_supported"
    LOOKUP_FAILED = "lookup_failed"


FINAL_NEGATIVE_OUTCOMES = frozenset({LookupOutcome.NOT_REGISTERED, LookupOutcome.DOCUMENT_TYPE_NOT_SUPPORTED})


class PeppolLookupFailed(RetryableError):
    """Discovery could not tell (DNS/SMP down, untrusted answer): ask again later."""

    def __init__(self, result: LookupResult) -> None:
        super().__init__(f"{result.participant_id}: {result.reason}: {result.detail}")
        self.result = result


class PeppolNotReachable(TerminalError):
    """The network answered: this participant cannot receive this document type over Peppol."""

    def __init__(self, result: LookupResult) -> None:
        super().__init__(f"{result.participant_id}: {result.outcome}: {result.reason}")
        self.result = result


@dataclass(frozen=True)
class LookupResult:
    participant_id: str  # the id this answer is about, lower-cased `0208:0403019261`
    document_type: DocumentType
    outcome: LookupOutcome
    reason: str  # stable rule id: `smp.endpoint_found`, `sml.not_registered`, `smp.signature_invalid`, ...
    detail: str
    checked_at: datetime
    smp_url: str | None = None
    endpoint: Endpoint | None = None
    # Participant ids asked, in order (two for a Belgian company when 0208 did not answer positively).
    tried: tuple[str, ...] = ()

    @property
    def is_final(self) -> bool:
        """A final negative answer: routing moves on to the next channel."""
        return self.outcome in FINAL_NEGATIVE_OUTCOMES

    @property
    def is_retryable(self) -> bool:
        return self.outcome is LookupOutcome.LOOKUP_FAILED

    def raise_for_outcome(self) -> Endpoint:
        """The endpoint when reachable; otherwise `PeppolLookupFailed` (retryable) or `PeppolNotReachable` (terminal)."""
        if self.outcome is LookupOutcome.REACHABLE and self.endpoint is not None:
            return self.endpoint
        if self.is_retryable:
            raise PeppolLookupFailed(self)
        raise PeppolNotReachable(self)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the CLI's `--json` output)."""
        endpoint = None
        if self.endpoint is not None:
            cert = self.endpoint.certificate
            endpoint = {
                "url": self.endpoint.url,
                "transport_profile": self.endpoint.transport_profile,
                "activation": self.endpoint.activation.isoformat() if self.endpoint.activation else None,
                "expiration": self.endpoint.expiration.isoformat() if self.endpoint.expiration else None,
                "technical_contact_url": self.endpoint.technical_contact_url,
                "certificate": {
                    "subject": cert.subject.rfc4514_string(),
                    "issuer": cert.issuer.rfc4514_string(),
                    "serial_number": format(cert.serial_number, "x"),
                    "not_valid_before": cert.not_valid_before_utc.isoformat(),
                    "not_valid_after": cert.not_valid_after_utc.isoformat(),
                    "sha256_fingerprint": cert.fingerprint(hashes.SHA256()).hex(),
                },
            }
        return {
            "participant_id": self.participant_id,
            "document_type": self.document_type.key,
            "document_type_id": self.document_type.identifier,
            "process_id": self.document_type.process,
            "outcome": str(self.outcome),
            "final": self.is_final,
            "retryable": self.is_retryable,
            "reason": self.reason,
            "detail": self.detail,
            "checked_at": self.checked_at.isoformat(),
            "smp_url": self.smp_url,
            "endpoint": endpoint,
            "tried": list(self.tried),
        }


@dataclass(frozen=True)
class DiscoveryConfig:
    sml_zone: str
    smp: SmpClientConfig
    nameserver: tuple[str, int] | None = None  # None: the system resolver
    dns_timeout_seconds: float = 5.0
    cache_seconds: int = 3600
    negative_cache_seconds: int = 600

    @classmethod
    def from_settings(cls, settings: Settings) -> DiscoveryConfig:
        return cls(
            sml_zone=sml_zone(settings),
            nameserver=(settings.peppol_dns_host, settings.peppol_dns_port) if settings.peppol_dns_host else None,
            dns_timeout_seconds=settings.peppol_dns_timeout_seconds,
            smp=SmpClientConfig(
                truststore=settings.peppol_smp_truststore,
                connect_timeout_seconds=settings.peppol_smp_connect_timeout_seconds,
                read_timeout_seconds=settings.peppol_smp_read_timeout_seconds,
                require_https=settings.peppol_smp_require_https,
                tls_ca_bundle=Path(settings.peppol_smp_tls_ca_bundle) if settings.peppol_smp_tls_ca_bundle else None,
            ),
            cache_seconds=settings.peppol_lookup_cache_seconds,
            negative_cache_seconds=settings.peppol_lookup_negative_cache_seconds,
        )


def document_type_for(document_type: DocumentType | str) -> DocumentType:
    if isinstance(document_type, DocumentType):
        return document_type
    try:
        return DOCUMENT_TYPES[document_type]
    except KeyError:
        raise InvalidInput.single(
            "document_type",
            "peppol.document_type",
            f"unknown document type {document_type!r}; known: {', '.join(DOCUMENT_TYPES)}",
        ) from None


def belgian_participant_ids(enterprise_number: str | None = None, *, vat_number: str | None = None) -> tuple[str, ...]:
    """The Peppol ids of a Belgian company, in the order to try them: 0208 then 9925.

    0208 = KBO/BCE enterprise number, 10 digits (`0208:0403019261`); 9925 = BE VAT number, `BE` + 10
    digits, lower-cased as participant ids are compared case-insensitively (`9925:be0403019261`).
    A Belgian VAT number is `BE` + the enterprise number, so either one gives both ids; when both are
    given, 0208 comes from the enterprise number and 9925 from the VAT number. A VAT number of another
    country gives no Belgian id (empty tuple when nothing Belgian is known).
    """
    number = None
    if enterprise_number:
        try:
            number = normalize_enterprise_number(enterprise_number)
        except IdentifierError as exc:
            raise InvalidInput.single("enterprise_number", exc.rule, exc.message) from exc
    vat_digits = None
    if vat_number:
        compact = "".join(ch for ch in vat_number if ch.isalnum()).upper()
        if compact.startswith("BE"):
            try:
                vat_digits = normalize_enterprise_number(compact[2:])
            except IdentifierError as exc:
                raise InvalidInput.single("vat_number", "vat_number.invalid", exc.message) from exc
    number = number or vat_digits
    if number is None:
        return ()
    return f"0208:{number}", f"9925:be{vat_digits or number}"


class ParticipantDiscovery:
    """SML + SMP lookups with an in-memory TTL cache. Safe to share between threads."""

    def __init__(self, config: DiscoveryConfig, *, smp_client: SmpClient | None = None) -> None:
        self.config = config
        self.smp_client = smp_client or SmpClient(config.smp)
        self._cache: dict[tuple[str, str], tuple[datetime, LookupResult]] = {}
        self._lock = threading.Lock()

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()

    def lookup(self, participant_id: str, document_type: DocumentType | str, *, now: datetime) -> LookupResult:
        """Whether `participant_id` (`0208:0403019261`, optionally `iso6523-actorid-upis::`-prefixed) can
        receive `document_type` (a DocumentType or its key: invoice, credit-note, reminder) at `now`."""
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        doc = document_type_for(document_type)
        try:
            pid = normalize_participant_id(participant_id)
        except ValueError as exc:
            raise InvalidInput.single("participant_id", "peppol_id.format", str(exc)) from exc
        key = (pid, doc.key)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None and now < cached[0]:
                return cached[1]
        result = self._lookup_uncached(pid, doc, now)
        expires_at = self._expires_at(result, now)
        with self._lock:
            if expires_at is None:
                self._cache.pop(key, None)
            else:
                self._cache[key] = (expires_at, result)
        return result

    def lookup_belgian_company(
        self, enterprise_number: str | None, document_type: DocumentType | str, *, now: datetime, vat_number: str | None = None
    ) -> LookupResult:
        """Try `0208:<number>`, then `9925:be<number>` (see `belgian_participant_ids`); the first reachable one wins."""
        participant_ids = belgian_participant_ids(enterprise_number, vat_number=vat_number)
        if not participant_ids:
            raise InvalidInput.single("enterprise_number", "peppol.belgian_id_missing", "neither a Belgian enterprise number nor a BE VAT number")
        return self.lookup_first(participant_ids, document_type, now=now)

    def lookup_first(self, participant_ids: tuple[str, ...], document_type: DocumentType | str, *, now: datetime) -> LookupResult:
        """Look the ids up in order; the first reachable one wins and the later ones are not asked.

        With none reachable: `lookup_failed` if any lookup failed (a retry may still find the
        company), else `document_type_not_supported` if any id is registered, else `not_registered`.
        `tried` lists the ids asked."""
        results: list[LookupResult] = []
        for pid in participant_ids:
            results.append(self.lookup(pid, document_type, now=now))
            if results[-1].outcome is LookupOutcome.REACHABLE:
                break
        tried = tuple(r.participant_id for r in results)
        for outcome in (
            LookupOutcome.REACHABLE,
            LookupOutcome.LOOKUP_FAILED,
            LookupOutcome.DOCUMENT_TYPE_NOT_SUPPORTED,
            LookupOutcome.NOT_REGISTERED,
        ):
            for result in results:
                if result.outcome is outcome:
                    return replace(result, tried=tried)
        raise AssertionError("unreachable: every result has one of the four outcomes")

    def _expires_at(self, result: LookupResult, now: datetime) -> datetime | None:
        if result.outcome is LookupOutcome.REACHABLE:
            expires_at = now + timedelta(seconds=self.config.cache_seconds)
            # Never trust a cached endpoint past the end the SMP gave it.
            if result.endpoint is not None and result.endpoint.expiration is not None:
                expires_at = min(expires_at, result.endpoint.expiration)
            return expires_at
        if result.is_final:
            return now + timedelta(seconds=self.config.negative_cache_seconds)
        return None  # lookup_failed: ask again next time

    def _lookup_uncached(self, pid: str, doc: DocumentType, now: datetime) -> LookupResult:
        def result(outcome: LookupOutcome, reason: str, detail: str, **extra: Any) -> LookupResult:
            return LookupResult(
                participant_id=pid, document_type=doc, outcome=outcome, reason=reason, detail=detail,
                checked_at=now, tried=(pid,), **extra,
            )

        try:
            smp_url = resolve_smp_url(
                pid, zone=self.config.sml_zone, nameserver=self.config.nameserver,
                timeout_seconds=self.config.dns_timeout_seconds,
            )
        except SmlLookupError as exc:
            return result(LookupOutcome.LOOKUP_FAILED, exc.rule, exc.message)
        if smp_url is None:
            host = sml_hostname(pid, self.config.sml_zone)
            return result(LookupOutcome.NOT_REGISTERED, "sml.not_registered", f"no Meta:SMP U-NAPTR record at {host}")

        try:
            group = self.smp_client.service_group(smp_url, pid)
            if group is None:
                return result(
                    LookupOutcome.NOT_REGISTERED, "smp.participant_unknown",
                    "the SMP the SML points to does not know the participant (HTTP 404)", smp_url=smp_url,
                )
            if doc.identifier not in group.document_type_ids:
                return result(
                    LookupOutcome.DOCUMENT_TYPE_NOT_SUPPORTED, "smp.document_type_not_listed",
                    f"the ServiceGroup does not list {doc.key}", smp_url=smp_url,
                )
            metadata = self.smp_client.service_metadata(smp_url, pid, doc, now=now)
        except SmpError as exc:
            return result(LookupOutcome.LOOKUP_FAILED, exc.rule, exc.message, smp_url=smp_url)
        if metadata is None:
            return result(
                LookupOutcome.DOCUMENT_TYPE_NOT_SUPPORTED, "smp.service_metadata_not_found",
                f"the SMP has no service metadata for {doc.key} (HTTP 404)", smp_url=smp_url,
            )
        endpoint, rule = find_endpoint(metadata, doc, now)
        if endpoint is None:
            return result(
                LookupOutcome.DOCUMENT_TYPE_NOT_SUPPORTED, rule,
                f"no usable endpoint for {doc.key}: {rule}", smp_url=smp_url,
            )
        via = f" (SMP redirect to {metadata.redirected_to})" if metadata.redirected_to else ""
        return result(
            LookupOutcome.REACHABLE, rule, f"AS4 endpoint {endpoint.url}{via}", smp_url=smp_url, endpoint=endpoint,
        )


@lru_cache
def default_discovery() -> ParticipantDiscovery:
    """One shared discovery (and cache) built from the process settings."""
    return ParticipantDiscovery(DiscoveryConfig.from_settings(get_settings()))


def lookup(participant_id: str, document_type: DocumentType | str, *, now: datetime) -> LookupResult:
    """`default_discovery().lookup(...)`: the entry point for routing."""
    return default_discovery().lookup(participant_id, document_type, now=now)
