"""Worker handlers of the dunning service (registered on import; `gateway.workers.tasks` imports this).

    dunning.scan        {"today"?}           queue one dunning.evaluate per dunnable claim (cron: once a day)
    dunning.evaluate    {"claim_id", "today"} decide and record for one claim
    dunning.send_step   {"step_id"}          re-check a recorded reminder step, then issue its reminder
                                             (`gateway.services.documents.issue_reminder`: business debtors get a
                                             UBL Reminder, and a fee invoice when the step charges a fee, dispatched
                                             and attached to the step; consumers a PDF reminder letter)

`today` defaults to the Brussels date of the job's `now`.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from gateway.delivery.router import REQUIRED_CHANNELS, RoutingDecision, choose_channel
from gateway.dunning import service
from gateway.errors import GatewayError
from gateway.dunning.lifecycle import StepStatus
from gateway.dunning.rates import configured_rates
from gateway.services import audit, documents
from gateway.store.models import Debtor, DunningStep
from gateway.store.repositories.dunning import DunningRepository
from gateway.workers.tasks import debtor_facts, postal_address
from gateway.workers.registry import Task, handler


def _today(payload: dict, now: datetime) -> date:
    return date.fromisoformat(payload["today"]) if payload.get("today") else service.local_today(now)


@handler(service.SCAN)
def scan(task: Task, payload: dict, now: datetime) -> None:
    service.scan(task.session, today=_today(payload, now), now=now)


@handler(service.EVALUATE)
def evaluate(task: Task, payload: dict, now: datetime) -> None:
    session = task.session
    claim_id = uuid.UUID(payload["claim_id"])
    savepoint = session.begin_nested()
    try:
        rates = configured_rates(task.settings.dunning_rates_file)
        service.evaluate(session, claim_id, today=_today(payload, now), now=now, actor="worker", rates=rates)
        savepoint.commit()
    except GatewayError as error:
        # a claim without a policy, or whose history breaks it, is reported, not retried
        savepoint.rollback()
        claim = DunningRepository(session).claim(claim_id)
        if claim is not None:
            audit.record(session, actor="worker", creditor_id=claim.creditor_id, entity_type="claim", entity_id=claim.id, action="dunning.refused",
                         data={"rules": [p.rule for p in error.problems], "message": error.message}, at=now)


@handler(service.SEND_STEP)
def send_step(task: Task, payload: dict, now: datetime) -> None:
    session = task.session
    repo = DunningRepository(session)
    step = repo.step(uuid.UUID(payload["step_id"]))
    if step is None:
        return
    claim = repo.claim(step.claim_id, for_update=True)  # one reminder per step, even with a repeated job
    if service.prepare_send(session, step.id, today=service.local_today(now), now=now) != StepStatus.DECIDED.value:
        return  # cancelled (paid, closed, on hold ...) or already under way
    route = reminder_route(session.get(Debtor, claim.debtor_id), step)
    documents.issue_reminder(session, claim, step, route=route, now=now, standards_dir=task.settings.standards_dir, settings=task.settings)


def reminder_route(debtor: Debtor, step: DunningStep) -> RoutingDecision | None:
    """The router's channel for the debtor, unless the policy ties the step to one (DESIGN.md section 2:
    a registered step needs a registered channel). A reminder without fee or interest is short enough
    for an SMS with the personal link."""
    address = postal_address(debtor)
    if step.channel_requirement in REQUIRED_CHANNELS:  # the same rule holds on every fallback (workers.tasks.dispatch_failed)
        return choose_channel(debtor_facts(debtor), address, requirement=step.channel_requirement)
    short = step.fee == 0 and not step.interest
    return choose_channel(debtor_facts(debtor), address, short_message=short)
