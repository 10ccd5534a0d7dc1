"""A throw-away test PKI for Peppol discovery: a root CA, an SMP signer, an access point, SMP TLS.

TEST ONLY. The real network trusts the OpenPeppol PKI (SMP CA and AP CA, G3 from 2026); these
certificates only stand in for it on loopback, in tests and in the demo. Nothing generated here
belongs in git (`certs-example/generated/` is ignored).

`make_test_pki(directory)` writes, into `directory`:

| file | what |
|---|---|
| `root-ca.pem` / `root-ca.key` | self-signed root; `root-ca.pem` is the SMP truststore |
| `smp-signer.pem` / `smp-signer.key` | signs SignedServiceMetadata (issued by the root) |
| `ap.pem` / `ap.key` | the access point certificate published in the SMP endpoint (issued by the root) |
| `smp-tls.pem` / `smp-tls.key` | TLS server certificate of the sandbox SMP for 127.0.0.1 / localhost (issued by the root) |

The shape follows what `cryptography`'s web-PKI verifier (used by signxml) requires of a chain:
CA with critical basicConstraints and keyCertSign, leaves with digitalSignature, key identifiers.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gateway.kit.time import utc_now

# RSA 2048 with SHA-256: the algorithm pair the Peppol SMP signature profile names (RSA-SHA256).
KEY_SIZE = 2048
# Long enough for a demo session or a test run to never cross an expiry; short enough to be obviously test-only.
VALIDITY = timedelta(days=365)
# Start a day early so clock skew between processes never makes a fresh certificate "not yet valid".
BACKDATE = timedelta(days=1)


@dataclass(frozen=True)
class TestPki:
    """Paths of one generated test PKI."""

    __test__ = False  # not a pytest test class, despite the name

    directory: Path
    root_ca_cert: Path
    root_ca_key: Path
    smp_signer_cert: Path
    smp_signer_key: Path
    ap_cert: Path
    ap_key: Path
    smp_tls_cert: Path
    smp_tls_key: Path


def _paths(directory: Path) -> TestPki:
    return TestPki(
        directory=directory,
        root_ca_cert=directory / "root-ca.pem",
        root_ca_key=directory / "root-ca.key",
        smp_signer_cert=directory / "smp-signer.pem",
        smp_signer_key=directory / "smp-signer.key",
        ap_cert=directory / "ap.pem",
        ap_key=directory / "ap.key",
        smp_tls_cert=directory / "smp-tls.pem",
        smp_tls_key=directory / "smp-tls.key",
    )


def _name(common_name: str, organization: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "BE"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)


def _issue(
    *,
    subject: x509.Name,
    key: rsa.RSAPrivateKey,
    issuer: x509.Name,
    issuer_key: rsa.RSAPrivateKey,
    is_ca: bool,
    not_before: datetime,
    extended_key_usage: list[x509.ObjectIdentifier] | None = None,
    subject_alternative_names: list[x509.GeneralName] | None = None,
) -> x509.Certificate:
    public_key = key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_before + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=0 if is_ca else None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not is_ca,
                content_commitment=False,
                key_encipherment=not is_ca,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=is_ca,
                crl_sign=is_ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    )
    if extended_key_usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage(extended_key_usage), critical=False)
    if subject_alternative_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(subject_alternative_names), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _write_key(path: Path, key: rsa.RSAPrivateKey) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # Owner-only from the first byte: create with 0600 rather than chmod after writing.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def make_test_pki(directory: Path, *, organization: str = "Gateway Test PKI", now: datetime | None = None) -> TestPki:
    """Generate a fresh root CA, SMP signer and AP certificate (with keys) into `directory`.

    Every call makes new keys. Call it twice with different `organization` values to get a
    second, unrelated PKI, e.g. to sign with a key the first truststore does not trust.
    """
    directory.mkdir(parents=True, exist_ok=True)
    not_before = (now or utc_now()) - BACKDATE

    root_key = _new_key()
    root_name = _name(f"{organization} Root CA (TEST ONLY)", organization)
    root_cert = _issue(
        subject=root_name, key=root_key, issuer=root_name, issuer_key=root_key, is_ca=True, not_before=not_before
    )
    smp_key = _new_key()
    smp_cert = _issue(
        subject=_name(f"{organization} SMP signer (TEST ONLY)", organization),
        key=smp_key,
        issuer=root_name,
        issuer_key=root_key,
        is_ca=False,
        not_before=not_before,
    )
    ap_key = _new_key()
    ap_cert = _issue(
        subject=_name(f"{organization} Access Point (TEST ONLY)", organization),
        key=ap_key,
        issuer=root_name,
        issuer_key=root_key,
        is_ca=False,
        not_before=not_before,
        extended_key_usage=[ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH],
    )

    tls_key = _new_key()
    tls_cert = _issue(
        subject=_name(f"{organization} SMP TLS (TEST ONLY)", organization),
        key=tls_key,
        issuer=root_name,
        issuer_key=root_key,
        is_ca=False,
        not_before=not_before,
        extended_key_usage=[ExtendedKeyUsageOID.SERVER_AUTH],
        subject_alternative_names=[x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")), x509.DNSName("localhost")],
    )

    pki = _paths(directory)
    _write_cert(pki.root_ca_cert, root_cert)
    _write_key(pki.root_ca_key, root_key)
    _write_cert(pki.smp_signer_cert, smp_cert)
    _write_key(pki.smp_signer_key, smp_key)
    _write_cert(pki.ap_cert, ap_cert)
    _write_key(pki.ap_key, ap_key)
    _write_cert(pki.smp_tls_cert, tls_cert)
    _write_key(pki.smp_tls_key, tls_key)
    return pki


def load_test_pki(directory: Path) -> TestPki:
    """The paths of a PKI made earlier by `make_test_pki`, checking that every file is there."""
    pki = _paths(directory)
    files = [
        pki.root_ca_cert, pki.root_ca_key, pki.smp_signer_cert, pki.smp_signer_key,
        pki.ap_cert, pki.ap_key, pki.smp_tls_cert, pki.smp_tls_key,
    ]
    missing = [str(path) for path in files if not path.exists()]
    if missing:
        raise FileNotFoundError(f"test PKI incomplete, run certs-example/make-test-pki.py: missing {', '.join(missing)}")
    return pki
