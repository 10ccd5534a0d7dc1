"""Paper letters: an invoice or reminder as an A4 PDF. Pure: values in, PDF bytes out.

No database, no network, no clock. The same `LetterInput` gives the same bytes (the PDF
carries no creation or modification date, and its file identifier is derived from the
content), so the SHA-256 stored with the document proves what was printed.

Layout (templates/letter.css): the debtor's address sits in the address field of DIN 5008 form B
(20 mm from the left edge, 45 mm from the top, 85 x 45 mm), which a left-window envelope shows;
a registered letter carries its marking (Aangetekend / Recommandé / Einschreiben / Registered)
in the notes zone just above the address, and again in the title.

WeasyPrint never fetches anything: the logo and the EPC QR code are embedded as `data:` URIs,
the stylesheet is a string, and the URL fetcher refuses every other URL. A logo passes
`logo.check_logo` first (no DTD, entity, script, foreign element or outside reference in an
SVG; see gateway/letters/logo.py), so the fetcher is the second line, not the only one.
"""

from __future__ import annotations

import base64
import hashlib
import re
import threading
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache
from importlib import resources

import jinja2
from stdnum import iban as std_iban

from gateway.channels.email.compose import format_amount, format_date
from gateway.channels.payment import epc_qr
from gateway.domain.claim import LANGUAGES
from gateway.domain.document import DocumentRuleError
from gateway.domain.identifiers import IdentifierError, format_ogm, normalize_ogm
from gateway.errors import InvalidInput
from gateway.letters import logo as logo_check

KINDS = ("invoice", "reminder")
CENT = Decimal("0.01")
_COLOUR_RE = re.compile(r"#[0-9a-fA-F]{6}")
# Printed as text only (a letter has no links); still refuse anything that is not a plain https URL
# (plain http only for loopback: the local demo's personal page, as in e-mails).
_URL_RE = re.compile(r"(?:https://|http://(?:127\.0\.0\.1|localhost)(?::\d{1,5})?/)[^\s\"'<>\\]{1,500}")
QR_SIZE_MM = 38  # EPC069-12 asks for at least 2 x 2 cm; larger reads better from a printed page
MAX_EPC_NAME = epc_qr.MAX_NAME


@dataclass(frozen=True)
class LetterParty:
    name: str
    address_lines: tuple[str, ...]  # street, "postal code city", country name if not BE


@dataclass(frozen=True)
class LetterLine:
    description: str
    amount: Decimal


@dataclass(frozen=True)
class LetterInput:
    kind: str  # "invoice" | "reminder"
    language: str  # nl | fr | de | en
    creditor: LetterParty
    creditor_enterprise_number: str | None
    creditor_iban: str
    creditor_bic: str | None
    creditor_colour: str  # "#rrggbb"
    logo: bytes | None  # the entity's logo, SVG or PNG bytes
    logo_media_type: str | None  # "image/svg+xml" | "image/png"
    debtor: LetterParty
    document_number: str
    issue_date: date
    claim_number: str
    lines: tuple[LetterLine, ...]
    total_due: Decimal
    currency: str  # EUR
    due_date: date
    ogm: str  # 12 digits or +++ddd/dddd/ddddd+++
    step: int | None = None  # reminder step number
    registered: bool = False  # a registered letter: marked on the letter and in the manifest
    fees_to_follow: tuple[LetterLine, ...] = ()  # what the next steps will cost (Book XIX: a first reminder must state them)
    personal_url: str | None = None  # the debtor's personal page (printed as text)
    bancontact_url: str | None = None  # printed: the document's stable pay link (or the invoice link)
    bancontact_qr_url: str | None = None  # drawn as a QR: the Bancontact invoice link the app scans
    note: str | None = None


def _refuse(field: str, rule: str, message: str) -> DocumentRuleError:
    return DocumentRuleError(f"letter.{rule}", message, field=field)


def _check_amount(field: str, amount: Decimal) -> None:
    if not isinstance(amount, Decimal) or not amount.is_finite() or amount != amount.quantize(CENT):
        raise _refuse(field, "amount.format", f"{field} is a Decimal with at most 2 decimals, got {amount!r}")


