"""Worker handlers of the dunning service (registered on import; `gateway.workers.tasks` imports this).

    dunning.scan        {"today"?}           queue one dunning.evaluate per dunnable claim (cron: once a day)
    dunning.evaluate    {"claim_id", "today"} decide and record for one claim
    dunning.send_step   {"step_id"}          re-check a recorded reminder step before the channel work renders it

`today` defaults to the Brussels date of the job's `now`.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from gateway.dunning import service
from gateway.errors import GatewayError
from gateway.services import audit
from gateway.store.repositories.dunning import DunningRepository
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
        service.evaluate(session, claim_id, today=_today(payload, now), now=now, actor="worker")
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
    service.prepare_send(task.session, uuid.UUID(payload["step_id"]), today=service.local_today(now), now=now)
