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

from gateway.api.deps import AUTH_RESPONSES, DatabaseDep, PrincipalDep
from gateway.api.payloads import IsoDate
from gateway.dunning import service
from gateway.dunning.rules import Decision, HoldKind
from gateway.errors import NotFound
from gateway.kit.time import utc_now
from gateway.store.models import ClaimHold, DunningStep, EscalationEntry
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
        "rule_set_version": decision.rule_set_version, "rate_version": decision.rate_version,
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


@router.post("/claims/{claim_id}/payment-plan", status_code=201, summary="Grant a payment plan over one debtor's claims, or refuse it naming the rule", responses=ERRORS)
def grant_plan(claim_id: uuid.UUID, body: PlanIn, database: DatabaseDep, principal: PrincipalDep, day: TodayDep) -> JSONResponse:
    with database.session_scope() as session:
        granted = service.grant_plan(
            session, principal, [claim_id, *body.claim_ids], months=body.months, first_due_date=body.first_due_date,
            exception_by=body.exception.by if body.exception else None, exception_reason=body.exception.reason if body.exception else None,
            confirmed_on=body.confirmed_on, today=day, now=utc_now(),
        )
        plan = granted.plan
        payload = {
            "id": str(plan.id), "status": plan.status, "debtor_id": str(plan.debtor_id), "total": _money(plan.total), "months": plan.months,
            "granted_on": plan.granted_on.isoformat(), "granted_by": plan.granted_by, "waived_rules": plan.waived_rules,
            "exception": {"by": plan.exception_by, "reason": plan.exception_reason} if plan.exception_by else None,
            "confirmed_on": _iso(plan.confirmed_on),
            "claims": [{"id": str(c.id), "number": c.number, "status": c.status, "amount_open": _money(c.amount_open)} for c in granted.claims],
            "instalments": [
                {"number": i.number, "due_date": i.due_date.isoformat(), "amount": _money(i.amount), "structured_communication": service.format_ogm(i.structured_communication)}
                for i in granted.instalments
            ],
        }
    return JSONResponse(payload, status_code=201)


@router.get("/claims/{claim_id}/dunning", summary="Dunning decisions so far and the next one, with its reason", responses=ERRORS)
def claim_dunning(
    claim_id: uuid.UUID, database: DatabaseDep, principal: PrincipalDep, day: TodayDep,
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
            outcome = service.preview(session, claim, today=as_of or day, now=utc_now())
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
