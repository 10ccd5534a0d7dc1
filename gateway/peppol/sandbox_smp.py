"""A Peppol SML + SMP sandbox on loopback, for tests and the demo. TEST ONLY.

Real DNS and real HTTP, not patched code:

- `SandboxDns`: a UDP DNS server on 127.0.0.1 (random port) that answers NAPTR queries for
  `<hash>.iso6523-actorid-upis.<zone>` the way the SML does (`100 10 "U" "Meta:SMP" "!.*!<smp>!" .`),
  NXDOMAIN for unknown participants, SERVFAIL where a participant is set up to fail.
- `SandboxSmp`: an HTTP(S) server (stdlib http.server in a thread) on 127.0.0.1 serving Peppol SMP 1.x
  ServiceGroup and SignedServiceMetadata, signed with the test PKI's SMP signer (signxml,
  RSA-SHA256, enveloped). Per participant it can also answer unsigned, tampered, signed by an
  untrusted key, or with an HTTP error. With `tls=True` it serves HTTPS with the test PKI's
  `smp-tls.pem` (for 127.0.0.1), so discovery runs with its production setting `require_https`.
- `PeppolSandbox` starts both and says how to point discovery at them.

Run `python -m gateway.peppol.sandbox_smp` for the demo set (DEMO_PARTICIPANTS); it prints the
GATEWAY_* settings that make `gateway peppol lookup` use it.
"""

from __future__ import annotations

import argparse
import base64
import socket
import ssl
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree
from signxml import CanonicalizationMethod, DigestAlgorithm, SignatureMethod, XMLSigner

from gateway.peppol.sml import PARTICIPANT_SCHEME, SMP_SERVICE, normalize_participant_id, sml_hostname
from gateway.peppol.smp import (
    DOCUMENT_SCHEME,
    DOCUMENT_TYPES,
    IDS_NS,
    PROCESS_SCHEME,
    SMP_NS,
    TRANSPORT_PROFILE_AS4,
    WSA_NS,
    service_metadata_url,
)
from gateway.peppol.testpki import TestPki, load_test_pki, make_test_pki

# A zone under the reserved .test TLD: a query that leaks to real DNS gets NXDOMAIN, never a real SMP.
SANDBOX_ZONE = "participant.sml.sandbox.test"
# Where the sandbox says the receiving access point is; the AP sandbox (not part of this module) may differ.
DEFAULT_AP_ENDPOINT = "https://ap.sandbox.test/as4"
# How the SMP signs: "valid" (SMP signer under the trusted root), or a broken answer for negative tests.
SIGNATURE_MODES = ("valid", "unsigned", "tampered", "untrusted")


@dataclass(frozen=True)
class SandboxParticipant:
    """One participant as the sandbox SML and SMP present it. Ids not listed are not registered."""

    participant_id: str
    # Keys of gateway.peppol.smp.DOCUMENT_TYPES the SMP lists and serves.
    document_types: tuple[str, ...] = ("invoice", "credit-note")
    # False: DNS answers SERVFAIL for this participant (a temporary SML failure).
    dns_ok: bool = True
    # False: the SML points at the SMP but the SMP answers 404 for the ServiceGroup.
    in_smp: bool = True
    # Anything but 200 makes the SMP answer that status for every request about this participant.
    smp_status: int = 200
    signature: str = "valid"
    transport_profile: str = TRANSPORT_PROFILE_AS4
    endpoint_url: str = DEFAULT_AP_ENDPOINT
    # Published as the endpoint's ServiceExpirationDate when set.
    expiration: datetime | None = None
    # Set: the SignedServiceMetadata is an SMP 1.x Redirect to this SMP base URL (the href names the same
    # participant and document type there), with CertificateUID `redirect_certificate_uid`, by default
    # the subject DN of this sandbox's SMP signer (written C=...,O=...,CN=..., as Peppol SMPs do).
    redirect_to: str | None = None
    redirect_certificate_uid: str | None = None

    def __post_init__(self) -> None:
        if self.signature not in SIGNATURE_MODES:
            raise ValueError(f"signature must be one of {SIGNATURE_MODES}, got {self.signature!r}")
        unknown = set(self.document_types) - set(DOCUMENT_TYPES)
        if unknown:
            raise ValueError(f"unknown document types {sorted(unknown)}; known: {sorted(DOCUMENT_TYPES)}")
        object.__setattr__(self, "participant_id", normalize_participant_id(self.participant_id))


