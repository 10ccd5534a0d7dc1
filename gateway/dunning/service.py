"""The dunning service: stored claims in, `rules.decide` in the middle, recorded decisions out.

For one claim on one day (`today`, Brussels calendar, always passed in):

1. facts: the claim, its payments, its holds (`claim_hold`), its running payment plan, and its
   history built from `dunning_step` rows and the state of each step's dispatch
   (`observe`: sent -> presumed delivery; `REACHED` states -> delivered; `failed_permanent` ->
   undelivered, which starts no term and never leads to escalation). A step whose dispatch does not
   exist yet or has not left is not history: the engine proposes the same step with the same
   dedup key, and recording it again is a no-op.
2. `decide()` with the policy assigned to (creditor entity, claim type, fiscal).
3. send_step / escalate are inserted into `dunning_step` under the decision's dedup key
   (insert-on-conflict-do-nothing on a unique column: a second run the same day, or a concurrent
   one, changes nothing). Waits are answers, not rows.
   - send_step: the step row is `decided` and a `dunning.send_step` job is queued. That handler
     re-checks the claim and hands the step to the channel work; **rendering the reminder document
     and creating its dispatch is not done here** (no reminder renderer exists yet). The channel
     work calls `attach_dispatch(step, document, dispatch)`; from then on the dispatch state
     drives the step (`decided -> sent -> delivered | undelivered`).
   - escalate: the claim moves to `escalated` through `domain.claim_status.transition`, and an
     `escalation_entry` (pending) is put on the list of its kind and approving body, with the
     evidence (registered reminder: dispatch, proof reference, document hash; amounts; holds).

Holds, payment plans and approvals are recorded with their author in the audit log.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from gateway.domain import claim_status
from gateway.domain.claim import Channel, ClaimType, DebtorKind
from gateway.domain.claim_status import ClaimStatus
from gateway.domain.identifiers import format_ogm, new_random_ogm
from gateway.domain.transmission import REACHED, DeliveryState
from gateway.dunning import lifecycle
from gateway.dunning.legal import ComputedAmount
from gateway.dunning.lifecycle import EscalationStatus, PlanStatus, StepStatus
from gateway.dunning.payment_plan import DirectorException, Instalment, PlanState, plan_status, propose_plan
from gateway.dunning.payment_plan import PaymentPlan as PlanTerms
from gateway.dunning.policy import Policy, policy_for, shipped_policies
from gateway.dunning.rules import (
    Action,
    ClaimFacts,
    Decision,
    DeliveryStatus,
    Hold,
    HoldKind,
    Payment,
    StepRecord,
    WaitReason,
    decide,
)
from gateway.dunning.rates import RateTable, configured_rates
from gateway.errors import Conflict, FieldProblem, GatewayError, InvalidInput, NotFound
from gateway.kit.ids import new_id
from gateway.kit.time import BRUSSELS
from gateway.services import audit
from gateway.services.auth import Principal
from gateway.store.models import Claim, ClaimHold, DunningStep, EscalationEntry, PaymentPlanClaim, PaymentPlanInstalment
from gateway.store.models import PaymentPlan as PlanRow
from gateway.store.repositories.dunning import DunningRepository
from gateway.workers import queue

SEND_STEP = "dunning.send_step"
EVALUATE = "dunning.evaluate"
SCAN = "dunning.scan"
RUN_ACTOR = "dunning.run"
RATE_UNKNOWN_ACTION = "dunning.rate_unknown"
OGM_DRAWS = 20  # random OGM draws per instalment before giving up (10^10 bases: collisions are rare)

# Creditor entity kinds (creditor_entity.kind) -> the shipped policies' `creditor_entity`. An explicit
# `dunning_policy_assignment` row wins. Schools are municipal services; a utility is the water company.
KIND_TO_POLICY_ENTITY = {
    "municipality": "municipality",
    "school": "municipality",
    "ocmw": "ocmw",
    "agb": "agb",
    "hospital": "hospital",
    "utility": "water_company",
    "water_company": "water_company",
}
# Claims the engine looks at; escalated ones are on a list, closed ones are done.
DUNNABLE = (ClaimStatus.OPEN, ClaimStatus.PARTIALLY_PAID, ClaimStatus.DISPUTED, ClaimStatus.ON_HOLD, ClaimStatus.IN_PAYMENT_PLAN)
# Holds that change the claim's status while they run (a medical declaration only suspends disconnection).
HOLD_STATUS = {
    HoldKind.DISPUTE: ClaimStatus.DISPUTED,
    HoldKind.BUYER_RESPONSE_UQ: ClaimStatus.DISPUTED,
    HoldKind.BUYER_RESPONSE_RE: ClaimStatus.DISPUTED,
    HoldKind.DEBT_MEDIATION: ClaimStatus.ON_HOLD,
    HoldKind.MANUAL: ClaimStatus.ON_HOLD,
}
DISPUTE_KINDS = frozenset({HoldKind.DISPUTE, HoldKind.BUYER_RESPONSE_UQ, HoldKind.BUYER_RESPONSE_RE})
NOT_YET_SENT = frozenset({DeliveryState.QUEUED, DeliveryState.IN_FLIGHT, DeliveryState.FAILED_TEMPORARY})


# --- policy ----------------------------------------------------------------------------------------


def policy_for_claim(repo: DunningRepository, claim: Claim) -> Policy:
    """The assigned policy, else the shipped one for the creditor's kind; `InvalidInput` (POLICY-MATCH) if none."""
    assignment = repo.assignment(claim.creditor_id, claim.claim_type, claim.fiscal)
    policies = shipped_policies()
    if assignment is not None:
        policy = policies.get(assignment.policy_id)
        if policy is None:
            raise InvalidInput.single("policy", "POLICY-MATCH", f"assigned policy {assignment.policy_id!r} is not shipped")
        return policy
    creditor = repo.creditor(claim.creditor_id)
    entity = KIND_TO_POLICY_ENTITY.get(creditor.kind, creditor.kind)
    return policy_for(entity, claim.claim_type, fiscal=claim.fiscal)


