"""Peppol SMP 1.x client: ServiceGroup and SignedServiceMetadata, with the signature checked.

Sources: Peppol SMP specification 1.4.0 (REST read interface, percent-encoding, HTTP status codes,
XML signature profile), PFUOI 4.4.0 (identifier schemes and casing), the Peppol BIS Billing 3.0
identifiers, all as summarised in docs/channels-and-law.md section 6.4.

Flow for one participant and document type:

1. `GET {smp}/{urlenc("iso6523-actorid-upis::0208:...")}` -> ServiceGroup: the document types the
   participant is registered for. 404: the SMP does not know the participant.
2. `GET {smp}/{participant}/services/{urlenc("busdox-docid-qns::<doctype>")}` -> SignedServiceMetadata.
   Its enveloped XML-DSig signature must verify and its certificate must chain to the configured
   SMP CA (the truststore); otherwise the answer is refused. Only the signed content is read.
   If the SMP delegates the participant to another SMP (`smp:Redirect`, SMP 1.x), the redirect is
   followed once: its `href` is fetched and must be signed under the same truststore by the
   certificate the Redirect names in `CertificateUID`; a second Redirect is refused.
3. Pick the endpoint for our process and the AS4 transport profile, active at `now`, and parse
   its AP certificate.

HTTP errors: 404 is an answer (unknown participant / document type); 5xx, 429, timeouts and
connection errors raise `SmpUnavailable` (retryable); anything we refuse to trust raises
`SmpAnswerRefused`.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote, unquote

import requests
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from lxml import etree
from signxml import DigestAlgorithm, SignatureConfiguration, SignatureMethod, XMLVerifier
from signxml.exceptions import InvalidCertificate, InvalidInput, InvalidSignature

from gateway.errors import RetryableError
from gateway.peppol import xmlsafe
from gateway.peppol.sml import PARTICIPANT_SCHEME, normalize_participant_id

# --- namespaces (Peppol SMP 1.x, "busdox" era names, still current) ------------------------------
SMP_NS = "http://busdox.org/serviceMetadata/publishing/1.0/"
IDS_NS = "http://busdox.org/transport/identifiers/1.0/"
WSA_NS = "http://www.w3.org/2005/08/addressing"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
NS = {"smp": SMP_NS, "ids": IDS_NS, "wsa": WSA_NS, "ds": DS_NS}

# --- identifier schemes and values (PFUOI 4.4.0) ---------------------------------------------------
DOCUMENT_SCHEME = "busdox-docid-qns"
PROCESS_SCHEME = "cenbii-procid-ubl"
# Code list v9.7: the only active transport profile; AS2 and AS4 v1 profiles were removed 2023-09-06.
TRANSPORT_PROFILE_AS4 = "peppol-transport-as4-v2_0"
# Peppol BIS Billing 3.0 process (ProfileID in the document), used by Invoice and CreditNote.
BILLING_PROCESS = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"


@dataclass(frozen=True)
class DocumentType:
    """A document type we look up: our short key, its Peppol document type id (scheme busdox-docid-qns,
    value compared case-sensitively, PFUOI POLICY 2) and the process it is sent under."""

    key: str
    identifier: str
    process: str
    description: str


# Peppol BIS Billing 3.0, structure `<UBL namespace>::<root>##<CustomizationID>::<UBL version>`.
INVOICE = DocumentType(
    key="invoice",
    identifier=(
        "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2::Invoice"
        "##urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0::2.1"
    ),
    process=BILLING_PROCESS,
    description="UBL 2.1 Invoice, Peppol BIS Billing 3.0",
)
CREDIT_NOTE = DocumentType(
    key="credit-note",
    identifier=(
        "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2::CreditNote"
        "##urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0::2.1"
    ),
    process=BILLING_PROCESS,
    description="UBL 2.1 CreditNote, Peppol BIS Billing 3.0",
)
# No Peppol BIS defines a Reminder: the Peppol code list has no active UBL 2.1 Reminder document type
# (only the Danish OIOUBL `...Reminder-2::Reminder##OIOUBL-2.02::2.0`, UBL 2.0), and our rendered
# Reminder (gateway/domain/document.py) carries no CustomizationID for that reason. This id keeps the
# PFUOI structure with the UBL 2.1 Reminder root and a customization of our own. It is provisional: it
# only matches receivers whose SMP lists exactly this id, which has to be agreed with them, and the
# rendered Reminder's CustomizationID must then say the same (DESIGN.md: reminders go over Peppol only
# where the receiver's SMP lists the Reminder type).
REMINDER_CUSTOMIZATION_ID = "urn:fdc:gateway.example:reminder:1.0"
REMINDER = DocumentType(
    key="reminder",
    identifier=f"urn:oasis:names:specification:ubl:schema:xsd:Reminder-2::Reminder##{REMINDER_CUSTOMIZATION_ID}::2.1",
    process=BILLING_PROCESS,
    description="UBL 2.1 Reminder (provisional document type id, see REMINDER_CUSTOMIZATION_ID)",
)
DOCUMENT_TYPES: dict[str, DocumentType] = {doc.key: doc for doc in (INVOICE, CREDIT_NOTE, REMINDER)}

# A ServiceGroup or ServiceMetadata is a few KB; anything far larger is not an SMP answer.
MAX_RESPONSE_BYTES = 1024 * 1024

# SMP 1.3.0 replaced SHA-1 by SHA-256 in the signature profile: RSA-SHA256 over SHA-256 digests.
# Nothing else is accepted. The signature must be a direct child of SignedServiceMetadata
# (enveloped) with exactly one reference.
_SIGNATURE_METHODS = frozenset({SignatureMethod.RSA_SHA256})
_DIGEST_ALGORITHMS = frozenset({DigestAlgorithm.SHA256})

class SmpError(Exception):
    """Base for SMP failures; `rule` is a stable id such as `smp.signature_invalid`."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message