# Demo participants (valid Belgian enterprise numbers, mod 97).
DEMO_PARTICIPANTS = (
    SandboxParticipant("0208:0403019261"),  # Invoice + CreditNote
    SandboxParticipant("0208:0403811196", document_types=("invoice", "credit-note", "reminder")),
    SandboxParticipant("9925:be0404603034"),  # registered under its VAT number only
    SandboxParticipant("0208:0405394969", smp_status=500),  # its SMP is failing
    SandboxParticipant("0208:0406186807", signature="tampered"),  # answers do not verify
)


# --- DNS ---------------------------------------------------------------------------------------


class SandboxDns:
    """Answers NAPTR queries over UDP on 127.0.0.1 from a fixed table."""

    def __init__(self, naptr: dict[str, str], servfail: set[str]) -> None:
        # host name (lower-case, no trailing dot) -> SMP base URL
        self._naptr = {name.lower().rstrip("."): url for name, url in naptr.items()}
        self._servfail = {name.lower().rstrip(".") for name in servfail}
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.queries: list[str] = []  # every name asked, in order (tests assert on it)

    @property
    def address(self) -> tuple[str, int]:
        if self._socket is None:
            raise RuntimeError("DNS sandbox not started")
        host, port = self._socket.getsockname()[:2]
        return host, port

    def start(self) -> SandboxDns:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.settimeout(0.1)  # lets the loop notice stop() quickly
        self._thread = threading.Thread(target=self._serve, name="sandbox-dns", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self._socket is not None:
            self._socket.close()

    def _serve(self) -> None:
        assert self._socket is not None
        while not self._stopping.is_set():
            try:
                wire, peer = self._socket.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            response = self.answer(wire)
            if response is not None:
                self._socket.sendto(response, peer)

    def answer(self, wire: bytes) -> bytes | None:
        """The wire-format answer to one query (None for garbage, which a server just drops)."""
        try:
            query = dns.message.from_wire(wire)
        except Exception:  # noqa: BLE001 - any undecodable datagram is dropped, as real servers do
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if not query.question:
            response.set_rcode(dns.rcode.FORMERR)
            return response.to_wire()
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True).lower()
        self.queries.append(name)
        if name in self._servfail:
            response.set_rcode(dns.rcode.SERVFAIL)
        elif name in self._naptr:
            if question.rdtype == dns.rdatatype.NAPTR:
                # SML 1.3.0: one U-NAPTR record, service Meta:SMP, regexp yielding the SMP base URL.
                record = f'100 10 "U" "{SMP_SERVICE}" "!.*!{self._naptr[name]}!" .'
                response.answer.append(dns.rrset.from_text(question.name, 60, "IN", "NAPTR", record))
            # other types on an existing name: NOERROR with no answer (NODATA)
        else:
            response.set_rcode(dns.rcode.NXDOMAIN)
        return response.to_wire()


# --- SMP ---------------------------------------------------------------------------------------


def _der_base64(cert_path: Path) -> str:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode("ascii")


