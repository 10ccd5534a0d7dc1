"""Escalation list export for the approving body and the bailiff: CSV rows, or a PDF of the same rows.

Used by `GET /v1/escalations/export?kind=...&format=csv|pdf`, `gateway dunning export-list` and the
admin pages. The evidence columns come from the entry's `evidence` JSON written when the claim was
escalated (`service._escalate`): the registered reminder's dispatch, delivery time and document
sha256, the amounts with their rules, and the day the claim was undisputed. Approval columns are
the entry's (`approve_escalation`). Rows are in list order: approving body, then listing time.
Money is written as the stored Decimal text (two decimals), dates and times in ISO 8601.

The PDF carries the same values as the CSV, plus one approval line per claim (who, when) and the
list's totals. WeasyPrint renders it from `templates/escalation_list.html.j2` and fetches nothing:
its URL fetcher serves `data:` URIs only, so the list is made from the database rows alone and a
rendering never reaches the network.
"""

from __future__ import annotations

import csv
import hashlib
import io
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import lru_cache

import jinja2
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.domain.identifiers import format_ogm
from gateway.store.models import CreditorEntity, EscalationEntry
from gateway.store.repositories.dunning import DunningRepository

COLUMNS = (
    "claim_number", "debtor_name", "debtor_external_id", "kind", "approving_body", "status", "due_date", "total_amount", "amount_paid",
    "amount_open", "fee", "amounts", "ogm", "decided_on", "undisputed_on", "policy", "reminder_step", "dispatch_id", "channel",
    "proof_reference", "sent_at", "delivered_at", "document_sha256", "approved_by", "approved_at",
)
# Columns summed in the PDF's totals (and on the admin page).
TOTALLED = ("total_amount", "amount_paid", "amount_open", "fee")


def _text(value) -> str:
    if value is None:
        return ""
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def row(repo: DunningRepository, entry: EscalationEntry) -> dict[str, str]:
    claim = repo.claim(entry.claim_id)
    debtor = repo.debtor(claim.debtor_id)
    evidence = entry.evidence or {}
    reminder = evidence.get("registered_reminder") or {}
    amounts = "; ".join(f"{a['rule']} {a['amount']}" for a in evidence.get("amounts", []))
    values = {
        "claim_number": claim.number, "debtor_name": debtor.name, "debtor_external_id": debtor.external_id, "kind": entry.kind,
        "approving_body": entry.approving_body, "status": entry.status, "due_date": claim.due_date, "total_amount": claim.total_amount,
        "amount_paid": claim.amount_paid, "amount_open": entry.amount_open, "fee": evidence.get("fee"), "amounts": amounts,
        "ogm": format_ogm(claim.structured_communication), "decided_on": evidence.get("decided_on"), "undisputed_on": evidence.get("undisputed_on"),
        "policy": evidence.get("policy"), "reminder_step": reminder.get("step"), "dispatch_id": reminder.get("dispatch_id"),
        "channel": reminder.get("channel"), "proof_reference": reminder.get("proof_reference"), "sent_at": reminder.get("sent_at"),
        "delivered_at": reminder.get("delivered_at"), "document_sha256": reminder.get("document_sha256"), "approved_by": entry.approved_by,
        "approved_at": entry.approved_at,
    }
    return {column: _text(values[column]) for column in COLUMNS}


@dataclass(frozen=True)
class Listed:
    """A list entry with its export row (what the admin page shows and approves)."""

    entry: EscalationEntry
    row: dict[str, str]


def listed(session: Session, creditor_ids: frozenset[uuid.UUID], *, kind: str | None = None, approving_body: str | None = None, status: str | None = None) -> list[Listed]:
    repo = DunningRepository(session)
    entries = repo.escalations(creditor_ids, kind=kind, status=status)
    return [Listed(e, row(repo, e)) for e in entries if approving_body is None or e.approving_body == approving_body]


def rows(session: Session, creditor_ids: frozenset[uuid.UUID], *, kind: str, approving_body: str | None = None, status: str | None = None) -> list[dict[str, str]]:
    return [item.row for item in listed(session, creditor_ids, kind=kind, approving_body=approving_body, status=status)]


def all_creditor_ids(session: Session) -> frozenset[uuid.UUID]:
    """For the operator CLI, which acts for every creditor entity."""
    return frozenset(session.scalars(select(CreditorEntity.id)))


def to_csv(items: list[dict[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(items)
    return buffer.getvalue()


def totals(items: list[dict[str, str]]) -> dict[str, Decimal]:
    """Sums of the money columns; an empty cell counts as zero."""
    return {column: sum((Decimal(item[column] or "0") for item in items), Decimal("0.00")) for column in TOTALLED}


# --- PDF -------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    """Loaded once; HTML autoescaped, undefined names fail loudly."""
    loader = jinja2.PackageLoader("gateway.dunning", "templates")
    return jinja2.Environment(loader=loader, autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def render_html(items: list[dict[str, str]], *, kind: str, approving_body: str | None, status: str | None, generated_at: datetime) -> str:
    template = _environment().get_template("escalation_list.html.j2")
    return template.render(
        items=items, kind=kind, approving_body=approving_body, status=status, generated_at=generated_at.isoformat(timespec="seconds"),
        totals=totals(items), approved=sum(1 for item in items if item["approved_at"]),
    )


_per_thread = threading.local()


def _data_only_fetcher():
    from weasyprint.urls import URLFetcher

    class DataOnlyFetcher(URLFetcher):
        """Serves `data:` URIs; any other URL (http, file, ...) is refused and remembered."""

        def __init__(self) -> None:
            super().__init__(allow_redirects=False, fail_on_errors=False)
            self.refused: list[str] = []

        def fetch(self, url, headers=None):
            if not url.startswith("data:"):
                self.refused.append(url)
                raise ValueError(f"the escalation list fetches nothing; refused {url[:100]}")
            return super().fetch(url, headers)

    return DataOnlyFetcher()


def _fonts():
    # One FontConfiguration per thread: WeasyPrint does not promise it may be shared by concurrent renders.
    fonts = getattr(_per_thread, "fonts", None)
    if fonts is None:
        from weasyprint.text.fonts import FontConfiguration

        fonts = _per_thread.fonts = FontConfiguration()
    return fonts


def html_to_pdf(html: str) -> tuple[bytes, list[str]]:
    """The PDF and the URLs the fetcher refused (empty for our own template)."""
    import weasyprint  # loads Pango: only when a PDF is asked for

    fetcher = _data_only_fetcher()
    document = weasyprint.HTML(string=html, url_fetcher=fetcher).render(font_config=_fonts())
    # A content-derived file identifier instead of a random one: the same list gives the same bytes.
    identifier = hashlib.sha256(html.encode("utf-8")).hexdigest()[:32].encode("ascii")
    return document.write_pdf(pdf_identifier=identifier), fetcher.refused


def to_pdf(items: list[dict[str, str]], *, kind: str, approving_body: str | None = None, status: str | None = None, generated_at: datetime) -> bytes:
    pdf, _ = html_to_pdf(render_html(items, kind=kind, approving_body=approving_body, status=status, generated_at=generated_at))
    return pdf