class SmpUnavailable(SmpError, RetryableError):
    """The SMP did not answer usefully (timeout, connection error, 5xx, 429): try again later."""


class SmpAnswerRefused(SmpError):
    """The SMP answered, but not with something we trust: unsigned, tampered or untrusted signature,
    malformed XML, or metadata about another participant or document type."""


@dataclass(frozen=True)
class SmpClientConfig:
    truststore: Path | None  # PEM of the Peppol SMP CA; None: nothing can be verified, every answer is refused
    connect_timeout_seconds: float = 5.0
    read_timeout_seconds: float = 10.0
    # SMP 1.4.0 (mandatory TLS): SMP read URLs are https on port 443. Only the loopback sandbox turns this off.
    require_https: bool = True
    # CA bundle for the SMP's TLS certificate; None: requests' default (the public CAs).
    tls_ca_bundle: Path | None = None


@dataclass(frozen=True)
class ServiceGroup:
    participant_id: str  # lower-cased `0208:0403019261`
    document_type_ids: frozenset[str]  # values of scheme busdox-docid-qns


@dataclass(frozen=True)
class Endpoint:
    url: str
    transport_profile: str
    certificate: x509.Certificate
    activation: datetime | None
    expiration: datetime | None
    technical_contact_url: str | None


@dataclass(frozen=True)
class Process:
    identifier: str  # value of scheme cenbii-procid-ubl
    endpoints: tuple[Endpoint, ...]


@dataclass(frozen=True)
class ServiceMetadata:
    participant_id: str
    document_type_id: str
    processes: tuple[Process, ...]
    redirected_to: str | None = None  # the Redirect href this metadata was read from, if any


@dataclass(frozen=True)
class Redirect:
    """SMP 1.x `smp:ServiceMetadata/smp:Redirect`: the participant's metadata lives at `href`, signed by
    the SMP whose signing certificate `certificate_uid` names."""

    href: str
    certificate_uid: str