class RunPolicies:
    """`policy_for_claim` looked up once per (creditor, claim type, fiscal) within one run.

    A run decides every claim under the assignments it found first, as it does under one rate
    table; an assignment changed during a run applies from the next run."""

    def __init__(self) -> None:
        self._found: dict[tuple[uuid.UUID, str, bool], Policy] = {}

    def for_claim(self, repo: DunningRepository, claim: Claim) -> Policy:
        key = (claim.creditor_id, claim.claim_type, claim.fiscal)
        policy = self._found.get(key)
        if policy is None:
            policy = self._found[key] = policy_for_claim(repo, claim)
        return policy


def assign_policy(session: Session, creditor_code: str, claim_type: str, *, fiscal: bool, policy_id: str, author: str, now: datetime):
    """Assign a shipped policy to (creditor, claim type, fiscal); the policy must cover that claim type."""
    from gateway.store.models import CreditorEntity, DunningPolicyAssignment
    from gateway.store.repositories.claims import ClaimRepository

    creditor: CreditorEntity | None = ClaimRepository(session).creditor_by_code(creditor_code)
    if creditor is None:
        raise NotFound(f"no creditor entity {creditor_code!r}")
    policy = shipped_policies().get(policy_id)
    if policy is None:
        raise InvalidInput.single("policy", "POLICY-MATCH", f"no shipped policy {policy_id!r}; shipped: {', '.join(sorted(shipped_policies()))}")
    if ClaimType(claim_type) not in policy.claim_types or policy.fiscal != fiscal:
        raise InvalidInput.single("policy", "POLICY-MATCH", f"{policy.reference} does not cover {claim_type}/fiscal={fiscal}")
    repo = DunningRepository(session)
    row = repo.assignment(creditor.id, claim_type, fiscal)
    previous = row.policy_id if row else None
    if row is None:
        row = DunningPolicyAssignment(creditor_id=creditor.id, claim_type=claim_type, fiscal=fiscal, policy_id=policy_id, assigned_by=author, created_at=now)
        session.add(row)
    else:
        row.policy_id, row.assigned_by = policy_id, author
    session.flush()
    audit.record(session, actor=author, creditor_id=creditor.id, entity_type="creditor", entity_id=creditor.id, action="dunning.policy_assigned",
                 data={"claim_type": claim_type, "fiscal": fiscal, "policy": policy.reference, "previous": previous}, at=now)
    return row


# --- history from steps and dispatches -------------------------------------------------------------


@dataclass(frozen=True)
class Observed:
    """What a step's dispatch says about it (see `observe`)."""

    status: str
    channel: str | None = None
    sent_at: datetime | None = None
    delivered_at: datetime | None = None
    registered: bool = False
    proof_reference: str | None = None
    dispatch_id: uuid.UUID | None = None


def effective_dispatch(dispatches: list):
    """Of a reminder's dispatches (first channel and fallbacks), the one that counts: the first that
    reached the debtor, else the first sent, else one still on its way, else the last that failed."""
    for states in (REACHED, frozenset({DeliveryState.SENT}), NOT_YET_SENT):
        match = [d for d in dispatches if DeliveryState(d.state) in states]
        if match:
            return match[0]
    return dispatches[-1] if dispatches else None


def observe(step: DunningStep, dispatches: list, attempts: dict) -> Observed:
    """The step's status and delivery facts given its reminder's dispatches; statuses only move forward.

    The dispatch row keeps no timestamp per state, so the first observation is kept on the step:
    sent_at is the end of the first successful attempt (else the dispatch's last change), and
    delivered_at the dispatch's last change when a reached state is first seen (a later read or
    payment report can only make it later, which errs on the debtor's side). A fallback dispatch of
    the same document that reaches the debtor replaces an undelivered one: its sending starts the term.
    """
    current = Observed(step.status, step.channel, step.sent_at, step.delivered_at, step.registered, step.proof_reference, step.dispatch_id)
    dispatch = effective_dispatch(dispatches)
    if step.action != Action.SEND_STEP.value or dispatch is None:
        return current
    state = DeliveryState(dispatch.state)
    if state in NOT_YET_SENT:
        return current
    same = dispatch.id == step.dispatch_id and step.status != StepStatus.UNDELIVERED.value
    tries = attempts.get(dispatch.id, [])
    sent_at = (step.sent_at if same else None) or next((a.finished_at for a in tries if a.outcome in ("sent", "delivered") and a.finished_at), None) or dispatch.updated_at or dispatch.created_at
    registered = dispatch.channel == Channel.REGISTERED_PAPER.value or (same and step.registered)
    proof = dispatch.provider_message_id if registered else None
    if state is DeliveryState.FAILED_PERMANENT:
        target, delivered_at = StepStatus.UNDELIVERED, None
    elif state in REACHED:
        target, delivered_at = StepStatus.DELIVERED, (step.delivered_at if same else None) or dispatch.updated_at
    else:
        target, delivered_at = StepStatus.SENT, None
    if step.status != target and not lifecycle.can_move("dunning_step", step.status, target):
        return current
    if step.status == target and same:
        return current
    return Observed(target.value, dispatch.channel, sent_at, delivered_at, registered, proof, dispatch.id)


def _channel(value: str | None) -> Channel | None:
    try:
        return Channel(value) if value else None
    except ValueError:
        return Channel.PAPER  # an unknown channel gets the paper presumption, the later one


_RECORD_STATUS = {StepStatus.SENT.value: DeliveryStatus.SENT, StepStatus.DELIVERED.value: DeliveryStatus.DELIVERED, StepStatus.UNDELIVERED.value: DeliveryStatus.UNDELIVERED}


def step_record(step: DunningStep, seen: Observed) -> StepRecord | None:
    if step.action != Action.SEND_STEP.value or seen.status not in _RECORD_STATUS or seen.sent_at is None:
        return None
    return StepRecord(
        step=step.step, sent_at=seen.sent_at, channel=_channel(seen.channel), status=_RECORD_STATUS[seen.status],
        delivered_at=seen.delivered_at if seen.status == StepStatus.DELIVERED.value else None,
        registered=seen.registered, proof_reference=seen.proof_reference, fee=step.fee, stated_due_date=step.stated_due_date,
    )


