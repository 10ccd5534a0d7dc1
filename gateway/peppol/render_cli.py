"""`gateway render`: render a UBL document from a claim file, without storing anything.

The claim file is the API's JSON claim payload (`gateway.api.payloads.ClaimIn`) plus a
`"creditor"` object with the creditor's party fields, or the creditor in a separate file
(`--creditor`). The payload is converted with the API's own converter, so the CLI accepts
exactly what the API accepts.
"""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

import click
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gateway.api.payloads import AddressIn, ClaimIn
from gateway.domain import identifiers
from gateway.domain.claim import Address, DebtorKind, Party
from gateway.domain.document import (
    Delivery,
    DocumentRuleError,
    IssueData,
    OverdueInvoice,
    build_credit_note,
    build_invoice,
    build_reminder,
)
from gateway.kit.time import brussels_today
from gateway.peppol.ubl_render import render

# Book XIX WER art. XIX.2: a reminder gives the debtor at least 14 days to pay.
REMINDER_TERM_DAYS = 14


def _normalized(normalize, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return normalize(value)
    except identifiers.IdentifierError as exc:
        raise ValueError(f"{exc.rule}: {exc.message}") from exc


class CreditorIn(BaseModel):
    """The creditor's party fields, as the entity registry will hold them."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Annotated[str, Field(min_length=1, max_length=200)]
    enterprise_number: str
    vat_number: str | None = None
    peppol_id: str | None = None
    address: AddressIn
    iban: str
    bic: str | None = None
    email: str | None = None
    language: str = "nl"

    _enterprise = field_validator("enterprise_number")(lambda v: _normalized(identifiers.normalize_enterprise_number, v))
    _vat = field_validator("vat_number")(lambda v: _normalized(identifiers.normalize_vat_number, v))
    _peppol = field_validator("peppol_id")(lambda v: _normalized(identifiers.normalize_peppol_id, v))
    _iban = field_validator("iban")(lambda v: _normalized(identifiers.normalize_iban, v))

    def to_domain(self) -> Party:
        return Party(
            name=self.name,
            kind=DebtorKind.BUSINESS,
            enterprise_number=self.enterprise_number,
            vat_number=self.vat_number,
            peppol_id=self.peppol_id,
            address=Address(**self.address.model_dump()),
            language=self.language,
            email=self.email,
            iban=self.iban,
            bic=self.bic,
        )


def _derived_ogm(number: str) -> str:
    """A stable OGM for a claim file without one: the digits of the claim number as OGM base."""
    digits = "".join(ch for ch in number if ch.isdigit()) or "0"
    return identifiers.ogm_from_base(int(digits[-10:]) or 1)


def _load_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"{path}: cannot read JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise click.ClickException(f"{path}: expected a JSON object")
    return data


def _problems(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or '(claim)'}: [{error['type']}] {error['msg']}" for error in exc.errors()
    )


def _decimal(value: str, option: str) -> Decimal:
    try:
        return Decimal(value)
    except InvalidOperation:
        raise click.BadParameter(f"{value!r} is not a decimal number", param_hint=option) from None


@click.command("render")
@click.argument("claim_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--document",
    "document_kind",
    type=click.Choice(["invoice", "credit-note", "reminder"]),
    default="invoice",
    show_default=True,
    help="Which document to render from the claim.",
)
@click.option("--as-of", "as_of", type=click.DateTime(["%Y-%m-%d"]), help="Issue date of a credit note or reminder, and the day interest runs to. Default: today in Brussels.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write the XML here instead of stdout.")
@click.option("--creditor", "creditor_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Creditor party JSON, when the claim file has no \"creditor\" object.")
@click.option("--number", help="Document number. Default: the claim number (invoice), NUMBER-CN1 (credit note), NUMBER-R1 (reminder).")
@click.option("--pdf", "pdf_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Embed this PDF as AdditionalDocumentReference.")
@click.option("--delivery-date", type=click.DateTime(["%Y-%m-%d"]), help="Actual delivery date (needed for category K, BR-IC-11).")
@click.option("--delivery-country", help="Deliver-to country code (category K, BR-IC-12). Default: the debtor's country.")
@click.option("--fee", default="0", show_default=True, help="Reminder: fee charged by the dunning step.")
@click.option("--interest-rate", default=None, help="Reminder: annual late-payment interest rate in percent.")
@click.option("--sequence", default=1, show_default=True, type=click.IntRange(1), help="Reminder: dunning step number.")
def render_command(
    claim_file: Path,
    document_kind: str,
    as_of,
    output: Path | None,
    creditor_file: Path | None,
    number: str | None,
    pdf_file: Path | None,
    delivery_date,
    delivery_country: str | None,
    fee: str,
    interest_rate: str | None,
    sequence: int,
) -> None:
    """Render CLAIM_FILE (the API's JSON claim format) as UBL 2.1 XML."""
    data = _load_json(claim_file)
    creditor_data = data.pop("creditor", None)
    if creditor_file is not None:
        creditor_data = _load_json(creditor_file)
    if not isinstance(creditor_data, dict):
        raise click.ClickException('the creditor is missing: add a "creditor" object to the claim file or pass --creditor FILE')
    try:
        creditor = CreditorIn.model_validate(creditor_data).to_domain()
    except ValidationError as exc:
        raise click.ClickException(f"invalid creditor: {_problems(exc)}") from exc
    try:
        payload = ClaimIn.model_validate(data)
    except ValidationError as exc:
        raise click.ClickException(f"invalid claim: {_problems(exc)}") from exc
    ogm = payload.structured_communication
    if ogm is None:
        ogm = _derived_ogm(payload.number)
        click.echo(f"no structured_communication in the claim; using {identifiers.format_ogm(ogm)}", err=True)
    claim = payload.to_domain(creditor, ogm)

    today = as_of.date() if as_of else brussels_today()
    delivery = None
    if delivery_date is not None:
        delivery = Delivery(delivery_date.date(), delivery_country or claim.debtor.address.country)
    pdf = pdf_file.read_bytes() if pdf_file else None

    try:
        if document_kind == "invoice":
            document = build_invoice(claim, IssueData(number or claim.number, claim.issue_date, pdf=pdf, delivery=delivery))
        else:
            invoice = build_invoice(claim, IssueData(claim.number, claim.issue_date, delivery=delivery))
            if document_kind == "credit-note":
                document = build_credit_note(invoice, IssueData(number or f"{claim.number}-CN1", today, pdf=pdf))
            else:
                document = build_reminder(
                    [OverdueInvoice(invoice, invoice.totals.payable_amount)],
                    IssueData(number or f"{claim.number}-R{sequence}", today, pdf=pdf),
                    today=today,
                    new_due_date=today + timedelta(days=REMINDER_TERM_DAYS),
                    sequence=sequence,
                    fee=_decimal(fee, "--fee"),
                    interest_rate=_decimal(interest_rate, "--interest-rate") if interest_rate is not None else None,
                )
    except DocumentRuleError as exc:
        raise click.ClickException(exc.message) from exc

    xml = render(document)
    if output is None:
        sys.stdout.buffer.write(xml)
    else:
        output.write_bytes(xml)
        click.echo(f"wrote {output} ({len(xml)} bytes)", err=True)


def register(group: click.Group) -> None:
    """Add this package's subcommands to the top-level `gateway` group."""
    group.add_command(render_command)