@dataclass(frozen=True)
class VerifiedMetadata:
    signed: etree._Element  # the SignedServiceMetadata as signed: read nothing else
    signing_certificate: x509.Certificate


def service_group_url(smp_url: str, participant_id: str) -> str:
    """SMP 1.4.0: `{smp}/{participant}` with the id written `scheme::value` and percent-encoded (`:` -> %3A)."""
    participant = f"{PARTICIPANT_SCHEME}::{normalize_participant_id(participant_id)}"
    return f"{smp_url.rstrip('/')}/{quote(participant, safe='')}"


def service_metadata_url(smp_url: str, participant_id: str, document_type_id: str) -> str:
    """SMP 1.4.0: `{smp}/{participant}/services/{document type}`, both percent-encoded (`#` -> %23)."""
    document = f"{DOCUMENT_SCHEME}::{document_type_id}"
    return f"{service_group_url(smp_url, participant_id)}/services/{quote(document, safe='')}"


# --- pure parsing -------------------------------------------------------------------------------


def _parse(body: bytes) -> etree._Element:
    """SMP answers are untrusted input: parsed by xmlsafe (no DTD, no entities, no network, size cap)."""
    try:
        return xmlsafe.parse(body, max_bytes=MAX_RESPONSE_BYTES).getroot()
    except xmlsafe.XmlRejected as exc:
        raise SmpAnswerRefused("smp.malformed_xml", f"SMP answer refused as XML: {exc.message}") from exc


def _identifier(element: etree._Element | None, scheme: str, what: str) -> str:
    if element is None or not (element.text or "").strip():
        raise SmpAnswerRefused("smp.malformed_xml", f"SMP answer has no {what}")
    if (element.get("scheme") or "").lower() != scheme:
        raise SmpAnswerRefused("smp.identifier_scheme", f"{what} scheme is {element.get('scheme')!r}, expected {scheme!r}")
    return element.text.strip()


def parse_service_group(body: bytes, participant_id: str) -> ServiceGroup:
    """Read a ServiceGroup; refuse it when it is about another participant.

    SMP 1.x: `smp:ServiceGroup/ids:ParticipantIdentifier` and one
    `smp:ServiceMetadataReferenceCollection/smp:ServiceMetadataReference/@href` per document type,
    each href ending in `/services/{urlenc(scheme::doctype)}`. Document types of other schemes
    (e.g. `peppol-doctype-wildcard`, used by PINT) are not ours and are skipped.
    """
    root = _parse(body)
    if root.tag != f"{{{SMP_NS}}}ServiceGroup":
        raise SmpAnswerRefused("smp.malformed_xml", f"expected a ServiceGroup, got {root.tag}")
    expected = normalize_participant_id(participant_id)
    found = _identifier(root.find("ids:ParticipantIdentifier", NS), PARTICIPANT_SCHEME, "ParticipantIdentifier")
    if found.lower() != expected:  # PFUOI POLICY 2: participant values are case-insensitive
        raise SmpAnswerRefused("smp.participant_mismatch", f"ServiceGroup is for {found!r}, asked for {expected!r}")
    document_type_ids = set()
    for reference in root.iterfind("smp:ServiceMetadataReferenceCollection/smp:ServiceMetadataReference", NS):
        href = reference.get("href") or ""
        _, sep, encoded = href.rpartition("/services/")
        if not sep:
            continue
        scheme, sep, value = unquote(encoded).partition("::")
        if sep and scheme.lower() == DOCUMENT_SCHEME:
            document_type_ids.add(value)
    return ServiceGroup(participant_id=expected, document_type_ids=frozenset(document_type_ids))


