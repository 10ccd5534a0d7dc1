"""EPC069-12 payloads: exact text, field-named validation errors, QR parameters."""

from __future__ import annotations

from decimal import Decimal

import pytest
import segno

from gateway.channels.payment.epc_qr import (
    EpcPayment,
    OgmPlacement,
    build_payload,
    make_qr,
    render_png,
    render_svg,
)
from gateway.errors import InvalidInput

IBAN = "BE48 3200 7018 4927"  # docs/channels-and-law.md section 3.3, BIC BBRUBEBB


def payment(**changes) -> EpcPayment:
    values = dict(name="Gemeente Voorbeeld", iban=IBAN, amount=Decimal("123.40"), ogm="+++010/8068/17183+++")
    values.update(changes)
    return EpcPayment(**values)


def test_payload_with_ogm_in_the_structured_reference():
    assert build_payload(payment()) == (
        "BCD\n002\n1\nSCT\n\nGemeente Voorbeeld\nBE48320070184927\nEUR123.40\n\n010806817183"
    )


def test_payload_with_bic_purpose_and_information():
    text = build_payload(payment(bic="BBRUBEBB", purpose="GDDS", information="Factuur 2026-000042", amount=Decimal("5")))
    assert text == (
        "BCD\n002\n1\nSCT\nBBRUBEBB\nGemeente Voorbeeld\nBE48320070184927\nEUR5.00\nGDDS\n010806817183\n\nFactuur 2026-000042"
    )


def test_ogm_unstructured_fallback_goes_to_line_11_in_plus_form():
    text = build_payload(payment(ogm="010806817183", ogm_placement=OgmPlacement.UNSTRUCTURED))
    assert text.split("\n")[9:] == ["", "+++010/8068/17183+++"]


def test_rf_reference_and_free_text():
    assert build_payload(payment(ogm=None, creditor_reference="RF18 5390 0754 7034")).endswith("\nRF18539007547034")
    assert build_payload(payment(ogm=None, text="Huur november")).endswith("EUR123.40\n\n\nHuur november")


def test_no_amount_and_no_reference_drops_trailing_lines():
    assert build_payload(payment(amount=None, ogm=None)) == "BCD\n002\n1\nSCT\n\nGemeente Voorbeeld\nBE48320070184927"


def test_non_ascii_name_is_utf8():
    text = build_payload(payment(name="Ville de Liège – CPAS"))
    assert "\nVille de Liège – CPAS\n" in text


@pytest.mark.parametrize(
    ("changes", "field", "rule"),
    [
        (dict(amount=Decimal("0.00")), "amount", "epc_qr.amount.range"),
        (dict(amount=Decimal("1000000000.00")), "amount", "epc_qr.amount.range"),
        (dict(amount=Decimal("12.345")), "amount", "epc_qr.amount.decimals"),
        (dict(amount=12.5), "amount", "epc_qr.amount.type"),
        (dict(amount=Decimal("NaN")), "amount", "epc_qr.amount.format"),
        (dict(name=""), "name", "epc_qr.name.required"),
        (dict(name="x" * 71), "name", "epc_qr.name.length"),
        (dict(name="Gemeente\nVoorbeeld"), "name", "epc_qr.name.control_character"),
        (dict(iban="BE48 3200 7018 4928"), "iban", "epc_qr.iban.invalid"),
        (dict(iban=""), "iban", "epc_qr.iban.required"),
        (dict(bic="BBRUBE"), "bic", "epc_qr.bic.invalid"),
        (dict(purpose="GOODS"), "purpose", "epc_qr.purpose.format"),
        (dict(ogm="+++010/8068/17184+++"), "ogm", "epc_qr.ogm.checksum"),
        (dict(text="also text"), "text", "epc_qr.remittance.exclusive"),
        (dict(ogm=None, creditor_reference="RF19 5390 0754 7034"), "creditor_reference", "epc_qr.creditor_reference.invalid"),
        (dict(ogm=None, text="x" * 141), "text", "epc_qr.text.length"),
        (dict(information="y" * 71), "information", "epc_qr.information.length"),
    ],
)
def test_validation_errors_name_the_field(changes, field, rule):
    with pytest.raises(InvalidInput) as info:
        build_payload(payment(**changes))
    [problem] = info.value.problems
    assert (problem.field, problem.rule) == (field, rule)


def test_payload_limit_is_331_bytes():
    # "BCD\n002\n1\nSCT\n" 14 + empty BIC + name 69 + IBAN 16 + "EUR999999999.99" 15 + empty
    # purpose + empty reference + text 140 + information 70, with 8 more line feeds = 331.
    big = dict(name="N" * 69, amount=Decimal("999999999.99"), ogm=None, text="t" * 140, information="i" * 70)
    assert len(build_payload(payment(**big)).encode("utf-8")) == 331
    with pytest.raises(InvalidInput) as info:
        build_payload(payment(**big, purpose="GDDS"))
    assert info.value.problems[0].field == "payload"
    assert info.value.problems[0].message == "EPC QR payload is at most 331 bytes, got 335"
    with pytest.raises(InvalidInput):  # "é" is 2 bytes in UTF-8: 69 characters, 138 bytes
        build_payload(payment(**{**big, "name": "é" * 69}))


def test_qr_is_level_m_byte_mode_version_13_at_most():
    text = build_payload(payment())
    qr = make_qr(text)
    assert (qr.error, qr.mode, qr.version) == ("M", "byte", 5)
    big = build_payload(payment(name="N" * 69, amount=Decimal("999999999.99"), ogm=None, text="t" * 140, information="i" * 70))
    assert make_qr(big).version == 13
    # the same symbol segno builds from the UTF-8 bytes without ECI
    assert qr == segno.make_qr(text.encode("utf-8"), error="m", boost_error=False)


def test_rendering_returns_svg_and_png_bytes():
    text = build_payload(payment())
    svg = render_svg(text, title="Betaal 123,40 EUR")
    assert svg.startswith(b"<svg") and b"<title>Betaal 123,40 EUR</title>" in svg
    # version 5 = 37 modules + 2 x 4 quiet zone = 45 modules x scale 4
    assert b'width="180" height="180"' in svg
    png = render_png(text, scale=2)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(png[16:20], "big") == 90  # IHDR width


def test_the_bancontact_invoice_link_carries_amount_reference_and_a_short_description():
    from gateway.channels.payment.bancontact_link import invoice_link

    assert invoice_link("5f1a2b3c4d5e6f7a8b9c0d1e", amount=Decimal("45.00"), reference="123456789002", description="Stad Gent INV000001") == (
        "https://pay.bancontact.net/t/1/5f1a2b3c4d5e6f7a8b9c0d1e?D=Stad%20Gent%20INV000001&A=4500&R=123456789002"
    )
    long = invoice_link("P", amount=Decimal("9999.99"), reference="R" * 40, description="x" * 50)
    assert long == f"https://pay.bancontact.net/t/1/P?D={'x' * 35}&A=999999&R={'R' * 35}"
    assert invoice_link("P", amount=Decimal("10000.00"), reference="1", description="d") is None  # above what the link carries
    assert invoice_link("P", amount=Decimal("0.00"), reference="1", description="d") is None
    assert invoice_link("", amount=Decimal("1.00"), reference="1", description="d") is None  # no Bancontact profile
