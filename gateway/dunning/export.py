"""Escalation list export for the approving body and the bailiff: one CSV row per list entry.

Used by `GET /v1/escalations/export?kind=...&format=csv` and `gateway dunning export-list`. The
evidence columns come from the entry's `evidence` JSON written when the claim was escalated
(`service._escalate`): the registered reminder's dispatch, delivery time and document sha256, the
amounts with their rules, and the day the claim was undisputed. Approval columns are the entry's
(`approve_escalation`). Rows are in list order: approving body, then listing time. Money is
written as the stored Decimal text (two decimals), dates and times in ISO 8601.

PDF is not built: the CSV is the export.
"""

from __future__ import annotations

import csv
import io
import uuid

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


def rows(session: Session, creditor_ids: frozenset[uuid.UUID], *, kind: str, approving_body: str | None = None, status: str | None = None) -> list[dict[str, str]]:
    repo = DunningRepository(session)
    entries = repo.escalations(creditor_ids, kind=kind, status=status)
    return [row(repo, e) for e in entries if approving_body is None or e.approving_body == approving_body]


def all_creditor_ids(session: Session) -> frozenset[uuid.UUID]:
    """For the operator CLI, which acts for every creditor entity."""
    return frozenset(session.scalars(select(CreditorEntity.id)))


def to_csv(items: list[dict[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(items)
    return buffer.getvalue()