def verify_signed_service_metadata(body: bytes, *, truststore: Path | None, now: datetime) -> etree._Element:
    """Check the enveloped XML-DSig signature of a SignedServiceMetadata; return the signed element
    (see `verify_signed_answer`, which also says who signed)."""
    return verify_signed_answer(body, truststore=truststore, now=now).signed


def verify_signed_answer(body: bytes, *, truststore: Path | None, now: datetime) -> VerifiedMetadata:
    """Check the enveloped XML-DSig signature of a SignedServiceMetadata; return the signed element and its signer.

    SMP 1.x: "the SignedServiceMetadata ... MUST be signed by the SMP" with an enveloped signature
    (ds:Signature a child of SignedServiceMetadata, one Reference with URI="" over the whole
    document); SMP 1.3.0 profile: RSA-SHA256 and SHA-256. The signing certificate must chain to the
    Peppol SMP CA in `truststore` and be valid at `now`. Only what this returns was signed: callers
    read nothing else from the answer (signxml's "use only what was signed" rule).
    """
    if truststore is None or not truststore.is_file():
        raise SmpAnswerRefused(
            "smp.truststore_missing",
            f"no SMP truststore at {truststore} (GATEWAY_PEPPOL_SMP_TRUSTSTORE): nothing can be verified",
        )
    root = _parse(body)
    if root.tag != f"{{{SMP_NS}}}SignedServiceMetadata":
        raise SmpAnswerRefused("smp.malformed_xml", f"expected a SignedServiceMetadata, got {root.tag}")
    if root.find("ds:Signature", NS) is None:
        raise SmpAnswerRefused("smp.signature_missing", "SignedServiceMetadata carries no ds:Signature")
    config = SignatureConfiguration(
        require_x509=True,
        location="./",
        expect_references=1,
        signature_methods=_SIGNATURE_METHODS,
        digest_algorithms=_DIGEST_ALGORITHMS,
        verification_time=now,
    )
    try:
        result = XMLVerifier().verify(body, ca_pem_file=str(truststore), expect_config=config)
    except InvalidCertificate as exc:
        raise SmpAnswerRefused("smp.signature_untrusted", f"SMP signing certificate not trusted: {exc}") from exc
    except InvalidSignature as exc:  # includes InvalidDigest: the signed content was changed
        raise SmpAnswerRefused("smp.signature_invalid", f"SMP signature does not verify: {exc}") from exc
    except InvalidInput as exc:
        raise SmpAnswerRefused("smp.signature_invalid", f"SMP signature not acceptable: {exc}") from exc
    signed = result.signed_xml
    if signed is None or signed.tag != f"{{{SMP_NS}}}SignedServiceMetadata":
        raise SmpAnswerRefused("smp.signature_scope", "the signature does not cover the whole SignedServiceMetadata")
    return VerifiedMetadata(signed, _signing_certificate(result.signature_xml, result.signature_key))


def _signing_certificate(signature: etree._Element, public_key_pem: bytes) -> x509.Certificate:
    """The KeyInfo certificate whose key made the signature (signxml has verified it and its chain)."""
    for element in signature.iterfind("ds:KeyInfo/ds:X509Data/ds:X509Certificate", NS):
        certificate = x509.load_der_x509_certificate(base64.b64decode("".join((element.text or "").split())))
        if certificate.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo) == public_key_pem:
            return certificate
    raise SmpAnswerRefused("smp.signature_untrusted", "the signing certificate is not in the signature's KeyInfo")


def parse_redirect(signed: etree._Element) -> Redirect | None:
    """The signed `smp:Redirect`, or None when the SMP answered with the metadata itself.

    SMP 1.x: `Redirect/@href` is the URL of the metadata at the destination SMP and
    `Redirect/CertificateUID` the Subject Unique Identifier of the destination SMP's signing
    certificate, which Peppol SMPs publish as its subject DN (`C=NO,O=...,CN=PNO000179`)."""
    element = signed.find("smp:ServiceMetadata/smp:Redirect", NS)
    if element is None:
        return None
    href = (element.get("href") or "").strip()
    uid = (element.findtext("smp:CertificateUID", default="", namespaces=NS) or "").strip()
    if not href or not uid:
        raise SmpAnswerRefused("smp.redirect_malformed", "a Redirect needs an href and a CertificateUID")
    return Redirect(href=href, certificate_uid=uid)


