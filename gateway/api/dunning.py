"""Dunning API: holds, payment plans, a claim's dunning decisions, escalation lists.

Routes validate, call `gateway.dunning.service` inside one session scope, and render. A key sees
only its creditor entities' claims and list entries (404 otherwise). `today` is the Brussels date
(a dependency, so tests pin it); dates in bodies are ISO dates, both ends of a hold inclusive.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from gateway.api.deps import AUTH_RESPONSES, DatabaseDep, PrincipalDep, SettingsDep
from gateway.api.payloads import IsoDate
from gateway.dunning import service
from gateway.dunning.rates import configured_rates
from gateway.dunning.rules import Decision, HoldKind
from gateway.errors import NotFound
from gateway.kit.time import utc_now
from gateway.store.models import ClaimHold, Document, DunningStep, EscalationEntry, PaymentPlan
from gateway.store.repositories.dunning import DunningRepository

router = APIRouter(prefix="/v1", tags=["dunning"])
ERRORS = {400: {"description": "malformed body"}, **AUTH_RESPONSES, 404: {"description": "not found"}, 409: {"description": "conflict"}, 413: {"description": "body too large"}, 422: {"description": "a field breaks a rule"}}
MAX_PLAN_MONTHS_ACCEPTED = 60  # the rules allow 12; more is accepted in the body so the refusal names PLAN-MAX-12-MONTHS


def today() -> date:
    """Today in Brussels; overridden in tests (`app.dependency_overrides[today]`)."""
    return service.local_today(utc_now())


TodayDep = Annotated[date, Depends(today)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class HoldIn(Strict):
    kind: Literal["dispute", "buyer_response_uq", "buyer_response_re", "medical_declaration", "manual"]
    reason: Annotated[str, Field(min_length=1, max_length=1000)]
    author: Annotated[str, Field(min_length=1, max_length=200)]
    starts_at: IsoDate | None = Field(default=None, description="first day on hold (default: today)")
    ends_at: IsoDate | None = Field(default=None, description="last day on hold, inclusive (default: until ended)")


class HoldEndIn(Strict):
    author: Annotated[str, Field(min_length=1, max_length=200)]
    ends_at: IsoDate | None = Field(default=None, description="last day on hold, inclusive (default: today)")


class ExceptionIn(Strict):
    by: Annotated[str, Field(min_length=1, max_length=200, description="the financial director")]
    reason: Annotated[str, Field(min_length=1, max_length=1000)]


class PlanIn(Strict):
    claim_ids: Annotated[list[uuid.UUID], Field(default_factory=list, max_length=100, description="further claims of the same debtor")]
    months: Annotated[int, Field(ge=1, le=MAX_PLAN_MONTHS_ACCEPTED)]
    first_due_date: IsoDate
    exception: ExceptionIn | None = None
    confirmed_on: IsoDate | None = Field(default=None, description="the day the debtor confirmed the plan")


class ConfirmationIn(Strict):
    confirmed_on: IsoDate = Field(description="the day the debtor confirmed the plan")
    source: Annotated[str, Field(min_length=1, max_length=200, description="how it came in, e.g. 'signed plan by post, scan DMS-2026-1234'")]
    author: Annotated[str, Field(min_length=1, max_length=200, description="who recorded it")]


class IncomingPaymentIn(Strict):
    reference: Annotated[str, Field(min_length=12, max_length=40, description="the structured communication: +++ddd/dddd/ddddd+++ or 12 digits")]
    amount: Annotated[Decimal, Field(gt=0, max_digits=14, decimal_places=2)]
    paid_on: IsoDate
    source: Literal["bank_statement", "api", "bancontact", "cash"] = "bank_statement"
    external_id: Annotated[str | None, Field(max_length=100, description="unique per source (e.g. the statement line id); a repeat books nothing")] = None


class ApproveIn(Strict):
    approved_by: Annotated[str, Field(min_length=1, max_length=200, description="who approved, e.g. the college decision reference")]


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _iso(value) -> str | None:
    return None if value is None else value.isoformat()


def hold_view(hold: ClaimHold) -> dict:
    return {"id": str(hold.id), "kind": hold.kind, "reason": hold.reason, "author": hold.author, "starts_at": _iso(hold.starts_on),
            "ends_at": _iso(hold.ends_on), "ended_by": hold.ended_by, "ended_at": _iso(hold.ended_at)}


def step_view(step: DunningStep) -> dict:
    return {
        "id": str(step.id), "step": step.step, "step_key": step.step_key, "action": step.action, "status": step.status, "policy": step.policy,
        "decided_on": _iso(step.decided_on), "dedup_key": step.dedup_key, "fee": _money(step.fee), "interest": _money(step.interest),
        "lump_sum": _money(step.lump_sum), "amount_open": _money(step.amount_open), "new_due_date": _iso(step.new_due_date),
        "channel_requirement": step.channel_requirement, "channel": step.channel, "sent_at": _iso(step.sent_at), "delivered_at": _iso(step.delivered_at),
        "registered": step.registered, "proof_reference": step.proof_reference, "document_id": _iso_id(step.document_id),
        "dispatch_id": _iso_id(step.dispatch_id), "rule_set_version": step.rule_set_version, "rate_version": step.rate_version, "amounts": step.amounts,
    }


def _iso_id(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


def decision_view(decision: Decision, recorded_step_id: uuid.UUID | None) -> dict:
    return {
        "action": decision.action.value, "reason": decision.reason.value if decision.reason else None, "detail": decision.detail,
        "today": decision.today.isoformat(), "wait_until": _iso(decision.wait_until), "dedup_key": decision.dedup_key,
        "recorded_step_id": _iso_id(recorded_step_id), "step": decision.step, "step_key": decision.step_key,
        "channel_requirement": decision.channel_requirement.value if decision.channel_requirement else None,
        "fee": _money(decision.fee), "new_due_date": _iso(decision.new_due_date), "amount_open": _money(decision.amount_open),
        "escalation": decision.escalation.value if decision.escalation else None, "approving_body": decision.approving_body,
        "rule_set_version": decision.rule_set_version, "rate_version": decision.rate_version, "missing_rate": decision.missing_rate,
        "amounts": [{"rule": a.rule, "amount": str(a.amount), "explanation": a.explanation} for a in decision.amounts],
    }


def escalation_view(entry: EscalationEntry) -> dict:
    return {
        "id": str(entry.id), "claim_id": str(entry.claim_id), "kind": entry.kind, "approving_body": entry.approving_body, "status": entry.status,
        "amount_open": _money(entry.amount_open), "evidence": entry.evidence, "approved_by": entry.approved_by, "approved_at": _iso(entry.approved_at),
        "listed_at": _iso(entry.created_at),
    }


@router.post("/claims/{claim_id}/holds", status_code=201, summary="Put a claim on hold (stops the dunning clock)", responses=ERRORS)
def add_hold(claim_id: uuid.UUID, body: HoldIn, database: DatabaseDep, principal: PrincipalDep, day: TodayDep) -> JSONResponse:
    with database.session_scope() as session:
        hold = service.add_hold(
            session, principal, claim_id, kind=HoldKind(body.kind), reason=body.reason, author=body.author,
            starts_on=body.starts_at or day, ends_on=body.ends_at, today=day, now=utc_now(),
        )
        claim = DunningRepository(session).claim(claim_id)
        payload = {"hold": hold_view(hold), "claim_status": claim.status}
    return JSONResponse(payload, status_code=201)


@router.post("/claims/{claim_id}/holds/{hold_id}/end", summary="End a hold; the claim returns to dunning", responses=ERRORS)
def end_hold(claim_id: uuid.UUID, hold_id: uuid.UUID, body: HoldEndIn, database: DatabaseDep, principal: PrincipalDep, day: TodayDep) -> dict:
    with database.session_scope() as session:
        hold = service.end_hold(session, principal, claim_id, hold_id, author=body.author, ends_on=body.ends_at or day, now=utc_now())
        claim = DunningRepository(session).claim(claim_id)
        return {"hold": hold_view(hold), "claim_status": claim.status}


def plan_view(session, plan: PaymentPlan) -> dict:
    """A plan with its claims, its instalments (OGM, what was paid under it) and where its confirmation stands."""
    repo = DunningRepository(session)
    instalments = repo.instalments(plan.id)
    paid = repo.instalment_payments([i.id for i in instalments])
    claims = [repo.claim(claim_id) for claim_id in repo.plan_claim_ids(plan.id)]
    if plan.confirmed_on is not None:
        confirmation = "confirmed"
    elif plan.status == "lapsed":
        confirmation = "lapsed"
    else:
        confirmation = "unconfirmed"
    return {
        "id": str(plan.id), "status": plan.status, "debtor_id": str(plan.debtor_id), "total": _money(plan.total), "months": plan.months,
        "granted_on": plan.granted_on.isoformat(), "granted_by": plan.granted_by, "waived_rules": plan.waived_rules,
        "exception": {"by": plan.exception_by, "reason": plan.exception_reason} if plan.exception_by else None,
        "confirmation": {"status": confirmation, "confirmed_on": _iso(plan.confirmed_on), "confirm_by": _iso(plan.confirm_by),
                         "source": plan.confirmation_source, "recorded_by": plan.confirmed_by},
        "confirmed_on": _iso(plan.confirmed_on), "ended_on": _iso(plan.ended_on),
        "claims": [{"id": str(c.id), "number": c.number, "status": c.status, "amount_open": _money(c.amount_open)} for c in sorted(claims, key=lambda c: (c.due_date, c.number))],
        "instalments": [
            {"number": i.number, "due_date": i.due_date.isoformat(), "amount": _money(i.amount), "paid": _money(paid.get(i.id, Decimal("0.00"))),
             "structured_communication": service.format_ogm(i.structured_communication)}
            for i in instalments
        ],
    }


@router.post("/claims/{claim_id}/payment-plan", status_code=201, summary="Grant a payment plan over one debtor's claims, or refuse it naming the rule", responses=ERRORS)
def grant_plan(claim_id: uuid.UUID, body: PlanIn, database: DatabaseDep, principal: PrincipalDep, day: TodayDep, settings: SettingsDep) -> JSONResponse:
    with database.session_scope() as session:
        granted = service.grant_plan(
            session, principal, [claim_id, *body.claim_ids], months=body.months, first_due_date=body.first_due_date,
            exception_by=body.exception.by if body.exception else None, exception_reason=body.exception.reason if body.exception else None,
            confirmed_on=body.confirmed_on, confirmation_days=settings.payment_plan_confirmation_days, today=day, now=utc_now(),
        )
        payload = plan_view(session, granted.plan)
    return JSONResponse(payload, status_code=201)


@router.get("/payment-plans/{plan_id}", summary="A payment plan: claims, instalments with what was paid under each OGM, confirmation", responses=ERRORS)
def get_plan(plan_id: uuid.UUID, database: DatabaseDep, principal: PrincipalDep) -> dict:
    with database.session_scope() as session:
        plan = DunningRepository(session).plan(plan_id, principal.visible_creditor_ids)
        if plan is None:
            raise NotFound(f"no payment plan {plan_id}")
        return plan_view(session, plan)


@router.post("/payment-plans/{plan_id}/confirmation", summary="Record the debtor's confirmation of a payment plan (date and source)", responses=ERRORS)
def confirm_plan(plan_id: uuid.UUID, body: ConfirmationIn, database: DatabaseDep, principal: PrincipalDep, day: TodayDep) -> dict:
    with database.session_scope() as session:
        plan = service.confirm_plan(session, principal, plan_id, confirmed_on=body.confirmed_on, source=body.source, author=body.author, today=day, now=utc_now())
        return plan_view(session, plan)


@router.post("/payments", status_code=201, tags=["payments"], summary="Book an incoming payment by its structured reference (claim, instalment or fee OGM)", responses=ERRORS)
def book_payment(body: IncomingPaymentIn, database: DatabaseDep, principal: PrincipalDep) -> JSONResponse:
    from gateway.services import payments

    with database.session_scope() as session:
        booked = payments.book_incoming(
            session, principal, payments.IncomingIn(body.reference, body.amount, body.paid_on, body.source, body.external_id), now=utc_now(),
        )
        incoming, match = booked.incoming, booked.match
        document = session.get(Document, match.document_id) if match.document_id else None
        payload = {
            "id": str(incoming.id), "reference": service.format_ogm(incoming.reference), "amount": _money(incoming.amount), "paid_on": incoming.paid_on.isoformat(),
            "source": incoming.source, "external_id": incoming.external_id, "matched": match.kind,
            "plan_id": _iso_id(match.plan_id), "instalment": match.instalment_number,
            "fee_document": {"id": str(document.id), "number": document.number, "kind": document.kind} if document else None,
            "booked": [{"claim_id": str(claim.id), "number": claim.number, "amount": _money(amount), "claim_status": claim.status, "amount_open": _money(claim.amount_open)}
                       for claim, amount in booked.parts],
        }
    return JSONResponse(payload, status_code=201 if booked.created else 200)


@router.get("/claims/{claim_id}/dunning", summary="Dunning decisions so far and the next one, with its reason", responses=ERRORS)
def claim_dunning(
    claim_id: uuid.UUID, database: DatabaseDep, principal: PrincipalDep, day: TodayDep, settings: SettingsDep,
    as_of: Annotated[IsoDate | None, Query(description="evaluate the next decision as of this day (read-only)")] = None,
) -> dict:
    with database.session_scope() as session:
        repo = DunningRepository(session)
        claim = repo.visible_claim(claim_id, principal.visible_creditor_ids)
        if claim is None:
            raise NotFound(f"no claim {claim_id}")
        holds = [hold_view(h) for h in repo.holds(claim.id)]
        escalations = [escalation_view(e) for e in repo.escalations_of_claim(claim.id)]
        plan = repo.running_plan_for(claim.id)
        steps = [step_view(s) for s in repo.steps(claim.id)]
        if claim.status in {s.value for s in service.DUNNABLE} or claim.status == "escalated":
            rates = configured_rates(settings.dunning_rates_file)
            outcome = service.preview(session, claim, today=as_of or day, now=utc_now(), rates=rates)
            policy, next_decision = outcome.policy, decision_view(outcome.decision, outcome.step_id)
        else:
            policy, next_decision = None, None
        session.rollback()  # a preview never writes
        return {
            "claim_id": str(claim.id), "claim_status": claim.status, "policy": policy, "steps": steps, "next": next_decision,
            "holds": holds, "escalations": escalations, "payment_plan_id": _iso_id(plan.id) if plan else None,
        }


@router.get("/escalations", summary="Escalation lists (dwangbevel per approving body, dwangschrift, bailiff, disconnection)", responses=ERRORS)
def list_escalations(
    database: DatabaseDep, principal: PrincipalDep,
    kind: Literal["dwangbevel", "dwangschrift", "bailiff", "disconnection"] | None = None,
    status: Literal["pending", "approved"] | None = None,
) -> dict:
    with database.session_scope() as session:
        entries = DunningRepository(session).escalations(principal.visible_creditor_ids, kind=kind, status=status)
        return {"items": [escalation_view(e) for e in entries]}


@router.post("/escalations/{entry_id}/approve", summary="Record the approval (visum) of an escalation entry", responses=ERRORS)
def approve_escalation(entry_id: uuid.UUID, body: ApproveIn, database: DatabaseDep, principal: PrincipalDep, day: TodayDep) -> dict:
    with database.session_scope() as session:
        entry = service.approve_escalation(session, principal, entry_id, approved_by=body.approved_by, today=day, now=utc_now())
        return escalation_view(entry)


@router.get(
    "/escalations/export", summary="Export an escalation list as CSV or PDF for the approving body or bailiff (claim, debtor, amounts, OGM, registered reminder evidence, approval; the PDF adds totals)",
    responses={**ERRORS, 200: {"content": {"text/csv": {}, "application/pdf": {}}, "description": "the list as CSV or PDF"}}, response_class=Response,
)
def export_escalations(
    database: DatabaseDep, principal: PrincipalDep,
    kind: Literal["dwangbevel", "dwangschrift", "bailiff", "disconnection"],
    export_format: Annotated[Literal["csv", "pdf"], Query(alias="format", description="csv, or pdf for the bailiff (the same values, each approval line and the totals)")] = "csv",
    approving_body: str | None = None,
    status: Literal["pending", "approved"] | None = None,
) -> Response:
    from gateway.dunning import export

    with database.session_scope() as session:
        items = export.rows(session, principal.visible_creditor_ids, kind=kind, approving_body=approving_body, status=status)
    if export_format == "pdf":
        return Response(export.to_pdf(items, kind=kind, approving_body=approving_body, status=status, generated_at=utc_now()), media_type="application/pdf",
                        headers={"Content-Disposition": f'attachment; filename="escalations-{kind}.pdf"'})
    return Response(export.to_csv(items), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="escalations-{kind}.csv"'})