class SandboxSmp:
    """Serves SMP 1.x answers for the configured participants over HTTP on 127.0.0.1."""

    def __init__(
        self,
        participants: tuple[SandboxParticipant, ...],
        *,
        pki: TestPki,
        untrusted_pki: TestPki | None = None,
        tls: bool = False,
    ) -> None:
        self.participants = {p.participant_id: p for p in participants}
        self.tls = tls
        self.pki = pki
        self.untrusted_pki = untrusted_pki
        if untrusted_pki is None and any(p.signature == "untrusted" for p in participants):
            raise ValueError("a participant signs with an untrusted key: pass untrusted_pki")
        self.requests: list[str] = []  # decoded request paths, in order (tests assert on them)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._ap_certificate = _der_base64(pki.ap_cert)

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("SMP sandbox not started")
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self._server.server_address[1]}/smp"

    def start(self) -> SandboxSmp:
        sandbox = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                status, body = sandbox.handle(self.path)
                self.send_response(status)
                self.send_header("Content-Type", "application/xml; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # keep test output clean
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        if self.tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.minimum_version = ssl.TLSVersion.TLSv1_2  # Peppol Transport Security policy: TLS 1.2 floor
            context.load_cert_chain(self.pki.smp_tls_cert, self.pki.smp_tls_key)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        # A short poll interval makes stop() quick (tests start and stop a sandbox per test).
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="sandbox-smp", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def handle(self, raw_path: str) -> tuple[int, bytes]:
        """(status, body) for one GET. Paths: /smp/{participant} and /smp/{participant}/services/{doctype}."""
        path = raw_path.split("?", 1)[0]
        prefix = "/smp/"
        if not path.startswith(prefix):
            return 404, b""
        participant_part, _, document_part = path[len(prefix) :].partition("/services/")
        participant_text = unquote(participant_part)
        self.requests.append(unquote(path))
        scheme, _, value = participant_text.partition("::")
        participant = self.participants.get(value.lower()) if scheme.lower() == PARTICIPANT_SCHEME else None
        if participant is None or not participant.in_smp:
            return 404, b""
        if participant.smp_status != 200:
            return participant.smp_status, b"<error>sandbox failure</error>"
        if not document_part:
            return 200, self.service_group(participant)
        doc_scheme, _, doc_value = unquote(document_part).partition("::")
        keys = [key for key in participant.document_types if DOCUMENT_TYPES[key].identifier == doc_value]
        if doc_scheme.lower() != DOCUMENT_SCHEME or not keys:
            return 404, b""
        return 200, self.signed_service_metadata(participant, keys[0])

    def service_group(self, participant: SandboxParticipant) -> bytes:
        root = etree.Element(f"{{{SMP_NS}}}ServiceGroup", nsmap={"smp": SMP_NS, "ids": IDS_NS})
        pid = etree.SubElement(root, f"{{{IDS_NS}}}ParticipantIdentifier", scheme=PARTICIPANT_SCHEME)
        pid.text = participant.participant_id
        collection = etree.SubElement(root, f"{{{SMP_NS}}}ServiceMetadataReferenceCollection")
        for key in participant.document_types:
            href = service_metadata_url(self.base_url, participant.participant_id, DOCUMENT_TYPES[key].identifier)
            etree.SubElement(collection, f"{{{SMP_NS}}}ServiceMetadataReference", href=href)
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8")

    def unsigned_service_metadata(self, participant: SandboxParticipant, key: str) -> etree._Element:
        document_type = DOCUMENT_TYPES[key]
        root = etree.Element(f"{{{SMP_NS}}}SignedServiceMetadata", nsmap={"smp": SMP_NS, "ids": IDS_NS, "wsa": WSA_NS})
        service_metadata = etree.SubElement(root, f"{{{SMP_NS}}}ServiceMetadata")
        information = etree.SubElement(service_metadata, f"{{{SMP_NS}}}ServiceInformation")
        participant_id = etree.SubElement(information, f"{{{IDS_NS}}}ParticipantIdentifier", scheme=PARTICIPANT_SCHEME)
        participant_id.text = participant.participant_id
        document_id = etree.SubElement(information, f"{{{IDS_NS}}}DocumentIdentifier", scheme=DOCUMENT_SCHEME)
        document_id.text = document_type.identifier
        process = etree.SubElement(etree.SubElement(information, f"{{{SMP_NS}}}ProcessList"), f"{{{SMP_NS}}}Process")
        etree.SubElement(process, f"{{{IDS_NS}}}ProcessIdentifier", scheme=PROCESS_SCHEME).text = document_type.process
        endpoint = etree.SubElement(
            etree.SubElement(process, f"{{{SMP_NS}}}ServiceEndpointList"),
            f"{{{SMP_NS}}}Endpoint",
            transportProfile=participant.transport_profile,
        )
        reference = etree.SubElement(endpoint, f"{{{WSA_NS}}}EndpointReference")
        etree.SubElement(reference, f"{{{WSA_NS}}}Address").text = participant.endpoint_url
        etree.SubElement(endpoint, f"{{{SMP_NS}}}RequireBusinessLevelSignature").text = "false"
        if participant.expiration is not None:
            etree.SubElement(endpoint, f"{{{SMP_NS}}}ServiceExpirationDate").text = participant.expiration.isoformat()
        etree.SubElement(endpoint, f"{{{SMP_NS}}}Certificate").text = self._ap_certificate
        etree.SubElement(endpoint, f"{{{SMP_NS}}}ServiceDescription").text = "Gateway sandbox access point (TEST ONLY)"
        etree.SubElement(endpoint, f"{{{SMP_NS}}}TechnicalContactUrl").text = "https://gateway.example/support"
        return root

    def redirect_service_metadata(self, participant: SandboxParticipant, key: str) -> etree._Element:
        root = etree.Element(f"{{{SMP_NS}}}SignedServiceMetadata", nsmap={"smp": SMP_NS, "ids": IDS_NS})
        href = service_metadata_url(participant.redirect_to or "", participant.participant_id, DOCUMENT_TYPES[key].identifier)
        redirect = etree.SubElement(etree.SubElement(root, f"{{{SMP_NS}}}ServiceMetadata"), f"{{{SMP_NS}}}Redirect", href=href)
        signer = x509.load_pem_x509_certificate(self.pki.smp_signer_cert.read_bytes())
        uid = participant.redirect_certificate_uid or x509.Name(list(reversed(signer.subject.rdns))).rfc4514_string()
        etree.SubElement(redirect, f"{{{SMP_NS}}}CertificateUID").text = uid
        return root

    def signed_service_metadata(self, participant: SandboxParticipant, key: str) -> bytes:
        if participant.redirect_to:
            root = self.redirect_service_metadata(participant, key)
        else:
            root = self.unsigned_service_metadata(participant, key)
        if participant.signature == "unsigned":
            return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
        signer_pki = self.untrusted_pki if participant.signature == "untrusted" else self.pki
        assert signer_pki is not None
        signed = XMLSigner(
            signature_algorithm=SignatureMethod.RSA_SHA256,
            digest_algorithm=DigestAlgorithm.SHA256,
            c14n_algorithm=CanonicalizationMethod.CANONICAL_XML_1_1,
        ).sign(root, key=signer_pki.smp_signer_key.read_bytes(), cert=signer_pki.smp_signer_cert.read_text())
        if participant.signature == "tampered":
            # Changed after signing, as an attacker between SMP and sender would: the digest no longer matches.
            address = signed.find(f".//{{{WSA_NS}}}Address")
            assert address is not None
            address.text = "https://attacker.example/as4"
        return etree.tostring(signed, xml_declaration=True, encoding="UTF-8")


# --- both --------------------------------------------------------------------------------------


class PeppolSandbox:
    """SML (DNS) + SMP (HTTP) on loopback for a set of participants."""

    def __init__(
        self,
        participants: tuple[SandboxParticipant, ...],
        *,
        pki: TestPki,
        untrusted_pki: TestPki | None = None,
        zone: str = SANDBOX_ZONE,
        tls: bool = False,
    ) -> None:
        self.zone = zone
        self.pki = pki
        self.smp = SandboxSmp(participants, pki=pki, untrusted_pki=untrusted_pki, tls=tls)
        self._participants = participants
        self.dns: SandboxDns | None = None

    def start(self) -> PeppolSandbox:
        self.smp.start()
        naptr = {sml_hostname(p.participant_id, self.zone): self.smp.base_url for p in self._participants if p.dns_ok}
        servfail = {sml_hostname(p.participant_id, self.zone) for p in self._participants if not p.dns_ok}
        self.dns = SandboxDns(naptr, servfail).start()
        return self

    def stop(self) -> None:
        if self.dns is not None:
            self.dns.stop()
        self.smp.stop()

    def __enter__(self) -> PeppolSandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def nameserver(self) -> tuple[str, int]:
        if self.dns is None:
            raise RuntimeError("sandbox not started")
        return self.dns.address

    def settings_env(self) -> dict[str, str]:
        """GATEWAY_* variables that point `gateway peppol lookup` (and get_settings()) at this sandbox."""
        host, port = self.nameserver
        root = str(self.pki.root_ca_cert.resolve())
        return {
            "GATEWAY_PEPPOL_SML_ZONE": self.zone,
            "GATEWAY_PEPPOL_DNS_HOST": host,
            "GATEWAY_PEPPOL_DNS_PORT": str(port),
            "GATEWAY_PEPPOL_SMP_TRUSTSTORE": root,
            "GATEWAY_PEPPOL_SMP_REQUIRE_HTTPS": "true" if self.smp.tls else "false",
            "GATEWAY_PEPPOL_SMP_TLS_CA_BUNDLE": root if self.smp.tls else "",
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the Peppol SML/SMP sandbox (TEST ONLY) until interrupted.")
    parser.add_argument(
        "--pki",
        type=Path,
        default=Path(__file__).resolve().parents[2] / "certs-example" / "generated",
        help="test PKI directory (made with certs-example/make-test-pki.py; created if missing)",
    )
    parser.add_argument("--plain-http", action="store_true", help="serve the SMP over HTTP instead of HTTPS")
    args = parser.parse_args(argv)
    try:
        pki = load_test_pki(args.pki)
    except FileNotFoundError:
        pki = make_test_pki(args.pki)
    with PeppolSandbox(DEMO_PARTICIPANTS, pki=pki, tls=not args.plain_http) as sandbox:
        for name, value in sandbox.settings_env().items():
            print(f"export {name}={value}")
        print(f"# SMP at {sandbox.smp.base_url}; participants: " + ", ".join(p.participant_id for p in DEMO_PARTICIPANTS))
        sys.stdout.flush()
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