def _hold(row: ClaimHold) -> Hold:
    return Hold(kind=HoldKind(row.kind), reason=row.reason, author=row.author, start=row.starts_on, end=row.ends_on)


# --- evaluation ------------------------------------------------------------------------------------


@dataclass
class Evaluation:
    claim_id: uuid.UUID
    decision: Decision | None
    policy: str | None = None
    recorded: bool = False  # a new dunning_step row was inserted
    step_id: uuid.UUID | None = None
    steps: list[DunningStep] = field(default_factory=list)
    error: GatewayError | None = None


def _amount_json(amount: ComputedAmount) -> dict:
    row = {"rule": amount.rule, "amount": str(amount.amount), "basis": str(amount.basis), "rule_set_version": amount.rule_set_version,
           "rate_version": amount.rate_version, "explanation": amount.explanation}
    if amount.segments:  # interest: the days it covers, both included (the reminder's interest line states them)
        row |= {"first_day": amount.segments[0].first_day.isoformat(), "last_day": amount.segments[-1].last_day.isoformat()}
    return row


def _facts(session: Session, repo: DunningRepository, claim: Claim, today: date, now: datetime, *, apply: bool):
    """Everything `decide` needs; with `apply`, observed delivery facts and plan defaults are stored."""
    debtor_kind = repo.debtor_kind(claim.debtor_id)
    steps = list(repo.steps(claim.id))
    by_document = repo.dispatches_by_document([s.document_id for s in steps if s.document_id])
    attempts = repo.attempts([d.id for rows in by_document.values() for d in rows])
    history = []
    for step in steps:
        seen = observe(step, by_document.get(step.document_id, []) if step.document_id else [], attempts)
        if apply and (seen.status != step.status or seen.dispatch_id != step.dispatch_id):
            if seen.status != step.status:
                step.status = lifecycle.transition("dunning_step", step.status, seen.status)
            step.channel, step.sent_at, step.delivered_at, step.dispatch_id = seen.channel, seen.sent_at, seen.delivered_at, seen.dispatch_id
            step.registered, step.proof_reference, step.updated_at = seen.registered, seen.proof_reference, now
        if (record := step_record(step, seen)) is not None:
            history.append(record)
    payments = [Payment(p.paid_on, p.amount) for p in repo.payments([claim.id])]
    holds = [_hold(h) for h in repo.holds(claim.id)]
    plan_state = None
    plan = repo.running_plan_for(claim.id)
    if plan is not None:
        plan_state = _plan_state(session, repo, plan, today, now, apply=apply)
    escalated_on = None
    if claim.status == ClaimStatus.ESCALATED.value:
        escalated_on = next((s.decided_on for s in reversed(steps) if s.action == Action.ESCALATE.value), today)
    facts = ClaimFacts(
        claim_id=str(claim.id), principal=claim.total_amount, due_date=claim.due_date, claim_type=ClaimType(claim.claim_type),
        fiscal=claim.fiscal, debtor_kind=DebtorKind(debtor_kind), escalated_on=escalated_on,
    )
    return facts, steps, history, payments, holds, plan_state


def rates_in_force(rates: RateTable | None = None) -> RateTable:
    """`rates`, else the shipped table merged with GATEWAY_DUNNING_RATES_FILE (`RatesRefused` if that file is bad)."""
    if rates is not None:
        return rates
    from gateway.config import get_settings

    return configured_rates(get_settings().dunning_rates_file)


def preview(session: Session, claim: Claim, *, today: date, now: datetime, rates: RateTable | None = None) -> Evaluation:
    """The decision for `today` without recording anything."""
    repo = DunningRepository(session)
    policy = policy_for_claim(repo, claim)
    facts, steps, history, payments, holds, plan_state = _facts(session, repo, claim, today, now, apply=False)
    decision = decide(facts, policy, today=today, history=history, payments=payments, holds=holds, plan_state=plan_state, rates=rates_in_force(rates))
    existing = repo.step_by_dedup_key(decision.dedup_key)
    return Evaluation(claim.id, decision, policy.reference, recorded=False, step_id=existing.id if existing else None, steps=steps)


def evaluate(session: Session, claim_id: uuid.UUID, *, today: date, now: datetime, actor: str = RUN_ACTOR, rates: RateTable | None = None,
             policies: RunPolicies | None = None) -> Evaluation:
    """Decide for one claim on `today` and record the decision (idempotent on its dedup key).

    Waits are not recorded as steps; a `rate_unknown` wait is recorded in the audit trail once per
    claim and day (`dunning.rate_unknown`, naming the missing period), so an operator sees which
    claims wait for a rate to be published."""
    repo = DunningRepository(session)
    claim = repo.claim(claim_id, for_update=True)
    if claim is None:
        raise NotFound(f"no claim {claim_id}")
    if claim.status not in {s.value for s in DUNNABLE} and claim.status != ClaimStatus.ESCALATED.value:
        return Evaluation(claim.id, None)
    policy = (policies or RunPolicies()).for_claim(repo, claim)
    _release_lapsed_holds(session, repo, claim, today, now)
    facts, steps, history, payments, holds, plan_state = _facts(session, repo, claim, today, now, apply=True)
    decision = decide(facts, policy, today=today, history=history, payments=payments, holds=holds, plan_state=plan_state, rates=rates_in_force(rates))
    if decision.action is Action.WAIT:
        if decision.reason is WaitReason.RATE_UNKNOWN:
            _record_rate_unknown(session, repo, claim, decision, today=today, now=now, actor=actor)
        return Evaluation(claim.id, decision, policy.reference, steps=steps)
    escalating = decision.action is Action.ESCALATE
    values = {
        "id": new_id(), "created_at": now, "claim_id": claim.id, "step": decision.step,
        "step_key": decision.step_key, "policy": decision.policy, "action": decision.action.value, "decided_on": today,
        "dedup_key": decision.dedup_key, "status": (StepStatus.LISTED if escalating else StepStatus.DECIDED).value,
        "fee": decision.fee, "interest": decision.interest.amount if decision.interest else None,
        "lump_sum": decision.lump_sum.amount if decision.lump_sum else None, "amount_open": decision.amount_open,
        "new_due_date": decision.new_due_date, "stated_due_date": decision.new_due_date,
        "channel_requirement": decision.channel_requirement.value if decision.channel_requirement else None,
        "template": decision.template, "rule_set_version": decision.rule_set_version, "rate_version": decision.rate_version,
        "amounts": [_amount_json(a) for a in decision.amounts], "detail": decision.detail, "registered": False,
    }
    step_id = repo.insert_step(values)
    if step_id is None:  # already recorded: same day re-run, or a concurrent run won
        existing = repo.step_by_dedup_key(decision.dedup_key)
        return Evaluation(claim.id, decision, policy.reference, recorded=False, step_id=existing.id if existing else None, steps=steps)
    data = {"dedup_key": decision.dedup_key, "policy": decision.policy, "detail": decision.detail, "amount_open": str(decision.amount_open)}
    if escalating:
        _escalate(session, repo, claim, decision, step_id, steps, holds, today=today, now=now, actor=actor)
    else:
        data |= {"step": decision.step, "fee": str(decision.fee), "new_due_date": decision.new_due_date.isoformat() if decision.new_due_date else None,
                 "channel_requirement": values["channel_requirement"], "interest": str(decision.interest.amount) if decision.interest else None,
                 "rate_version": decision.rate_version, "rule_set_version": decision.rule_set_version}
        audit.record(session, actor=actor, creditor_id=claim.creditor_id, entity_type="claim", entity_id=claim.id, action="dunning.step_decided", data=data, at=now)
        queue.enqueue(session, SEND_STEP, {"step_id": str(step_id)}, now=now, dedup_key=f"{SEND_STEP}:{step_id}")
    return Evaluation(claim.id, decision, policy.reference, recorded=True, step_id=step_id, steps=steps)