def _check(letter: LetterInput) -> str:
    """Validate what the PDF cannot show sensibly; returns the OGM's 12 digits."""
    if letter.kind not in KINDS:
        raise _refuse("kind", "kind.unknown", f"kind is one of {', '.join(KINDS)}, got {letter.kind!r}")
    if letter.language not in LANGUAGES:
        raise _refuse("language", "language.unsupported", f"language is one of {', '.join(LANGUAGES)}, got {letter.language!r}")
    if letter.currency != "EUR":  # the EPC QR (SEPA credit transfer) is in euro only
        raise _refuse("currency", "currency.not_eur", f"a letter with an EPC QR code is in EUR, got {letter.currency!r}")
    if not _COLOUR_RE.fullmatch(letter.creditor_colour or ""):  # it lands in a style attribute
        raise _refuse("creditor_colour", "colour.format", f"creditor_colour is #rrggbb, got {letter.creditor_colour!r}")
    if not letter.debtor.name or not letter.debtor.address_lines:
        raise _refuse("debtor.address_lines", "debtor_address.missing", "a letter needs the debtor's name and postal address")
    if letter.kind == "reminder" and (letter.step is None or letter.step < 1):
        raise _refuse("step", "step.missing", "a reminder letter states its step number (1 or more)")
    for field, url in (("personal_url", letter.personal_url), ("bancontact_url", letter.bancontact_url), ("bancontact_qr_url", letter.bancontact_qr_url)):
        if url is not None and not _URL_RE.fullmatch(url):
            raise _refuse(field, "url.format", f"{field} is an https (or loopback http) URL without spaces or quotes")
    _check_amount("total_due", letter.total_due)
    for index, line in enumerate(letter.lines):
        _check_amount(f"lines.{index}.amount", line.amount)
    for index, line in enumerate(letter.fees_to_follow):
        _check_amount(f"fees_to_follow.{index}.amount", line.amount)
    if letter.logo is not None:
        # WeasyPrint parses an SVG logo again for every letter: the same gate as at intake.
        try:
            checked = logo_check.check_logo(letter.logo)
        except logo_check.LogoError as exc:
            raise _refuse("logo", "logo." + exc.rule.removeprefix("logo_file."), exc.message) from exc
        if checked != letter.logo_media_type:
            raise _refuse("logo_media_type", "logo.media_type", f"the logo bytes are {checked}, declared {letter.logo_media_type!r}")
    try:
        return normalize_ogm(letter.ogm)
    except IdentifierError as exc:
        raise _refuse("ogm", exc.rule, exc.message) from exc


def _epc_payment(letter: LetterInput) -> epc_qr.EpcPayment:
    # EPC069-12 element 6 allows 70 characters; a longer entity name is cut, the IBAN identifies the account.
    return epc_qr.EpcPayment(
        name=letter.creditor.name[:MAX_EPC_NAME].strip(), iban=letter.creditor_iban, amount=letter.total_due,
        bic=letter.creditor_bic or None, ogm=letter.ogm,
    )


def letter_epc_payload(letter: LetterInput) -> str:
    """The EPC QR payload printed on the letter (version 002, SCT, the OGM as structured reference)."""
    try:
        return epc_qr.build_payload(_epc_payment(letter))
    except InvalidInput as exc:
        problem = exc.problems[0]
        raise _refuse(f"epc.{problem.field}", problem.rule.removeprefix("epc_qr."), problem.message) from exc


# --- presentation ---------------------------------------------------------------------------


def _data_uri(media_type: str, data: bytes) -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"


def _qr_svg(text: str) -> bytes:
    import io

    import segno

    buffer = io.BytesIO()
    segno.make_qr(text, error="m").save(buffer, kind="svg", scale=4, border=4, xmldecl=False)
    return buffer.getvalue()


def _enterprise(number: str | None) -> str | None:
    if not number:
        return None
    digits = "".join(ch for ch in number if ch.isdigit())
    return f"{digits[:4]}.{digits[4:7]}.{digits[7:]}" if len(digits) == 10 else number


