"""Buyer responses that pause dunning (DESIGN.md section 3; channels-and-law.md 6.2).

A Peppol Invoice Response UQ (under query) or RE (rejected) puts the claim on hold for dunning
through the dunning service (`buyer_response_uq` / `buyer_response_re`, which make an open
claim `disputed`). The worker that applies a callback calls `hold_claim_for_buyer_response`
after recording the `dispatch.reported` event; every other code only stays on that event.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.domain.claim_status import ClaimStatus
from gateway.domain.transmission import DeliveryState
from gateway.dunning import service as dunning_service
from gateway.dunning.rules import HoldKind
from gateway.kit.time import brussels_today
from gateway.services.auth import Principal
from gateway.store.models import Claim, ClaimHold, Dispatch

AUTHOR = "peppol-ap"
HOLD_KINDS = {"UQ": HoldKind.BUYER_RESPONSE_UQ, "RE": HoldKind.BUYER_RESPONSE_RE}
# A query that arrives after the buyer's final acceptance (AP, PD) is a late, stale report.
ANSWERED = frozenset({DeliveryState.ACCEPTED.value, DeliveryState.PAID.value})
# Closed claims have nothing to hold.
CLOSED = frozenset({ClaimStatus.PAID.value, ClaimStatus.CANCELLED.value, ClaimStatus.WRITTEN_OFF.value})


def hold_claim_for_buyer_response(session: Session, claim: Claim, dispatch: Dispatch, detail: dict, now: datetime) -> ClaimHold | None:
    """The hold a UQ / RE Invoice Response puts on the claim, or None (other codes, stale, closed, already held)."""
    if detail.get("response_kind") != "invoice_response":
        return None
    kind = HOLD_KINDS.get(detail.get("response_code", ""))
    if kind is None or claim.status in CLOSED:
        return None
    if kind is HoldKind.BUYER_RESPONSE_UQ and dispatch.state in ANSWERED:
        return None
    held = session.scalar(select(ClaimHold.id).where(ClaimHold.claim_id == claim.id, ClaimHold.kind == kind.value, ClaimHold.ended_at.is_(None)))
    if held is not None:
        return None
    principal = Principal(key_id=claim.creditor_id, creditor_id=claim.creditor_id, visible_creditor_ids=frozenset({claim.creditor_id}), actor=f"worker:{AUTHOR}")
    today = brussels_today(now)
    reason = f"Peppol Invoice Response {detail['response_code']}" + (f": {detail['reason']}" if detail.get("reason") else "")
    return dunning_service.add_hold(session, principal, claim.id, kind=kind, reason=reason[:1000], author=AUTHOR, starts_on=today, ends_on=None, today=today, now=now)