def _record_rate_unknown(session: Session, repo: DunningRepository, claim: Claim, decision: Decision, *, today: date, now: datetime, actor: str) -> None:
    """Once per claim and day: the claim waits because its amounts need a rate that is not published."""
    if any((event.data or {}).get("today") == today.isoformat() for event in repo.audit_events(claim.id, RATE_UNKNOWN_ACTION)):
        return
    audit.record(session, actor=actor, creditor_id=claim.creditor_id, entity_type="claim", entity_id=claim.id, action=RATE_UNKNOWN_ACTION,
                 data={"today": today.isoformat(), "missing_rate": decision.missing_rate, "rate_version": decision.rate_version,
                       "policy": decision.policy, "detail": decision.detail}, at=now)


def _escalate(session, repo, claim: Claim, decision: Decision, step_id, steps, holds, *, today: date, now: datetime, actor: str) -> None:
    previous = claim.status
    claim.status = claim_status.transition(claim.status, ClaimStatus.ESCALATED).value
    claim.updated_at = now
    registered = [s for s in steps if s.action == Action.SEND_STEP.value and s.channel_requirement == "registered" and s.status in (StepStatus.SENT.value, StepStatus.DELIVERED.value)]
    proof = None
    if registered:
        last = registered[-1]
        document = repo.document(last.document_id) if last.document_id else None
        proof = {
            "step": last.step, "dispatch_id": str(last.dispatch_id) if last.dispatch_id else None, "channel": last.channel,
            "proof_reference": last.proof_reference, "sent_at": last.sent_at.isoformat() if last.sent_at else None,
            "delivered_at": last.delivered_at.isoformat() if last.delivered_at else None,
            "document_id": str(last.document_id) if last.document_id else None, "document_sha256": document.sha256 if document else None,
        }
    evidence = {
        "registered_reminder": proof,
        "amounts": [_amount_json(a) for a in decision.amounts],
        "fee": str(decision.fee),
        "due_date": claim.due_date.isoformat(),
        "decided_on": today.isoformat(),
        "policy": decision.policy,
        "legal_basis": decision.detail,
        # decide() only escalates without an active hold; past disputes stay visible to the approving body
        "undisputed_on": today.isoformat(),
        "past_disputes": [{"kind": h.kind.value, "reason": h.reason, "from": h.start.isoformat(), "to": h.end.isoformat() if h.end else None} for h in holds if h.kind in DISPUTE_KINDS],
    }
    body = decision.approving_body or decision.issued_by or "creditor"
    entry = EscalationEntry(
        claim_id=claim.id, creditor_id=claim.creditor_id, dunning_step_id=step_id, kind=decision.escalation.value, approving_body=body,
        status=EscalationStatus.PENDING.value, amount_open=decision.amount_open, evidence=evidence, created_at=now,
    )
    session.add(entry)
    session.flush()
    audit.record(
        session, actor=actor, creditor_id=claim.creditor_id, entity_type="claim", entity_id=claim.id, action="dunning.escalated",
        data={"list": decision.escalation_list, "kind": entry.kind, "approving_body": body, "from": previous, "dedup_key": decision.dedup_key, "entry_id": str(entry.id)}, at=now,
    )


def _release_lapsed_holds(session: Session, repo: DunningRepository, claim: Claim, today: date, now: datetime) -> None:
    """A disputed / on-hold claim whose holds have all run out (their end date passed) is back in dunning."""
    if claim.status not in (ClaimStatus.DISPUTED.value, ClaimStatus.ON_HOLD.value):
        return
    if any(_hold(h).active_on(today) and HoldKind(h.kind) in HOLD_STATUS for h in repo.holds(claim.id)):
        return
    previous = claim.status
    claim.status = claim_status.transition(claim.status, ClaimStatus.PARTIALLY_PAID if claim.amount_paid > 0 else ClaimStatus.OPEN).value
    claim.updated_at = now
    audit.record(session, actor=RUN_ACTOR, creditor_id=claim.creditor_id, entity_type="claim", entity_id=claim.id, action="hold.lapsed",
                 data={"from": previous, "to": claim.status, "today": today.isoformat()}, at=now)


# --- runs ------------------------------------------------------------------------------------------


@dataclass
class RunReport:
    today: date
    evaluated: int = 0
    recorded: Counter = field(default_factory=Counter)  # send_step / escalate newly recorded
    already_recorded: int = 0
    waiting: Counter = field(default_factory=Counter)  # by wait reason
    refused: Counter = field(default_factory=Counter)  # by rule (no policy, history breaks the policy)


