"""Belgian identifiers and payment references, checked with python-stdnum.

Pure functions: a value in, a normalised value out, or `IdentifierError` naming the rule.
The OGM/VCS structured communication is the one reconciliation key across every channel
(letter, EPC QR, Bancontact reference, UBL PaymentID), so it is generated here and nowhere else.
"""

from __future__ import annotations

import re
import secrets
from functools import lru_cache

import pymailcheck
from stdnum import iban as std_iban
from stdnum.be import nn as std_nn
from stdnum.be import ogm_vcs as std_ogm
from stdnum.be import ssn as std_ssn
from stdnum.be import vat as std_be_vat
from stdnum.eu import vat as std_eu_vat
from stdnum.exceptions import ValidationError


class IdentifierError(ValueError):
    """`rule` is a stable id such as `ogm.checksum`, used in API problem responses."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message


def _explain(exc: ValidationError) -> str:
    return str(exc) or exc.__class__.__name__


# --- OGM / VCS: 10-digit base + 2 check digits = base mod 97 (0 -> 97) -------------------

def normalize_ogm(value: str) -> str:
    """Return the 12 digits of a structured communication, or raise `ogm.*`."""
    digits = "".join(ch for ch in value if ch.isdigit())
    stripped = value.strip().strip("+*").replace("/", "").replace(" ", "")
    if stripped != digits:
        raise IdentifierError("ogm.format", "a structured communication is +++ddd/dddd/ddddd+++ (12 digits)")
    if len(digits) != 12:
        raise IdentifierError("ogm.length", f"a structured communication has 12 digits, got {len(digits)}")
    try:
        return std_ogm.validate(digits)
    except ValidationError as exc:
        raise IdentifierError("ogm.checksum", f"check digits do not match (base mod 97): {_explain(exc)}") from exc


def format_ogm(digits: str) -> str:
    """`010806817183` -> `+++010/8068/17183+++` (stdnum's format omits the plus signs)."""
    return f"+++{std_ogm.format(digits)}+++"


def ogm_from_base(base: int) -> str:
    """The 12-digit OGM for a 10-digit base number."""
    if not 0 <= base < 10**10:
        raise IdentifierError("ogm.base", "an OGM base has at most 10 digits")
    first10 = f"{base:010d}"
    return first10 + std_ogm.calc_check_digits(first10)


def new_random_ogm() -> str:
    """A fresh OGM with a random base; uniqueness is enforced by the store's constraint."""
    return ogm_from_base(secrets.randbelow(10**10 - 1) + 1)


# --- enterprise number (KBO/BCE) and VAT -----------------------------------------------

def normalize_enterprise_number(value: str) -> str:
    """10 digits, first 0 or 1, last two = 97 - (first 8 mod 97). Old 9-digit numbers get a leading 0."""
    try:
        number = std_be_vat.validate(value)
    except ValidationError as exc:
        raise IdentifierError("enterprise_number.invalid", f"not a valid Belgian enterprise number: {_explain(exc)}") from exc
    return number


def normalize_vat_number(value: str) -> str:
    """Any EU VAT number, returned compact with its country prefix (BE0403019261)."""
    compact = "".join(ch for ch in value if ch.isalnum()).upper()
    if compact[:2].isdigit():  # a bare Belgian number without prefix
        compact = "BE" + compact
    try:
        return std_eu_vat.validate(compact)
    except ValidationError as exc:
        raise IdentifierError("vat_number.invalid", f"not a valid EU VAT number: {_explain(exc)}") from exc


def normalize_national_number(value: str) -> str:
    """INSZ/NISS: a national register number or a BIS number (11 digits, mod 97, 2000s prefix rule)."""
    try:
        return std_ssn.validate(value)
    except ValidationError as exc:
        raise IdentifierError("national_register_number.invalid", f"not a valid INSZ/NISS number: {_explain(exc)}") from exc


def national_number_kind(value: str) -> str:
    return "nn" if std_nn.is_valid(value) else "bis"


def normalize_iban(value: str) -> str:
    try:
        return std_iban.validate(value)
    except ValidationError as exc:
        raise IdentifierError("iban.invalid", f"not a valid IBAN: {_explain(exc)}") from exc


def normalize_peppol_id(value: str) -> str:
    """`scheme:identifier`, e.g. `0208:0403019261`. Belgian schemes are checked, others kept as given."""
    scheme, sep, ident = value.strip().partition(":")
    if not sep or not scheme.isdigit() or len(scheme) != 4 or not ident:
        raise IdentifierError("peppol_id.format", "a Peppol participant id is SCHEME:ID with a 4-digit scheme, e.g. 0208:0403019261")
    if scheme == "0208":
        ident = normalize_enterprise_number(ident)
    elif scheme == "9925":
        ident = normalize_vat_number(ident).lower()  # Peppol ids are compared lower-cased
    return f"{scheme}:{ident}"


# --- e-mail typo suggestions (suggest only, never rewrite) --------------------------------

# Curated for Belgian and Dutch consumers (channels-and-law.md section 8); pymailcheck's
# built-in lists carry merged entries, so we always pass our own.
EMAIL_DOMAINS = [
    "telenet.be", "skynet.be", "proximus.be", "scarlet.be", "hotmail.be", "live.be", "outlook.be",
    "msn.com", "gmail.com", "hotmail.com", "outlook.com", "yahoo.com", "icloud.com",
    "ziggo.nl", "kpnmail.nl", "planet.nl", "hetnet.nl", "home.nl", "xs4all.nl", "hotmail.nl", "live.nl",
]
EMAIL_SECOND_LEVEL = ["gmail", "hotmail", "outlook", "telenet", "skynet", "proximus", "yahoo", "icloud", "live", "ziggo"]
EMAIL_TOP_LEVEL = ["be", "nl", "com", "net", "eu", "fr", "de", "org"]


def suggest_email(address: str) -> str | None:
    """The likely intended address when the domain looks like a typo of a common one."""
    local, _, domain = address.rpartition("@")
    suggested = _suggest_domain(domain.lower())
    return f"{local}@{suggested}" if suggested else None


@lru_cache(maxsize=4096)
def _suggest_domain(domain: str) -> str | None:
    suggestion = pymailcheck.suggest(
        f"x@{domain}",
        domains=EMAIL_DOMAINS,
        second_level_domains=EMAIL_SECOND_LEVEL,
        top_level_domains=EMAIL_TOP_LEVEL,
    )
    # Only ever point to a known provider's domain: a valid but rarer domain (stad.gent,
    # company.io) is not a typo of something on our list.
    if not suggestion or suggestion["domain"].lower() not in EMAIL_DOMAINS or suggestion["domain"].lower() == domain:
        return None
    return suggestion["domain"].lower()


def check_email_syntax(address: str) -> str:
    local, sep, domain = address.strip().rpartition("@")
    if not sep or not local or "." not in domain or " " in address.strip() or domain.startswith(".") or domain.endswith("."):
        raise IdentifierError("email.syntax", "an e-mail address is local@domain.tld")
    return address.strip()


# A URL that goes into an e-mail's href/src attribute and text part, and onto a letter: https,
# without spaces, quotes, backslashes or angle brackets (autoescaping covers HTML, not the scheme).
URL_TAIL = r"[^\s\"'<>\\]{1,2000}"
_HTTPS_URL_RE = re.compile(r"https://[A-Za-z0-9.-]+(?::\d{1,5})?(?:/" + URL_TAIL + r")?")


def check_https_url(value: str) -> str:
    """A public https URL (a creditor's logo_url): refused with rule `url.https` otherwise."""
    url = value.strip()
    if not _HTTPS_URL_RE.fullmatch(url):
        raise IdentifierError("url.https", "an https:// URL with a host name, without spaces, quotes or angle brackets")
    return url