def _view(letter: LetterInput, ogm_digits: str, payload: str) -> dict:
    language = letter.language
    return {
        "letter": letter,
        "colour": letter.creditor_colour,
        "logo_src": _data_uri(letter.logo_media_type, letter.logo) if letter.logo else None,
        "qr_src": _data_uri("image/svg+xml", epc_qr.render_svg(payload)),
        "bancontact_qr_src": _data_uri("image/svg+xml", _qr_svg(letter.bancontact_qr_url)) if letter.bancontact_qr_url else None,
        "qr_size_mm": QR_SIZE_MM,
        "ogm": format_ogm(ogm_digits),
        "iban": std_iban.format(letter.creditor_iban),
        "enterprise_number": _enterprise(letter.creditor_enterprise_number),
        "amount": lambda value: format_amount(value, language),
        "date": lambda value: format_date(value, language),
        "total_due": format_amount(letter.total_due, language),
        "due_date": format_date(letter.due_date, language),
        "issue_date": format_date(letter.issue_date, language),
    }


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    """Loaded once (style rule 1); HTML autoescaped, undefined names fail loudly."""
    loader = jinja2.PackageLoader("gateway.letters", "templates")
    return jinja2.Environment(loader=loader, autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


_per_thread = threading.local()


def _weasy():
    """WeasyPrint, a font configuration and the parsed stylesheet, once per thread.

    Parsing the stylesheet and loading fonts once saves time on every letter; per thread because
    WeasyPrint does not promise that a FontConfiguration may be shared by concurrent renders."""
    cached = getattr(_per_thread, "weasy", None)
    if cached is None:
        import weasyprint  # importing WeasyPrint loads Pango: only when the first letter is rendered
        from weasyprint.text.fonts import FontConfiguration

        fonts = FontConfiguration()
        css = resources.files("gateway.letters").joinpath("templates", "letter.css").read_text(encoding="utf-8")
        stylesheet = weasyprint.CSS(string=css, font_config=fonts, url_fetcher=data_only_fetcher())
        cached = _per_thread.weasy = (weasyprint, fonts, stylesheet)
    return cached


def data_only_fetcher():
    from weasyprint.urls import URLFetcher

    class DataOnlyFetcher(URLFetcher):
        """Serves `data:` URIs and refuses everything else: a letter is rendered from its input alone."""

        def __init__(self) -> None:
            super().__init__(allow_redirects=False, fail_on_errors=False)
            self.refused: list[str] = []

        def fetch(self, url, headers=None):
            if not url.startswith("data:"):
                self.refused.append(url)
                raise ValueError(f"letters fetch nothing; refused {url[:100]}")
            return super().fetch(url, headers)

    return DataOnlyFetcher()


def render_html(letter: LetterInput) -> str:
    """The letter as HTML (what WeasyPrint lays out); validates the input."""
    ogm_digits = _check(letter)
    payload = letter_epc_payload(letter)
    template = _environment().get_template(f"letter.{letter.language}.html.j2")
    return template.render(**_view(letter, ogm_digits, payload))


def render_letter(letter: LetterInput) -> bytes:
    """The letter as an A4 PDF; raises `DocumentRuleError` naming the field and the rule."""
    html = render_html(letter)
    weasyprint, fonts, stylesheet = _weasy()
    fetcher = data_only_fetcher()
    document = weasyprint.HTML(string=html, url_fetcher=fetcher).render(stylesheets=[stylesheet], font_config=fonts)
    # A content-derived file identifier instead of a random one: same input, same bytes.
    identifier = hashlib.sha256(html.encode("utf-8")).hexdigest()[:32].encode("ascii")
    return document.write_pdf(pdf_identifier=identifier)


NOTE_TITLES = {"nl": "Uw contactgegevens", "fr": "Vos coordonnées", "de": "Ihre Kontaktdaten", "en": "Your contact details"}


def render_note(*, language: str, creditor_name: str, colour: str, logo: bytes | None, logo_media_type: str | None, text: str) -> bytes:
    """A one-page note (a contact-repair request) enclosed with a paper letter: the creditor's
    letterhead, a title and the text (which carries the personal link). Pure; the same input gives
    the same bytes; fetches nothing. Raises `DocumentRuleError` naming the field."""
    if language not in LANGUAGES:
        raise _refuse("language", "language.unsupported", f"language is one of {', '.join(LANGUAGES)}, got {language!r}")
    if not _COLOUR_RE.fullmatch(colour or ""):
        raise _refuse("creditor_colour", "colour.format", f"creditor_colour is #rrggbb, got {colour!r}")
    if logo is not None and logo_check.sniff(logo) != logo_media_type:
        raise _refuse("logo_media_type", "logo.media_type", f"the logo bytes are not {logo_media_type!r}")
    html = _environment().get_template("note.html.j2").render(
        language=language, title=NOTE_TITLES[language], creditor_name=creditor_name, colour=colour, text=text,
        logo_src=_data_uri(logo_media_type, logo) if logo else None,
    )
    weasyprint, fonts, stylesheet = _weasy()
    document = weasyprint.HTML(string=html, url_fetcher=data_only_fetcher()).render(stylesheets=[stylesheet], font_config=fonts)
    return document.write_pdf(pdf_identifier=hashlib.sha256(html.encode("utf-8")).hexdigest()[:32].encode("ascii"))


def with_enclosures(pdf: bytes, enclosures: list[bytes]) -> bytes:
    """The letter followed by the pages of each enclosure (the letter's first page keeps the address
    window), as one PDF for the printer. PDFium copies the pages; no date is added, so the same
    input gives the same bytes and a retried print dispatch writes the same file."""
    if not enclosures:
        return pdf
    import io

    import pypdfium2

    merged = pypdfium2.PdfDocument(pdf)
    for enclosure in enclosures:
        merged.import_pages(pypdfium2.PdfDocument(enclosure))
    buffer = io.BytesIO()
    merged.save(buffer)
    # PDFium writes a random second file identifier (PDF 32000 section 14.4); it becomes a hash of the
    # content instead (same length, so every byte offset stays valid).
    data = buffer.getvalue()
    found = list(_TRAILER_ID_RE.finditer(data))
    if not found:
        return data
    start, end = found[-1].span(2)
    blank = data[:start] + b"0" * (end - start) + data[end:]
    return data[:start] + hashlib.sha256(blank).hexdigest()[: end - start].upper().encode("ascii") + data[end:]


_TRAILER_ID_RE = re.compile(rb"/ID\s*\[\s*(\([^)]*\)|<[0-9A-Fa-f]*>)\s*<([0-9A-Fa-f]+)>\s*\]")