def run(database, *, today: date, now: datetime, batch_size: int = 500, rates: RateTable | None = None) -> RunReport:
    """Evaluate every dunnable claim on `today`, one transaction per batch (per claim on a refusal)."""
    rates = rates_in_force(rates)  # read once: every claim of the run under the same table
    policies = RunPolicies()
    report = RunReport(today)
    after = None
    statuses = [s.value for s in DUNNABLE]
    while True:
        with database.session_scope() as session:
            ids = DunningRepository(session).claim_ids_in(statuses, after=after, limit=batch_size)
        if not ids:
            return report
        after = ids[-1]
        with database.session_scope() as session:
            for claim_id in ids:
                savepoint = session.begin_nested()
                try:
                    outcome = evaluate(session, claim_id, today=today, now=now, rates=rates, policies=policies)
                    savepoint.commit()
                except GatewayError as error:
                    savepoint.rollback()
                    report.refused[error.problems[0].rule if error.problems else type(error).__name__] += 1
                    continue
                _count(report, outcome)


def _count(report: RunReport, outcome: Evaluation) -> None:
    report.evaluated += 1
    decision = outcome.decision
    if decision is None:
        return
    if decision.action is Action.WAIT:
        report.waiting[decision.reason.value] += 1
    elif outcome.recorded:
        report.recorded[decision.action.value] += 1
    else:
        report.already_recorded += 1


def scan(session: Session, *, today: date, now: datetime, limit: int = 100_000) -> int:
    """Queue one `dunning.evaluate` job per dunnable claim for `today`; a second scan the same day queues none."""
    repo = DunningRepository(session)
    ids = repo.claim_ids_in([s.value for s in DUNNABLE], after=None, limit=limit)
    keys = {claim_id: f"{EVALUATE}:{claim_id}:{today.isoformat()}" for claim_id in ids}
    taken = repo.existing_job_keys(set(keys.values()))
    rows = [queue.job_row(EVALUATE, {"claim_id": str(cid), "today": today.isoformat()}, now=now, dedup_key=key) for cid, key in keys.items() if key not in taken]
    queue.enqueue_many(session, rows)
    return len(rows)


def prepare_send(session: Session, step_id: uuid.UUID, *, today: date, now: datetime) -> str:
    """Handler side of `dunning.send_step`: re-check the claim before the reminder goes out.

    Returns the step's status. A claim paid, closed, escalated, in a payment plan or on hold since
    the decision cancels the step. Otherwise the step stays `decided` for the channel work, which
    renders the reminder and calls `attach_dispatch` (not implemented in this package).
    """
    repo = DunningRepository(session)
    step = repo.step(step_id)
    if step is None or step.status != StepStatus.DECIDED.value:
        return step.status if step else "missing"
    claim = repo.claim(step.claim_id)
    active_holds = [h for h in repo.holds(claim.id) if _hold(h).active_on(today) and h.kind != HoldKind.MEDICAL_DECLARATION.value]
    reason = None
    if claim.status not in (ClaimStatus.OPEN.value, ClaimStatus.PARTIALLY_PAID.value):
        reason = f"claim is {claim.status}"
    elif active_holds:
        reason = f"on hold: {active_holds[0].kind}"
    if reason:
        step.status = lifecycle.transition("dunning_step", step.status, StepStatus.CANCELLED)
        step.updated_at = now
        audit.record(session, actor="worker", creditor_id=claim.creditor_id, entity_type="claim", entity_id=claim.id, action="dunning.step_cancelled",
                     data={"dedup_key": step.dedup_key, "reason": reason}, at=now)
        return step.status
    audit.record(session, actor="worker", creditor_id=claim.creditor_id, entity_type="claim", entity_id=claim.id, action="dunning.step_ready",
                 data={"dedup_key": step.dedup_key, "template": step.template, "channel_requirement": step.channel_requirement,
                       "fee": str(step.fee), "stated_due_date": step.stated_due_date.isoformat() if step.stated_due_date else None}, at=now)
    return step.status


def attach_dispatch(session: Session, step_id: uuid.UUID, *, document_id: uuid.UUID, dispatch_id: uuid.UUID, now: datetime, actor: str = "worker") -> DunningStep:
    """The channel work hands over the reminder document it issued and its first dispatch.

    Fallback dispatches of the same document (the delivery layer's next channel) are found by
    document; they need no second call.
    """
    repo = DunningRepository(session)
    step = repo.step(step_id)
    if step is None or step.action != Action.SEND_STEP.value:
        raise NotFound(f"no reminder step {step_id}")
    dispatch = repo.dispatch(dispatch_id)
    if dispatch is None or dispatch.claim_id != step.claim_id or dispatch.document_id != document_id:
        raise InvalidInput.single("dispatch_id", "DUNNING-DISPATCH-MISMATCH", "the dispatch must carry this document for this claim")
    if step.status != StepStatus.DECIDED.value or step.document_id is not None:
        raise Conflict(f"step {step.dedup_key} already has document {step.document_id} ({step.status})")
    step.document_id, step.dispatch_id, step.channel, step.updated_at = document_id, dispatch_id, dispatch.channel, now
    claim = repo.claim(step.claim_id)
    audit.record(session, actor=actor, creditor_id=claim.creditor_id, entity_type="claim", entity_id=claim.id, action="dunning.dispatch_attached",
                 data={"dedup_key": step.dedup_key, "document_id": str(document_id), "dispatch_id": str(dispatch_id), "channel": dispatch.channel}, at=now)
    session.flush()
    return step


# --- holds -----------------------------------------------------------------------------------------


def _visible_claim(repo: DunningRepository, principal: Principal, claim_id: uuid.UUID, *, for_update: bool = False) -> Claim:
    claim = repo.visible_claim(claim_id, principal.visible_creditor_ids, for_update=for_update)
    if claim is None:
        raise NotFound(f"no claim {claim_id}")
    return claim


