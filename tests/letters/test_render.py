"""PDF letters: what a debtor reads on paper, what the QR code pays, and that nothing is fetched.

Every letter is rendered for real (WeasyPrint), its page text read back with pypdfium2 and its
QR code decoded from the rendered page image with zxing-cpp.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import subprocess
import sys
import threading
from dataclasses import replace
from datetime import date
from decimal import Decimal

import pypdfium2 as pdfium
import pytest
import zxingcpp
from PIL import Image

from gateway.domain.document import DocumentRuleError
from gateway.letters.render import LetterInput, LetterLine, LetterParty, letter_epc_payload, render_html, render_letter

EXPECTED_PAYLOAD = "BCD\n002\n1\nSCT\nGEBABEBB\nGemeente Zonnedorp\nBE48320070184927\nEUR131.40\n\n010806817183"

SVG_LOGO = b'<svg xmlns="http://www.w3.org/2000/svg" width="120" height="40"><rect width="120" height="40" fill="#1d4f91"/></svg>'


def letter(**changes) -> LetterInput:
    values = dict(
        kind="invoice", language="nl",
        creditor=LetterParty("Gemeente Zonnedorp", ("Marktplein 1", "9999 Zonnedorp")),
        creditor_enterprise_number="0207451227", creditor_iban="BE48320070184927", creditor_bic="GEBABEBB", creditor_colour="#1d4f91",
        logo=SVG_LOGO, logo_media_type="image/svg+xml",
        debtor=LetterParty("An Peeters", ("Kerkstraat 10", "9999 Zonnedorp")),
        document_number="INV-2026-000042", issue_date=date(2026, 11, 23), claim_number="F2026-0042",
        lines=(LetterLine("Ophaling grofvuil (1 × 120)", Decimal("120.00")), LetterLine("Btw", Decimal("11.40"))),
        total_due=Decimal("131.40"), currency="EUR", due_date=date(2026, 12, 23), ogm="+++010/8068/17183+++",
    )
    values.update(changes)
    return LetterInput(**values)


def reminder(**changes) -> LetterInput:
    values = dict(
        kind="reminder", step=1, document_number="REM-2026-000007", due_date=date(2027, 1, 8),
        lines=(LetterLine("Openstaand saldo van factuur INV-2026-000042", Decimal("131.40")),),
        fees_to_follow=(LetterLine("Stap 2", Decimal("7.50")), LetterLine("Stap 3", Decimal("15.00"))),
    )
    values.update(changes)
    return letter(**values)


def page_texts(pdf: bytes) -> list[str]:
    document = pdfium.PdfDocument(pdf)
    texts = []
    for page in document:
        raw = page.get_textpage().get_text_range()
        # The amount formats use no-break spaces; the PDF text layer may also break lines anywhere.
        texts.append(" ".join(raw.replace("\xa0", " ").replace("\u202f", " ").split()))
    return texts


def qr_payloads(pdf: bytes, page_index: int = 0) -> list[str]:
    page = pdfium.PdfDocument(pdf)[page_index]
    image = page.render(scale=3).to_pil()  # 216 dpi: a 38 mm code has ~4 pixels per module at version 6
    return [result.text for result in zxingcpp.read_barcodes(image) if result.format == zxingcpp.BarcodeFormat.QRCode]


# Per language: amounts, dates and the words the debtor must find on the page.
EXPECTED = {
    "nl": {"total": "€ 131,40", "due_invoice": "23 december 2026", "due_reminder": "8 januari 2027", "fees": ["€ 7,50", "€ 15,00"],
           "registered": "Aangetekend", "fees_title": "Kosten als u niet tijdig betaalt", "title": {"invoice": "Factuur", "reminder": "Herinnering – stap 1"}},
    "fr": {"total": "131,40 €", "due_invoice": "23 décembre 2026", "due_reminder": "8 janvier 2027", "fees": ["7,50 €", "15,00 €"],
           "registered": "Recommandé", "fees_title": "Frais en cas de retard de paiement", "title": {"invoice": "Facture", "reminder": "Rappel – étape 1"}},
    "de": {"total": "131,40 €", "due_invoice": "23. Dezember 2026", "due_reminder": "8. Januar 2027", "fees": ["7,50 €", "15,00 €"],
           "registered": "Einschreiben", "fees_title": "Kosten bei nicht fristgerechter Zahlung", "title": {"invoice": "Rechnung", "reminder": "Zahlungserinnerung – Stufe 1"}},
    "en": {"total": "€131.40", "due_invoice": "23 December 2026", "due_reminder": "8 January 2027", "fees": ["€7.50", "€15.00"],
           "registered": "Registered", "fees_title": "Fees that will follow", "title": {"invoice": "Invoice", "reminder": "Reminder – step 1"}},
}


@pytest.mark.parametrize("kind", ["invoice", "reminder"])
@pytest.mark.parametrize("language", ["nl", "fr", "de", "en"])
def test_every_language_and_kind_prints_the_amounts_dates_ogm_and_a_decodable_epc_qr(language, kind):
    expected = EXPECTED[language]
    source = (letter if kind == "invoice" else reminder)(language=language, registered=True)

    pdf = render_letter(source)

    assert pdf.startswith(b"%PDF-")
    assert qr_payloads(pdf) == [EXPECTED_PAYLOAD]
    assert letter_epc_payload(source) == EXPECTED_PAYLOAD
    (text,) = page_texts(pdf)
    assert expected["title"][kind] in text
    assert text.count(expected["total"]) >= 2  # the total line and the payment box
    assert expected["due_invoice" if kind == "invoice" else "due_reminder"] in text
    assert "+++010/8068/17183+++" in text
    assert "BE48 3200 7018 4927" in text and "GEBABEBB" in text
    assert "0207.451.227" in text
    assert source.document_number in text and "F2026-0042" in text
    assert "An Peeters Kerkstraat 10 9999 Zonnedorp" in text
    assert expected["registered"] in text
    if kind == "reminder":
        assert expected["fees_title"] in text
        assert f"Stap 2 {expected['fees'][0]}" in text and f"Stap 3 {expected['fees'][1]}" in text
    else:
        assert expected["fees_title"] not in text


@pytest.mark.parametrize("language", ["nl", "fr", "de", "en"])
def test_an_ordinary_letter_carries_no_registered_marking(language):
    text = page_texts(render_letter(reminder(language=language)))[0]
    assert EXPECTED[language]["registered"] not in text


def test_reminder_without_fees_to_follow_has_no_fee_table_and_later_steps_show_their_number():
    text = page_texts(render_letter(reminder(step=3, fees_to_follow=())))[0]
    assert "Herinnering – stap 3" in text
    assert "Kosten als u niet tijdig betaalt" not in text


def test_personal_link_bancontact_link_and_note_are_printed_as_text():
    source = letter(
        personal_url="https://gateway.example.org/p/abc.DEF", bancontact_url="https://pay.bancontact.net/t/1/PPID?R=010806817183",
        note="Betaal de kosten apart.",
    )
    text = page_texts(render_letter(source))[0]
    assert "https://gateway.example.org/p/abc.DEF" in text
    assert "https://pay.bancontact.net/t/1/PPID?R=010806817183" in text
    assert "Betaal de kosten apart." in text


def test_a_foreign_debtor_gets_the_country_line_and_a_long_letter_flows_onto_a_second_page():
    lines = tuple(LetterLine(f"Verbruik periode {n}", Decimal("2.19")) for n in range(1, 41))
    source = letter(
        debtor=LetterParty("Jan de Vries", ("Dorpsstraat 3", "4331 AB Middelburg", "Nederland")), lines=lines, total_due=Decimal("131.40"),
    )
    pdf = render_letter(source)
    texts = page_texts(pdf)
    assert len(texts) == 2
    assert "Jan de Vries Dorpsstraat 3 4331 AB Middelburg Nederland" in texts[0]
    assert "Verbruik periode 40 € 2,19" in " ".join(texts)
    assert texts[0].endswith("1 / 2") and texts[1].endswith("2 / 2")
    assert qr_payloads(pdf, page_index=1) == [EXPECTED_PAYLOAD]  # the payment box follows the lines


def test_a_png_logo_is_embedded():
    buffer = io.BytesIO()
    Image.new("RGB", (60, 20), (29, 79, 145)).save(buffer, format="PNG")
    pdf = render_letter(letter(logo=buffer.getvalue(), logo_media_type="image/png"))
    assert qr_payloads(pdf) == [EXPECTED_PAYLOAD]
    assert b"/Subtype /Image" in pdf


def test_the_same_input_gives_the_same_bytes():
    source = reminder(registered=True, personal_url="https://gateway.example.org/p/x")
    assert render_letter(source) == render_letter(source)


def test_the_bytes_do_not_depend_on_the_process_or_its_hash_seed():
    script = (
        "import hashlib, sys; sys.path.insert(0, 'tests/letters'); "
        "from test_render import reminder; from gateway.letters.render import render_letter; "
        "print(hashlib.sha256(render_letter(reminder(registered=True))).hexdigest())"
    )
    digests = set()
    for seed in ("1", "2"):
        result = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=os.getcwd(), env={**os.environ, "PYTHONHASHSEED": seed},
        )
        digests.add(result.stdout.strip())
    assert digests == {hashlib.sha256(render_letter(reminder(registered=True))).hexdigest()}


def test_the_pdf_carries_no_creation_date():
    pdf = render_letter(letter())
    assert b"/CreationDate" not in pdf and b"/ModDate" not in pdf


class _CountingHandler(http.server.BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self):  # noqa: N802 (http.server's naming)
        type(self).requests.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("first_line", ["checked", "check removed"])
def test_a_logo_that_points_at_http_or_file_urls_causes_no_access(tmp_path, monkeypatch, first_line):
    """Refused by the logo check (rule svg_external_reference); with that check removed, WeasyPrint's
    data-only fetcher is the second line: still no request and no embedded file."""
    if first_line == "check removed":
        monkeypatch.setattr("gateway.letters.logo.check_logo", lambda data: "image/svg+xml")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _CountingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    secret = tmp_path / "secret.png"
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (255, 0, 0)).save(buffer, format="PNG")
    secret.write_bytes(buffer.getvalue())
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        logo = (
            '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="100" height="40">'
            f'<image href="{base}/tracker.png" width="50" height="40"/>'
            f'<image xlink:href="{secret.as_uri()}" x="50" width="50" height="40"/>'
            f'<style>@import url("{base}/style.css");</style></svg>'
        ).encode()
        note = f'<img src="{base}/note.png"> see {base}/x'
        if first_line == "checked":
            with pytest.raises(DocumentRuleError) as refused:
                render_letter(letter(logo=logo, note=note))
            assert [(p.field, p.rule) for p in refused.value.problems] == [("logo", "letter.logo.svg_external_reference")]
            pdf = render_letter(letter(logo=None, logo_media_type=None, note=note))
        else:
            pdf = render_letter(letter(logo=logo, note=note))
    finally:
        server.shutdown()
        server.server_close()
    assert _CountingHandler.requests == []
    assert f'<img src="{base}/note.png"> see {base}/x' in page_texts(pdf)[0]  # escaped text, not markup
    assert b"/Subtype /Image" not in pdf  # neither the remote image nor the local file was embedded


def test_html_is_autoescaped():
    html = render_html(letter(debtor=LetterParty("<b>Eve</b> & Co", ("Kerkstraat 1", "9999 Zonnedorp"))))
    assert "&lt;b&gt;Eve&lt;/b&gt; &amp; Co" in html
    assert "<b>Eve</b>" not in html


@pytest.mark.parametrize(
    ("changes", "field", "rule"),
    [
        ({"kind": "letter"}, "kind", "letter.kind.unknown"),
        ({"language": "es"}, "language", "letter.language.unsupported"),
        ({"currency": "USD"}, "currency", "letter.currency.not_eur"),
        ({"creditor_colour": "red;background:url(x)"}, "creditor_colour", "letter.colour.format"),
        ({"ogm": "+++010/8068/17184+++"}, "ogm", "letter.ogm.checksum"),
        ({"total_due": Decimal("1.005")}, "total_due", "letter.amount.format"),
        ({"lines": (LetterLine("x", Decimal("NaN")),)}, "lines.0.amount", "letter.amount.format"),
        ({"logo_media_type": "image/png"}, "logo_media_type", "letter.logo.media_type"),
        ({"logo": b"GIF89a....", "logo_media_type": "image/png"}, "logo", "letter.logo.type"),
        ({"logo": b"\x89PNG\r\n\x1a\n" + b"0" * 200_000, "logo_media_type": "image/png"}, "logo", "letter.logo.too_large"),
        ({"logo": b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'}, "logo", "letter.logo.svg_script"),
        ({"personal_url": "javascript:alert(1)"}, "personal_url", "letter.url.format"),
        ({"debtor": LetterParty("An", ())}, "debtor.address_lines", "letter.debtor_address.missing"),
        ({"kind": "reminder", "step": None}, "step", "letter.step.missing"),
        ({"creditor_iban": "BE00320070184927"}, "epc.iban", "letter.iban.invalid"),
        ({"total_due": Decimal("0.00")}, "epc.amount", "letter.amount.range"),
    ],
)
def test_refusals_name_the_field_and_the_rule(changes, field, rule):
    with pytest.raises(DocumentRuleError) as caught:
        render_letter(letter(**changes))
    assert [(p.field, p.rule) for p in caught.value.problems] == [(field, rule)]


def test_a_long_creditor_name_is_cut_to_70_characters_in_the_qr_only():
    name = "Autonoom Gemeentebedrijf voor Sport, Cultuur en Vrije Tijd van de Gemeente Zonnedorp"
    source = letter(creditor=replace(letter().creditor, name=name))
    payload = letter_epc_payload(source)
    assert payload.split("\n")[5] == name[:70].strip()
    assert name in page_texts(render_letter(source))[0]


def _boxes_mm(pdf: bytes, text: str) -> list[tuple[float, float, float, float]]:
    """(left, top, right, bottom) of each occurrence of `text` on page 1, in mm from the top-left corner."""
    page = pdfium.PdfDocument(pdf)[0]
    height = page.get_height()
    textpage = page.get_textpage()
    searcher = textpage.search(text)
    points_to_mm = 25.4 / 72
    found = []
    while (match := searcher.get_next()) is not None:
        start, count = match
        boxes = [textpage.get_charbox(index) for index in range(start, start + count)]
        left, right = min(b[0] for b in boxes), max(b[2] for b in boxes)
        top, bottom = height - max(b[3] for b in boxes), height - min(b[1] for b in boxes)
        found.append((left * points_to_mm, top * points_to_mm, right * points_to_mm, bottom * points_to_mm))
    return found


def _in_window(box: tuple[float, float, float, float]) -> bool:
    left, top, right, bottom = box
    return 19.5 <= left and right <= 105 and 45 <= top and bottom <= 90  # 0.5 mm for a glyph's overhang (the J)


def test_the_address_and_the_registered_marking_sit_in_the_envelope_window():
    pdf = render_letter(letter(registered=True, debtor=LetterParty("Jan de Vries", ("Dorpsstraat 3", "4331 AB Middelburg", "Nederland"))))
    # DIN 5008 form B address field: x 20..105 mm, y 45..90 mm (what a left-window envelope shows).
    placed = {}
    for text in ("Aangetekend", "Jan de Vries", "Dorpsstraat 3", "4331 AB Middelburg", "Nederland"):
        inside = [box for box in _boxes_mm(pdf, text) if _in_window(box)]
        assert len(inside) == 1, (text, _boxes_mm(pdf, text))
        placed[text] = inside[0]
    assert placed["Aangetekend"][3] < placed["Jan de Vries"][1]  # the marking above the address
    assert len(_boxes_mm(pdf, "Aangetekend")) == 2  # and again in the title


def test_letters_rendered_in_parallel_threads_are_the_same_bytes():
    from concurrent.futures import ThreadPoolExecutor

    sources = [reminder(document_number=f"REM-2026-{n:06d}", registered=n % 2 == 0) for n in range(6)]
    expected = [render_letter(source) for source in sources]
    with ThreadPoolExecutor(max_workers=3) as pool:
        assert list(pool.map(render_letter, sources)) == expected