def certificate_matches_uid(certificate: x509.Certificate, certificate_uid: str) -> bool:
    """Whether `certificate_uid` (a DN string) names this certificate's subject.

    SMPs write the DN in either order (RFC 4514 `CN=...,O=...,C=...` or X.500 `C=...,O=...,CN=...`),
    so the attributes are compared as a set; values case-insensitively (X.520 caseIgnoreMatch)."""
    try:
        named = x509.Name.from_rfc4514_string(certificate_uid)
    except ValueError:
        return False

    def attributes(name: x509.Name) -> list[tuple[str, str]]:
        return sorted((attribute.oid.dotted_string, str(attribute.value).strip().casefold()) for attribute in name)

    return bool(attributes(named)) and attributes(named) == attributes(certificate.subject)


def _datetime(element: etree._Element | None) -> datetime | None:
    if element is None or not (element.text or "").strip():
        return None
    try:
        value = datetime.fromisoformat(element.text.strip())
    except ValueError as exc:
        raise SmpAnswerRefused("smp.malformed_xml", f"not an xs:dateTime: {element.text!r}") from exc
    # xs:dateTime without a zone: read as UTC, we never compare naive and aware values.
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _certificate(element: etree._Element | None) -> x509.Certificate:
    if element is None or not (element.text or "").strip():
        raise SmpAnswerRefused("smp.certificate_missing", "endpoint has no Certificate")
    try:
        der = base64.b64decode("".join(element.text.split()), validate=True)
        return x509.load_der_x509_certificate(der)
    except (binascii.Error, ValueError) as exc:
        raise SmpAnswerRefused(
            "smp.certificate_invalid", f"endpoint Certificate is not a base64 DER X.509 certificate: {exc}"
        ) from exc


def parse_service_metadata(signed: etree._Element, participant_id: str, document_type_id: str) -> ServiceMetadata:
    """Read the signed ServiceInformation; refuse it when it is about another participant or document type.

    SMP 1.x `smp:ServiceMetadata/smp:ServiceInformation`: ids:ParticipantIdentifier,
    ids:DocumentIdentifier, smp:ProcessList/smp:Process (ids:ProcessIdentifier,
    smp:ServiceEndpointList/smp:Endpoint[@transportProfile] with wsa:EndpointReference/wsa:Address,
    smp:Certificate (base64 DER), optional smp:ServiceActivationDate / smp:ServiceExpirationDate).
    A `smp:Redirect` is not metadata: `SmpClient.service_metadata` follows it (`parse_redirect`).
    """
    service_metadata = signed.find("smp:ServiceMetadata", NS)
    if service_metadata is None:
        raise SmpAnswerRefused("smp.malformed_xml", "SignedServiceMetadata has no ServiceMetadata")
    if service_metadata.find("smp:Redirect", NS) is not None:
        raise SmpAnswerRefused("smp.redirect_unexpected", "a Redirect holds no ServiceInformation: follow it (SmpClient.service_metadata)")
    information = service_metadata.find("smp:ServiceInformation", NS)
    if information is None:
        raise SmpAnswerRefused("smp.malformed_xml", "ServiceMetadata has no ServiceInformation")

    expected_participant = normalize_participant_id(participant_id)
    found_participant = _identifier(
        information.find("ids:ParticipantIdentifier", NS), PARTICIPANT_SCHEME, "ParticipantIdentifier"
    )
    if found_participant.lower() != expected_participant:
        raise SmpAnswerRefused(
            "smp.participant_mismatch", f"signed metadata is for {found_participant!r}, asked for {expected_participant!r}"
        )
    found_document = _identifier(information.find("ids:DocumentIdentifier", NS), DOCUMENT_SCHEME, "DocumentIdentifier")
    if found_document != document_type_id:  # PFUOI POLICY 2: document type values are case-sensitive
        raise SmpAnswerRefused("smp.document_type_mismatch", f"signed metadata is for document type {found_document!r}")

    processes = []
    for process in information.iterfind("smp:ProcessList/smp:Process", NS):
        identifier = _identifier(process.find("ids:ProcessIdentifier", NS), PROCESS_SCHEME, "ProcessIdentifier")
        endpoints = []
        for endpoint in process.iterfind("smp:ServiceEndpointList/smp:Endpoint", NS):
            address = endpoint.find("wsa:EndpointReference/wsa:Address", NS)
            if address is None or not (address.text or "").strip():
                raise SmpAnswerRefused("smp.malformed_xml", "endpoint has no EndpointReference/Address")
            contact = endpoint.findtext("smp:TechnicalContactUrl", default="", namespaces=NS).strip()
            endpoints.append(
                Endpoint(
                    url=address.text.strip(),
                    transport_profile=(endpoint.get("transportProfile") or "").strip(),
                    certificate=_certificate(endpoint.find("smp:Certificate", NS)),
                    activation=_datetime(endpoint.find("smp:ServiceActivationDate", NS)),
                    expiration=_datetime(endpoint.find("smp:ServiceExpirationDate", NS)),
                    technical_contact_url=contact or None,
                )
            )
        processes.append(Process(identifier=identifier, endpoints=tuple(endpoints)))
    return ServiceMetadata(
        participant_id=expected_participant, document_type_id=found_document, processes=tuple(processes)
    )