def add_hold(
    session: Session, principal: Principal, claim_id: uuid.UUID, *, kind: HoldKind, reason: str, author: str, starts_on: date, ends_on: date | None, today: date, now: datetime,
) -> ClaimHold:
    """Record a hold; one in effect today moves an open claim to disputed / on_hold (a planned one only stops the clock once it starts)."""
    repo = DunningRepository(session)
    claim = _visible_claim(repo, principal, claim_id, for_update=True)
    if ends_on is not None and ends_on < starts_on:
        raise InvalidInput.single("ends_at", "HOLD-END-BEFORE-START", f"the hold ends ({ends_on}) before it starts ({starts_on})")
    if claim.status in (ClaimStatus.PAID.value, ClaimStatus.CANCELLED.value, ClaimStatus.WRITTEN_OFF.value):
        raise Conflict(f"claim is {claim.status}: nothing to hold", problems=[FieldProblem("claim", "HOLD-CLAIM-CLOSED", f"the claim is {claim.status}")])
    hold = ClaimHold(claim_id=claim.id, kind=kind.value, reason=reason, author=author, starts_on=starts_on, ends_on=ends_on, created_at=now)
    session.add(hold)
    session.flush()
    previous = claim.status
    target = HOLD_STATUS.get(kind)
    if target is not None and starts_on <= today and claim.status in (ClaimStatus.OPEN.value, ClaimStatus.PARTIALLY_PAID.value):
        claim.status = claim_status.transition(claim.status, target).value
        claim.updated_at = now
    audit.record(session, actor=principal.actor, creditor_id=claim.creditor_id, entity_type="claim", entity_id=claim.id, action="hold.added",
                 data={"hold_id": str(hold.id), "kind": kind.value, "reason": reason, "author": author, "starts_on": starts_on.isoformat(),
                       "ends_on": ends_on.isoformat() if ends_on else None, "from": previous, "to": claim.status}, at=now)
    return hold


def end_hold(session: Session, principal: Principal, claim_id: uuid.UUID, hold_id: uuid.UUID, *, author: str, ends_on: date, now: datetime) -> ClaimHold:
    """End a hold on `ends_on` (inclusive: the day still counts as held); the claim returns to dunning
    when no other status-changing hold is left."""
    repo = DunningRepository(session)
    claim = _visible_claim(repo, principal, claim_id, for_update=True)
    hold = repo.hold(claim.id, hold_id)
    if hold is None:
        raise NotFound(f"no hold {hold_id} on claim {claim_id}")
    if hold.ended_at is not None:
        raise Conflict("the hold has already ended", problems=[FieldProblem("hold", "HOLD-ALREADY-ENDED", f"ended by {hold.ended_by}")])
    if ends_on < hold.starts_on:
        raise InvalidInput.single("ends_on", "HOLD-END-BEFORE-START", f"the hold starts on {hold.starts_on}")
    hold.ends_on = min(ends_on, hold.ends_on) if hold.ends_on else ends_on
    hold.ended_by, hold.ended_at = author, now
    session.flush()
    previous = claim.status
    others = [h for h in repo.holds(claim.id) if h.id != hold.id and h.ended_at is None and (h.ends_on is None or h.ends_on >= ends_on) and HoldKind(h.kind) in HOLD_STATUS]
    if claim.status in (ClaimStatus.DISPUTED.value, ClaimStatus.ON_HOLD.value) and not others:
        back = ClaimStatus.PARTIALLY_PAID if claim.amount_paid > 0 else ClaimStatus.OPEN
        claim.status = claim_status.transition(claim.status, back).value
        claim.updated_at = now
    audit.record(session, actor=principal.actor, creditor_id=claim.creditor_id, entity_type="claim", entity_id=claim.id, action="hold.ended",
                 data={"hold_id": str(hold.id), "kind": hold.kind, "author": author, "ends_on": hold.ends_on.isoformat(), "from": previous, "to": claim.status}, at=now)
    return hold


# --- payment plans ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class GrantedPlan:
    plan: PlanRow
    instalments: list[PaymentPlanInstalment]
    claims: list[Claim]


def grant_plan(
    session: Session, principal: Principal, claim_ids: list[uuid.UUID], *, months: int, first_due_date: date,
    exception_by: str | None, exception_reason: str | None, confirmed_on: date | None, confirmation_days: int, today: date, now: datetime,
) -> GrantedPlan:
    """Grant a plan over the open amounts of one debtor's claims, or raise `PlanRefused` naming the rule.

    Unless the debtor's confirmation comes with the grant, it is due within `confirmation_days`
    (`confirm_by`); a plan still unconfirmed after that day lapses on the next evaluation."""
    repo = DunningRepository(session)
    claims = [_visible_claim(repo, principal, cid, for_update=True) for cid in dict.fromkeys(claim_ids)]
    if len({c.debtor_id for c in claims}) != 1:
        raise InvalidInput.single("claim_ids", "PLAN-ONE-DEBTOR", "a payment plan covers claims of one debtor")
    for index, claim in enumerate(claims):
        if claim.status not in (ClaimStatus.OPEN.value, ClaimStatus.PARTIALLY_PAID.value):
            raise InvalidInput.single(f"claim_ids.{index}", "PLAN-CLAIM-STATE", f"claim {claim.number} is {claim.status}; only open or partially paid claims go into a plan")
        if repo.running_plan_for(claim.id) is not None:
            raise InvalidInput.single(f"claim_ids.{index}", "PLAN-ALREADY-RUNNING", f"claim {claim.number} is already in a running plan")
    if first_due_date < today:
        raise InvalidInput.single("first_due_date", "PLAN-FIRST-DUE-PAST", f"the first instalment is due on {first_due_date}, before today {today}")
    if confirmed_on is not None and confirmed_on > today:
        raise InvalidInput.single("confirmed_on", "PLAN-CONFIRMED-IN-FUTURE", f"the confirmation date {confirmed_on} is after today {today}")
    total = sum((c.amount_open for c in claims), Decimal("0.00"))
    exception = DirectorException(exception_by, exception_reason, today) if exception_by else None
    terms: PlanTerms = propose_plan(str(claims[0].id), total, months, first_due_date, exception=exception, confirmed_on=confirmed_on)
    plan = PlanRow(
        creditor_id=claims[0].creditor_id, debtor_id=claims[0].debtor_id, status=PlanStatus.RUNNING.value, total=terms.total, months=terms.months,
        first_due_date=first_due_date, granted_on=today, granted_by=principal.actor, waived_rules=list(terms.waived_rules),
        exception_by=exception_by if terms.exception else None, exception_reason=exception_reason if terms.exception else None,
        confirmed_on=confirmed_on, confirm_by=None if confirmed_on else today + timedelta(days=confirmation_days),
        confirmation_source="recorded with the grant" if confirmed_on else None, confirmed_by=principal.actor if confirmed_on else None,
        created_at=now, updated_at=now,
    )
    session.add(plan)
    session.flush()
    ogms = _fresh_ogms(repo, len(terms.instalments))
    instalments = [
        PaymentPlanInstalment(plan_id=plan.id, number=i.number, due_date=i.due_date, amount=i.amount, structured_communication=ogm, created_at=now)
        for i, ogm in zip(terms.instalments, ogms)
    ]
    session.add_all(instalments)
    for claim in claims:
        session.add(PaymentPlanClaim(plan_id=plan.id, claim_id=claim.id))
        previous = claim.status
        claim.status = claim_status.transition(claim.status, ClaimStatus.IN_PAYMENT_PLAN).value
        claim.updated_at = now
        audit.record(session, actor=principal.actor, creditor_id=claim.creditor_id, entity_type="claim", entity_id=claim.id, action="payment_plan.granted",
                     data={"plan_id": str(plan.id), "from": previous, "total": str(plan.total), "months": plan.months, "waived_rules": list(terms.waived_rules),
                           "exception_by": plan.exception_by, "exception_reason": plan.exception_reason,
                           "confirmed_on": plan.confirmed_on.isoformat() if plan.confirmed_on else None,
                           "confirm_by": plan.confirm_by.isoformat() if plan.confirm_by else None}, at=now)
    session.flush()
    return GrantedPlan(plan, instalments, claims)


