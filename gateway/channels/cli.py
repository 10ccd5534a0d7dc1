"""Subcommands of this package; `gateway.cli` calls `register`.

- `gateway bounce parse FILE [--json]`: classify one returned message (RFC 822 file or `-`).
- `gateway sms segments TEXT`: encoding and number of parts of an SMS text.
- `gateway epc-qr`: build an EPC069-12 payload and optionally write it as SVG or PNG.

All three only read their input and print; nothing is stored or sent.
"""

from __future__ import annotations

import json
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path

import click

from gateway.channels.email.bounce import MAX_BOUNCE_BYTES, BounceParseError, parse_bounce
from gateway.channels.payment.epc_qr import EpcPayment, OgmPlacement, build_payload, render_png, render_svg
from gateway.channels.sms.segments import count_segments, non_gsm7_characters
from gateway.errors import InvalidInput


@click.group("bounce")
def bounce_group() -> None:
    """E-mail bounce tools."""


@bounce_group.command("parse")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (keys in the README).")
def bounce_parse(file: Path, as_json: bool) -> None:
    """Classify FILE (a raw RFC 822 message, `-` for stdin) as a bounce, auto-reply or neither."""
    if str(file) == "-":
        raw = sys.stdin.buffer.read(MAX_BOUNCE_BYTES + 1)
    else:
        try:
            with file.open("rb") as handle:
                raw = handle.read(MAX_BOUNCE_BYTES + 1)  # one byte more lets the parser refuse it
        except OSError as exc:
            raise click.ClickException(f"cannot read {file}: {exc.strerror}") from exc
    try:
        report = parse_bounce(raw)
    except BounceParseError as exc:
        raise click.ClickException(f"{exc.rule}: {exc.message}") from exc
    if as_json:
        click.echo(json.dumps(report.to_json(), ensure_ascii=False))
        return
    click.echo(f"{report.message_kind.value}: {'bounce' if report.is_bounce else 'not a bounce'}")
    for recipient in report.recipients:
        click.echo(f"  {recipient.address}  {recipient.kind.value}  {recipient.status or '-'}  {recipient.reason.value}")
    if report.original_message_id:
        click.echo(f"  original Message-ID: {report.original_message_id}")
    if report.verp_token:
        click.echo(f"  VERP token: {report.verp_token}")


@click.group("sms")
def sms_group() -> None:
    """SMS tools."""


@sms_group.command("segments")
@click.argument("text")
def sms_segments(text: str) -> None:
    """Print the encoding, size and number of parts of TEXT as JSON."""
    result = count_segments(text)
    click.echo(json.dumps({
        "encoding": result.encoding.value,
        "units": result.units,
        "segments": result.segments,
        "per_segment": result.per_segment,
        "remaining": result.remaining,
        "non_gsm7_characters": non_gsm7_characters(text),
    }, ensure_ascii=False))


def _decimal(_ctx, _param, value: str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        raise click.BadParameter(f"not a decimal amount: {value!r}") from None


@click.command("epc-qr")
@click.option("--name", required=True, help="Beneficiary name (at most 70 characters).")
@click.option("--iban", required=True)
@click.option("--amount", callback=_decimal, help="EUR amount, e.g. 123.40.")
@click.option("--bic")
@click.option("--ogm", help="Belgian structured communication (12 digits or +++ddd/dddd/ddddd+++).")
@click.option("--ogm-unstructured", is_flag=True, help="Put the OGM in line 11 as +++...+++ instead of line 10.")
@click.option("--reference", "creditor_reference", help="ISO 11649 RF creditor reference.")
@click.option("--text", help="Unstructured remittance (at most 140 characters).")
@click.option("--svg", "svg_path", type=click.Path(dir_okay=False, writable=True, path_type=Path))
@click.option("--png", "png_path", type=click.Path(dir_okay=False, writable=True, path_type=Path))
def epc_qr(name, iban, amount, bic, ogm, ogm_unstructured, creditor_reference, text, svg_path, png_path) -> None:
    """Print the EPC QR payload; write the code as SVG and/or PNG when asked."""
    placement = OgmPlacement.UNSTRUCTURED if ogm_unstructured else OgmPlacement.STRUCTURED
    payment = EpcPayment(name=name, iban=iban, amount=amount, bic=bic, ogm=ogm, creditor_reference=creditor_reference, text=text, ogm_placement=placement)
    try:
        payload = build_payload(payment)
    except InvalidInput as exc:
        problem = exc.problems[0]
        raise click.ClickException(f"{problem.field}: {problem.message} ({problem.rule})") from exc
    click.echo(payload)
    if svg_path:
        svg_path.write_bytes(render_svg(payload))
    if png_path:
        png_path.write_bytes(render_png(payload))


def register(group: click.Group) -> None:
    """Add this package's subcommands to the top-level `gateway` group."""
    group.add_command(bounce_group)
    group.add_command(sms_group)
    group.add_command(epc_qr)