def find_endpoint(metadata: ServiceMetadata, document_type: DocumentType, now: datetime) -> tuple[Endpoint | None, str]:
    """The endpoint to send `document_type` to, or None and the rule that excluded every candidate.

    The process must be the document type's process; the endpoint's transportProfile must be
    `peppol-transport-as4-v2_0` (the only active profile); `now` must fall inside the optional
    ServiceActivationDate / ServiceExpirationDate window and the AP certificate's validity.
    """
    processes = [p for p in metadata.processes if p.identifier == document_type.process]
    if not processes:
        return None, "smp.process_not_supported"
    endpoints = [e for p in processes for e in p.endpoints if e.transport_profile == TRANSPORT_PROFILE_AS4]
    if not endpoints:
        return None, "smp.transport_profile_not_supported"
    endpoints = [
        e
        for e in endpoints
        if (e.activation is None or e.activation <= now) and (e.expiration is None or now < e.expiration)
    ]
    if not endpoints:
        return None, "smp.endpoint_not_active"
    # An AP certificate outside its validity period cannot carry AS4 traffic.
    for endpoint in endpoints:
        if endpoint.certificate.not_valid_before_utc <= now < endpoint.certificate.not_valid_after_utc:
            return endpoint, "smp.endpoint_found"
    return None, "smp.endpoint_certificate_not_valid"


# --- HTTP ---------------------------------------------------------------------------------------