def _fresh_ogms(repo: DunningRepository, count: int) -> list[str]:
    chosen: list[str] = []
    for _ in range(OGM_DRAWS):
        candidates = {new_random_ogm() for _ in range(count - len(chosen))} - set(chosen)
        chosen += sorted(candidates - repo.ogms_taken(candidates))
        if len(chosen) >= count:
            return chosen[:count]
    raise Conflict("could not draw unique structured communications for the instalments")


def confirm_plan(
    session: Session, principal: Principal, plan_id: uuid.UUID, *, confirmed_on: date, source: str, author: str, today: date, now: datetime,
) -> PlanRow:
    """Record the debtor's confirmation of a running plan (date and source, e.g. "signed letter 2026-12-04").

    Refused naming the rule: PLAN-NOT-RUNNING (lapsed, defaulted or completed), PLAN-ALREADY-CONFIRMED
    (409), PLAN-CONFIRMED-BEFORE-GRANT, PLAN-CONFIRMED-IN-FUTURE, PLAN-CONFIRMATION-LATE (dated after
    `confirm_by`: the plan lapses; grant a new one)."""
    repo = DunningRepository(session)
    plan = repo.plan(plan_id, principal.visible_creditor_ids, for_update=True)
    if plan is None:
        raise NotFound(f"no payment plan {plan_id}")
    if plan.status != PlanStatus.RUNNING.value:
        raise InvalidInput.single("plan", "PLAN-NOT-RUNNING", f"the plan is {plan.status}")
    if plan.confirmed_on is not None:
        raise Conflict("already confirmed", problems=[FieldProblem("confirmed_on", "PLAN-ALREADY-CONFIRMED",
                                                                    f"confirmed on {plan.confirmed_on.isoformat()} ({plan.confirmation_source})")])
    if confirmed_on < plan.granted_on:
        raise InvalidInput.single("confirmed_on", "PLAN-CONFIRMED-BEFORE-GRANT", f"the plan was granted on {plan.granted_on.isoformat()}")
    if confirmed_on > today:
        raise InvalidInput.single("confirmed_on", "PLAN-CONFIRMED-IN-FUTURE", f"the confirmation date {confirmed_on} is after today {today}")
    if plan.confirm_by is not None and confirmed_on > plan.confirm_by:
        raise InvalidInput.single("confirmed_on", "PLAN-CONFIRMATION-LATE", f"the confirmation was due by {plan.confirm_by.isoformat()}")
    plan.confirmed_on, plan.confirmation_source, plan.confirmed_by, plan.updated_at = confirmed_on, source, author, now
    for claim_id in repo.plan_claim_ids(plan.id):
        claim = repo.claim(claim_id)
        audit.record(session, actor=principal.actor, creditor_id=claim.creditor_id, entity_type="claim", entity_id=claim.id, action="payment_plan.confirmed",
                     data={"plan_id": str(plan.id), "confirmed_on": confirmed_on.isoformat(), "source": source, "author": author}, at=now)
    session.flush()
    return plan


def plan_terms(repo: DunningRepository, plan: PlanRow) -> PlanTerms:
    return PlanTerms(
        claim_id=str(plan.id), total=plan.total,
        instalments=tuple(Instalment(i.number, i.due_date, i.amount) for i in repo.instalments(plan.id)),
        waived_rules=tuple(plan.waived_rules or ()), confirmed_on=plan.confirmed_on, confirm_by=plan.confirm_by,
    )


def close_plan_if_paid(session: Session, plan_id: uuid.UUID, *, today: date, now: datetime, actor: str) -> bool:
    """After a payment under a plan: a plan paid in full is completed at once (missed instalments and
    lapses are left to the daily evaluation). True when it was completed now."""
    repo = DunningRepository(session)
    plan = session.get(PlanRow, plan_id)
    if plan is None or plan.status != PlanStatus.RUNNING.value:
        return False
    if plan_status(plan_terms(repo, plan), _plan_payments(repo, plan), today).state is not PlanState.COMPLETED:
        return False
    _plan_state(session, repo, plan, today, now, apply=True, actor=actor)
    return True


