"""Rows to JSON-ready dicts for API responses (amounts as strings, times in ISO 8601 UTC)."""

from __future__ import annotations

from gateway.domain.identifiers import format_ogm
from gateway.store.models import AuditEvent, Claim, Debtor, Dispatch, DispatchAttempt, Document, Payment


def money(value) -> str:
    return f"{value:.2f}"


def claim_summary(claim: Claim, creditor_code: str) -> dict:
    return {
        "id": str(claim.id),
        "number": claim.number,
        "creditor": creditor_code,
        "debtor_id": str(claim.debtor_id),
        "type": claim.claim_type,
        "fiscal": claim.fiscal,
        "status": claim.status,
        "currency": claim.currency,
        "issue_date": claim.issue_date.isoformat(),
        "due_date": claim.due_date.isoformat(),
        "structured_communication": format_ogm(claim.structured_communication),
        "total_net": money(claim.total_net),
        "total_vat": money(claim.total_vat),
        "total_amount": money(claim.total_amount),
        "amount_paid": money(claim.amount_paid),
        "amount_open": money(claim.amount_open),
        "created_at": claim.created_at.isoformat(),
    }


def claim_detail(claim: Claim, creditor_code: str, *, debtor: Debtor, documents, dispatches, attempts, payments, history) -> dict:
    attempts_by_dispatch: dict = {}
    for attempt in attempts:
        attempts_by_dispatch.setdefault(attempt.dispatch_id, []).append(attempt_view(attempt))
    return {
        **claim_summary(claim, creditor_code),
        "buyer_reference": claim.buyer_reference,
        "order_reference": claim.order_reference,
        "note": claim.note,
        "debtor": {"id": str(debtor.id), "name": debtor.name, "kind": debtor.kind, "external_id": debtor.external_id},
        "lines": [
            {
                "position": line.position,
                "description": line.description,
                "quantity": str(line.quantity.normalize()) if line.quantity == line.quantity.to_integral() else str(line.quantity),
                "unit_code": line.unit_code,
                "unit_price": str(line.unit_price),
                "vat_category": line.vat_category,
                "vat_rate": str(line.vat_rate),
                "net_amount": money(line.net_amount),
            }
            for line in claim.lines
        ],
        "documents": [document_view(document) for document in documents],
        "dispatches": [dispatch_view(dispatch, attempts_by_dispatch.get(dispatch.id, [])) for dispatch in dispatches],
        "payments": [payment_view(payment) for payment in payments],
        "reported_paid": reported_paid_view(history),
        "history": [history_view(event) for event in history],
    }


def reported_paid_view(history) -> dict | None:
    """The latest Peppol PD ("payment initiated") on the claim, or None: what the buyer said, not a payment."""
    reports = [event for event in history if event.action == "claim.reported_paid"]
    if not reports:
        return None
    data = max(reports, key=lambda event: event.at).data
    keys = ("reported_on", "response_code", "response_id", "response_date", "dispatch_id", "hold_id", "hold_ends_on", "reason")
    return {key: data.get(key) for key in keys}


def document_view(document: Document) -> dict:
    return {
        "id": str(document.id), "kind": document.kind, "number": document.number, "media_type": document.media_type,
        "sha256": document.sha256, "issued_at": document.issued_at.isoformat(),
    }


def dispatch_view(dispatch: Dispatch, attempts: list[dict]) -> dict:
    return {
        "id": str(dispatch.id), "document_id": str(dispatch.document_id), "channel": dispatch.channel, "recipient": dispatch.recipient,
        "state": dispatch.state, "attempt_count": dispatch.attempt_count, "routing_reason": dispatch.routing_reason,
        "last_error": dispatch.last_error, "attempts": attempts,
    }


def attempt_view(attempt: DispatchAttempt) -> dict:
    return {
        "number": attempt.number, "started_at": attempt.started_at.isoformat(), "outcome": attempt.outcome,
        "provider": attempt.provider, "status_code": attempt.status_code, "error_class": attempt.error_class,
    }


def payment_view(payment: Payment) -> dict:
    return {
        "id": str(payment.id), "amount": money(payment.amount), "paid_on": payment.paid_on.isoformat(), "source": payment.source,
        "external_id": payment.external_id, "reference": payment.reference,
    }


def history_view(event: AuditEvent) -> dict:
    return {"at": event.at.isoformat(), "actor": event.actor, "action": event.action, "entity_type": event.entity_type, "data": event.data}


def debtor_view(debtor: Debtor) -> dict:
    return {
        "id": str(debtor.id),
        "external_id": debtor.external_id,
        "kind": debtor.kind,
        "name": debtor.name,
        "enterprise_number": debtor.enterprise_number,
        "vat_number": debtor.vat_number,
        "peppol_id": debtor.peppol_id,
        "national_register_number": debtor.national_register_number,
        "address": {"street": debtor.street, "postal_code": debtor.postal_code, "city": debtor.city, "country": debtor.country},
        "language": debtor.language,
        "contacts": [
            {"kind": c.kind, "value": c.value, "validity": c.validity, "validity_reason": c.validity_reason} for c in debtor.contacts
        ],
        "consents": [
            {"channel": c.channel, "given": c.given, "date": c.given_on.isoformat() if c.given_on else None, "source": c.source}
            for c in debtor.consents
        ],
    }


def warnings_view(warnings) -> list[dict]:
    return [{"field": w.field, "rule": w.rule, "message": w.message, "suggestion": w.suggestion} for w in warnings]
