"""Render issued documents to UBL 2.1 XML: a view model in, bytes out.

Sans-IO and deterministic (style rule 1): the only file access is loading the Jinja2 templates
from `ubl_templates/`, once per process through a cached `Environment`. The same view model
always gives the same bytes, which is what the golden-file tests compare. Templates only loop,
test for optional elements and escape; every value is computed in `gateway.domain.document`.
"""

from __future__ import annotations

from decimal import Decimal
from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template

from gateway.domain.document import CreditNoteDocument, InvoiceDocument, ReminderDocument
from gateway.domain.money import round_money

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "ubl_templates"

TEMPLATES = {
    InvoiceDocument: "invoice.xml.j2",
    CreditNoteDocument: "credit_note.xml.j2",
    ReminderDocument: "reminder.xml.j2",
}

Document = InvoiceDocument | CreditNoteDocument | ReminderDocument


def format_amount(value: Decimal) -> str:
    """Amounts carry exactly two decimals (BR-DEC-01 and siblings; PEPPOL-EN16931-R051 is on currency)."""
    text = f"{round_money(value):f}"
    return "0.00" if text == "-0.00" else text


def format_decimal(value: Decimal) -> str:
    """Quantities, unit prices and rates without exponent or trailing zeros: 2.50 -> 2.5, 21.00 -> 21."""
    text = f"{value:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=True,  # every template is XML: escape &, <, >, quotes in all values
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
    )
    env.filters["amount"] = format_amount
    env.filters["decimal"] = format_decimal
    return env


@cache
def template(name: str) -> Template:
    return environment().get_template(name)


def render(document: Document) -> bytes:
    """The UBL XML of an invoice, credit note or reminder, UTF-8 encoded."""
    try:
        name = TEMPLATES[type(document)]
    except KeyError:
        raise TypeError(f"no UBL template for {type(document).__name__}") from None
    return template(name).render(doc=document).encode("utf-8")