def _plan_payments(repo: DunningRepository, plan: PlanRow) -> list[tuple[date, Decimal]]:
    # payments booked after the grant count towards the plan (the total is the open amount at grant time)
    return [(p.paid_on, p.amount) for p in repo.payments(repo.plan_claim_ids(plan.id)) if p.created_at >= plan.created_at]


def _plan_state(session: Session, repo: DunningRepository, plan: PlanRow, today: date, now: datetime, *, apply: bool, actor: str = RUN_ACTOR) -> PlanState:
    claim_ids = repo.plan_claim_ids(plan.id)
    status = plan_status(plan_terms(repo, plan), _plan_payments(repo, plan), today)
    if not apply or status.state is PlanState.RUNNING:
        return status.state
    target = {PlanState.DEFAULTED: PlanStatus.DEFAULTED, PlanState.LAPSED: PlanStatus.LAPSED, PlanState.COMPLETED: PlanStatus.COMPLETED}[status.state]
    plan.status = lifecycle.transition("payment_plan", plan.status, target)
    plan.ended_on, plan.updated_at = today, now
    for claim_id in claim_ids:
        claim = repo.claim(claim_id)
        previous = claim.status
        if target in (PlanStatus.DEFAULTED, PlanStatus.LAPSED) and claim.status == ClaimStatus.IN_PAYMENT_PLAN.value:
            # PLAN-TWO-MISSED / PLAN-NOT-CONFIRMED: back into dunning
            back = ClaimStatus.PARTIALLY_PAID if claim.amount_paid > 0 else ClaimStatus.OPEN
            claim.status = claim_status.transition(claim.status, back).value
            claim.updated_at = now
        audit.record(session, actor=actor, creditor_id=claim.creditor_id, entity_type="claim", entity_id=claim.id, action=f"payment_plan.{target.value}",
                     data={"plan_id": str(plan.id), "missed": list(status.missed), "rules": list(status.rules), "detail": status.detail,
                           "from": previous, "to": claim.status}, at=now)
    return status.state


# --- escalation lists ------------------------------------------------------------------------------


def approve_escalation(session: Session, principal: Principal, entry_id: uuid.UUID, *, approved_by: str, today: date, now: datetime) -> EscalationEntry:
    repo = DunningRepository(session)
    entry = repo.escalation(entry_id, principal.visible_creditor_ids, for_update=True)
    if entry is None:
        raise NotFound(f"no escalation entry {entry_id}")
    if entry.status != EscalationStatus.PENDING.value:
        raise Conflict("already approved", problems=[FieldProblem("status", "ESCALATION-ALREADY-APPROVED", f"approved by {entry.approved_by} at {entry.approved_at.isoformat()}")])
    claim = repo.claim(entry.claim_id)
    if claim.status != ClaimStatus.ESCALATED.value:
        raise InvalidInput.single("claim", "ESCALATION-CLAIM-CLOSED", f"the claim is {claim.status}")
    disputes = [h for h in repo.holds(claim.id) if HoldKind(h.kind) in DISPUTE_KINDS and _hold(h).active_on(today)]
    if disputes:
        # art. 177 DLB: only an undisputed, certain and due debt
        raise InvalidInput.single("claim", "ESCALATION-DISPUTED", f"the claim is disputed since {disputes[0].starts_on.isoformat()}: {disputes[0].reason}")
    entry.status = lifecycle.transition("escalation_entry", entry.status, EscalationStatus.APPROVED)
    entry.approved_by, entry.approved_at = approved_by, now
    audit.record(session, actor=principal.actor, creditor_id=entry.creditor_id, entity_type="claim", entity_id=entry.claim_id, action="escalation.approved",
                 data={"entry_id": str(entry.id), "kind": entry.kind, "approving_body": entry.approving_body, "approved_by": approved_by}, at=now)
    session.flush()
    return entry


def approve_escalation_list(
    session: Session, principal: Principal, entry_ids: list[uuid.UUID], *, kind: str, approving_body: str, approved_by: str, today: date, now: datetime,
) -> list[EscalationEntry]:
    """One decision on a whole list (one kind, one approving body): each entry the approver was shown
    goes through `approve_escalation` (its own checks and audit row per claim), or none does.

    The approver names the entries (the ones on the page they read), so an entry that joined the
    list since is not approved unseen. Every refusal is collected and raised together; the caller's
    transaction then rolls back the entries approved before it."""
    if not entry_ids:
        raise InvalidInput.single("entries", "ESCALATION-LIST-EMPTY", "the list has no entry to approve")
    repo = DunningRepository(session)
    approved: list[EscalationEntry] = []
    problems: list[FieldProblem] = []
    for index, entry_id in enumerate(dict.fromkeys(entry_ids)):
        entry = repo.escalation(entry_id, principal.visible_creditor_ids)
        if entry is None:
            raise NotFound(f"no escalation entry {entry_id}")
        number = repo.claim(entry.claim_id).number
        if (entry.kind, entry.approving_body) != (kind, approving_body):
            problems.append(FieldProblem(f"entries.{index}", "ESCALATION-LIST-MISMATCH", f"claim {number} is on the {entry.kind} list of {entry.approving_body}"))
            continue
        try:
            approved.append(approve_escalation(session, principal, entry_id, approved_by=approved_by, today=today, now=now))
        except (Conflict, InvalidInput) as error:
            problems.extend(FieldProblem(f"entries.{index}", p.rule, f"claim {number}: {p.message}") for p in error.problems)
    if problems:
        error_type = Conflict if all(p.rule == "ESCALATION-ALREADY-APPROVED" for p in problems) else InvalidInput
        raise error_type(f"the list was not approved: {len(problems)} of its entries cannot be", problems=problems)
    return approved


def local_today(now: datetime) -> date:
    return now.astimezone(BRUSSELS).date()


__all__ = [
    "DUNNABLE", "Evaluation", "GrantedPlan", "KIND_TO_POLICY_ENTITY", "Observed", "RunReport", "add_hold", "approve_escalation", "approve_escalation_list",
    "attach_dispatch", "confirm_plan", "end_hold", "evaluate", "format_ogm", "grant_plan", "local_today", "observe", "policy_for_claim", "prepare_send",
    "preview", "run", "scan",
]
