"""Buyer responses that pause dunning (DESIGN.md section 3; channels-and-law.md 6.2).

A Peppol Invoice Response UQ (under query) or RE (rejected) puts the claim on hold for dunning
through the dunning service (`buyer_response_uq` / `buyer_response_re`, which make an open
claim `disputed`).

A PD ("payment initiated") marks the claim *reported paid by the buyer*: the buyer says the
money is on its way, which is not a payment. It books nothing; it records `claim.reported_paid`
(what the claim detail shows as `reported_paid`) and pauses dunning with a manual hold that ends
by itself `REPORTED_PAID_HOLD_DAYS` later. A payment booked in the meantime closes the claim the
normal way; if none arrives, the dunning run finds the hold lapsed and the claim back in dunning.

An AP (accepted) or a PD answers an open query: it ends the UQ hold, whatever order the responses
arrive in (a UQ that arrives after the AP or PD puts no hold at all: the ANSWERED check), so the
claim ends in the same state either way (tests/reliability/test_response_and_bounce_properties.py).

The worker that applies a callback (or a status poll) calls `hold_claim_for_buyer_response`
after recording the `dispatch.reported` event; every other code only stays on that event.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.domain.claim_status import ClaimStatus
from gateway.domain.transmission import DeliveryState
from gateway.dunning import service as dunning_service
from gateway.dunning.rules import HoldKind
from gateway.kit.time import brussels_today
from gateway.services import audit
from gateway.services.auth import Principal
from gateway.store.models import Claim, ClaimHold, Dispatch

AUTHOR = "peppol-ap"
HOLD_KINDS = {"UQ": HoldKind.BUYER_RESPONSE_UQ, "RE": HoldKind.BUYER_RESPONSE_RE}
# A query that arrives after the buyer's final acceptance (AP, PD) is a late, stale report.
ANSWERED = frozenset({DeliveryState.ACCEPTED.value, DeliveryState.PAID.value})
# The Invoice Response codes that answer a query (and end its hold).
ANSWERING_CODES = frozenset({"AP", "PD"})
# Closed claims have nothing to hold.
CLOSED = frozenset({ClaimStatus.PAID.value, ClaimStatus.CANCELLED.value, ClaimStatus.WRITTEN_OFF.value})

# PD: long enough for a SEPA transfer the buyer initiated to reach us and be booked (weekly booking
# at municipalities included), short enough that a PD sent in error does not stop dunning for good.
REPORTED_PAID_HOLD_DAYS = 14
REPORTED_PAID_REASON = "buyer reported paid (PD)"
REPORTED_PAID_AUTHOR = "peppol"
REPORTED_PAID_ACTION = "claim.reported_paid"


def hold_claim_for_buyer_response(session: Session, claim: Claim, dispatch: Dispatch, detail: dict, now: datetime) -> ClaimHold | None:
    """The hold a UQ / RE / PD Invoice Response puts on the claim, or None (other codes, stale, closed, already held)."""
    if detail.get("response_kind") != "invoice_response":
        return None
    if detail.get("response_code") in ANSWERING_CODES:
        _end_queries(session, claim, detail["response_code"], now)
    if detail.get("response_code") == "PD":
        return mark_reported_paid(session, claim, dispatch, detail, now)
    kind = HOLD_KINDS.get(detail.get("response_code", ""))
    if kind is None or claim.status in CLOSED:
        return None
    if kind is HoldKind.BUYER_RESPONSE_UQ and dispatch.state in ANSWERED:
        return None
    held = session.scalar(select(ClaimHold.id).where(ClaimHold.claim_id == claim.id, ClaimHold.kind == kind.value, ClaimHold.ended_at.is_(None)))
    if held is not None:
        return None
    today = brussels_today(now)
    reason = f"Peppol Invoice Response {detail['response_code']}" + (f": {detail['reason']}" if detail.get("reason") else "")
    return dunning_service.add_hold(session, _principal(claim, AUTHOR), claim.id, kind=kind, reason=reason[:1000], author=AUTHOR, starts_on=today, ends_on=None, today=today, now=now)


def _end_queries(session: Session, claim: Claim, code: str, now: datetime) -> None:
    """End the claim's running UQ holds: the buyer accepted (AP) or reports payment (PD), so the query is answered."""
    queries = session.scalars(select(ClaimHold.id).where(
        ClaimHold.claim_id == claim.id, ClaimHold.kind == HoldKind.BUYER_RESPONSE_UQ.value, ClaimHold.author == AUTHOR, ClaimHold.ended_at.is_(None),
    )).all()
    for hold_id in queries:
        dunning_service.end_hold(session, _principal(claim, AUTHOR), claim.id, hold_id, author=f"{AUTHOR} ({code})", ends_on=brussels_today(now), now=now)


def mark_reported_paid(session: Session, claim: Claim, dispatch: Dispatch, detail: dict, now: datetime) -> ClaimHold | None:
    """Record a PD on the claim and pause dunning until `today + REPORTED_PAID_HOLD_DAYS`.

    Nothing for a closed claim (a payment got there first). A PD repeated while its hold still
    runs (the same response by callback and by status poll, or the buyer sending it twice) adds
    nothing: one pause per report, not one per copy of it."""
    if claim.status in CLOSED:
        return None
    today = brussels_today(now)
    running = session.scalar(select(ClaimHold.id).where(
        ClaimHold.claim_id == claim.id, ClaimHold.author == REPORTED_PAID_AUTHOR, ClaimHold.reason == REPORTED_PAID_REASON,
        ClaimHold.ended_at.is_(None), ClaimHold.ends_on >= today,
    ))
    if running is not None:
        return None
    ends_on = today + timedelta(days=REPORTED_PAID_HOLD_DAYS)
    # A manual hold: the claim goes on_hold while it runs and the dunning run releases it once
    # ends_on has passed (gateway.dunning.service._release_lapsed_holds), no migration needed.
    hold = dunning_service.add_hold(
        session, _principal(claim, REPORTED_PAID_AUTHOR), claim.id, kind=HoldKind.MANUAL, reason=REPORTED_PAID_REASON,
        author=REPORTED_PAID_AUTHOR, starts_on=today, ends_on=ends_on, today=today, now=now,
    )
    audit.record(
        session, actor=f"worker:{REPORTED_PAID_AUTHOR}", creditor_id=claim.creditor_id, entity_type="claim", entity_id=claim.id,
        action=REPORTED_PAID_ACTION, at=now, data={
            "reported_on": today.isoformat(), "dispatch_id": str(dispatch.id), "response_code": "PD",
            "response_id": detail.get("response_id"), "response_date": detail.get("response_date"),
            "hold_id": str(hold.id), "hold_ends_on": ends_on.isoformat(), "reason": REPORTED_PAID_REASON,
        },
    )
    return hold


def _principal(claim: Claim, author: str) -> Principal:
    return Principal(key_id=claim.creditor_id, creditor_id=claim.creditor_id, visible_creditor_ids=frozenset({claim.creditor_id}), actor=f"worker:{author}")