class SmpClient:
    """Reads a participant's SMP over HTTP(S) with explicit timeouts."""

    def __init__(self, config: SmpClientConfig, session: requests.Session | None = None) -> None:
        self.config = config
        self.session = session or requests.Session()

    def _get(self, url: str) -> bytes | None:
        """The body of a 200 answer, None for 404; raises for everything else."""
        if self.config.require_https and not url.lower().startswith("https://"):
            # SMP 1.4.0: "Changes for mandatory TLS usage" - SMPs are read over https only.
            raise SmpAnswerRefused("smp.https_required", f"SMP URL is not https: {url}")
        timeout = (self.config.connect_timeout_seconds, self.config.read_timeout_seconds)
        try:
            # No HTTP redirects: SMP 1.4.0 limits redirection to one degree, done through smp:Redirect.
            with self.session.get(
                url,
                timeout=timeout,
                allow_redirects=False,
                stream=True,
                headers={"Accept": "application/xml, text/xml"},
                verify=str(self.config.tls_ca_bundle) if self.config.tls_ca_bundle else True,
            ) as response:
                status = response.status_code
                if status == 404:
                    return None
                if status == 429 or status >= 500:
                    raise SmpUnavailable(f"smp.http_{status}", f"SMP answered HTTP {status} for {url}")
                if status != 200:
                    raise SmpAnswerRefused(f"smp.http_{status}", f"SMP answered HTTP {status} for {url}")
                body = response.raw.read(MAX_RESPONSE_BYTES + 1, decode_content=True)
        except requests.Timeout as exc:
            raise SmpUnavailable("smp.timeout", f"SMP did not answer in time: {url}") from exc
        except requests.exceptions.SSLError as exc:  # before ConnectionError, its base class
            raise SmpUnavailable("smp.tls_error", f"TLS with the SMP failed: {url}: {exc}") from exc
        except requests.ConnectionError as exc:
            raise SmpUnavailable("smp.connection_error", f"cannot connect to SMP: {url}: {exc}") from exc
        except requests.RequestException as exc:
            raise SmpUnavailable("smp.http_error", f"SMP request failed: {url}: {exc}") from exc
        if len(body) > MAX_RESPONSE_BYTES:
            raise SmpAnswerRefused("smp.response_too_large", f"SMP answer larger than {MAX_RESPONSE_BYTES} bytes")
        return body

    def service_group(self, smp_url: str, participant_id: str) -> ServiceGroup | None:
        """The participant's ServiceGroup, or None when the SMP does not know the participant (404)."""
        body = self._get(service_group_url(smp_url, participant_id))
        return None if body is None else parse_service_group(body, participant_id)

    def service_metadata(
        self, smp_url: str, participant_id: str, document_type: DocumentType, *, now: datetime
    ) -> ServiceMetadata | None:
        """The verified metadata for one document type, or None when the SMP has none for it (404)."""
        body = self._get(service_metadata_url(smp_url, participant_id, document_type.identifier))
        if body is None:
            return None
        verified = verify_signed_answer(body, truststore=self.config.truststore, now=now)
        redirect = parse_redirect(verified.signed)
        if redirect is None:
            return parse_service_metadata(verified.signed, participant_id, document_type.identifier)
        return self._follow(redirect, participant_id, document_type, now=now)

    def _follow(self, redirect: Redirect, participant_id: str, document_type: DocumentType, *, now: datetime) -> ServiceMetadata | None:
        """SMP 1.x Redirect: fetch `href` once (the same https rule), verify it under the same truststore,
        require its signer to be the certificate `CertificateUID` names, and refuse a second Redirect
        (SMP 1.4.0: redirection is limited to one degree)."""
        body = self._get(redirect.href)
        if body is None:
            return None  # the destination SMP has no metadata for this document type (404)
        verified = verify_signed_answer(body, truststore=self.config.truststore, now=now)
        if not certificate_matches_uid(verified.signing_certificate, redirect.certificate_uid):
            raise SmpAnswerRefused(
                "smp.redirect_certificate_mismatch",
                f"the SMP redirected to {redirect.href} signs as {verified.signing_certificate.subject.rfc4514_string()!r}, "
                f"the Redirect names {redirect.certificate_uid!r}",
            )
        if parse_redirect(verified.signed) is not None:
            raise SmpAnswerRefused("smp.redirect_twice", f"the SMP at {redirect.href} redirects again; only one redirect is followed")
        metadata = parse_service_metadata(verified.signed, participant_id, document_type.identifier)
        return ServiceMetadata(metadata.participant_id, metadata.document_type_id, metadata.processes, redirected_to=redirect.href)
