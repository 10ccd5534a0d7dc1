"""A registered dunning step keeps its requirement on fallback (DESIGN.md section 2): when the
registered letter fails for good, the reminder does not go out as an e-mail or an ordinary letter
(that would not be the registered reminder the policy demands); the claim's history says
`dispatch.no_channel_left` with the reason. Real store (SQLite and PostgreSQL), the worker, the
print drop folder for ordinary paper; the print provider's refusal of the registered letter is
played at the edge (its HTTP/SFTP client is not ours)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from sqlalchemy import select

from gateway.api.payloads import ClaimIn
from gateway.channels.base import SendRequest
from gateway.channels.paper.provider import PrintDropProvider
from gateway.channels.registry import ProviderRegistry
from gateway.dunning import service as dunning
from gateway.dunning import tasks as dunning_tasks
from gateway.errors import TerminalError
from gateway.services.auth import authenticate
from gateway.services.claims import create_claim
from gateway.kit.time import utc_now
from gateway.store.models import AuditEvent, Claim, Dispatch, DunningStep, Job
from gateway.workers import tasks as worker_tasks
from gateway.workers.registry import Task
from gateway.workers.run import Worker
from tests.factories import consumer_claim, seed_creditors

ADDRESS = "Kerkstraat 1, 9000 Gent, BE"


def utc(*parts) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)


class RefusingRegisteredPrinter:
    """The print provider's registered-mail service refusing the letter (e.g. its address check)."""

    name = "refusing-printer"
    channel = "registered_paper"

    def __init__(self) -> None:
        self.requests: list[SendRequest] = []

    def send(self, request: SendRequest):
        self.requests.append(request)
        raise TerminalError("print provider: registered mail refused (address not in the postal register)")


def test_a_failed_registered_reminder_gets_no_unregistered_fallback(database, settings, standards_dir, tmp_path):
    keys = seed_creditors(database)
    settings = settings.model_copy(update={"standards_dir": standards_dir, "personal_link_secret": "link-secret-for-tests-0123456789"})
    printer = RefusingRegisteredPrinter()
    providers = ProviderRegistry()
    providers.add(PrintDropProvider(tmp_path / "print", channel="paper"))
    providers.add(printer)
    worker = Worker(database, settings, name="t", providers=providers)
    with database.session_scope() as session:  # e-mail consent and a good address: without the rule, e-mail would be next
        claim_id = create_claim(session, authenticate(session, keys.municipality_key), ClaimIn.model_validate(consumer_claim("R1")), now=utc(2026, 11, 23, 10)).claim.id
    with database.session_scope() as session:
        worker_tasks.issue_claim(Task(session, settings, database), {"claim_id": str(claim_id)}, utc(2026, 11, 23, 10))
    steps = []
    for today, sent_at in ((date(2026, 12, 7), utc(2026, 12, 7, 7)), (date(2027, 1, 11), utc(2027, 1, 11, 7))):
        with database.session_scope() as session:
            step_id = dunning.evaluate(session, claim_id, today=today, now=utc(today.year, today.month, today.day, 6)).step_id
        with database.session_scope() as session:
            dunning_tasks.send_step(Task(session, settings, database), {"step_id": str(step_id)}, sent_at)
        with database.session_scope() as session:  # the provider reports this reminder sent that morning
            dispatch = session.get(Dispatch, session.get(DunningStep, step_id).dispatch_id)
            dispatch.state, dispatch.attempt_count, dispatch.updated_at = "sent", 1, sent_at
        steps.append(step_id)
    with database.session_scope() as session:
        step2 = session.get(DunningStep, steps[1])
        assert (step2.step, step2.channel_requirement, step2.channel) == (2, "registered", "registered_paper")
        registered = session.get(Dispatch, step2.dispatch_id)
        registered.state, registered.attempt_count = "queued", 0  # undo the simulated report: this one the worker sends
        registered_id, reminder_id = registered.id, registered.document_id
        for job in session.scalars(select(Job).where(Job.state == "pending")):  # the jobs were queued "in 2027"
            job.run_after = utc_now() - timedelta(seconds=1)
    worker.drain()
    assert [r.channel for r in printer.requests] == ["registered_paper"]
    with database.session_scope() as session:
        of_reminder = session.scalars(select(Dispatch).where(Dispatch.document_id == reminder_id)).all()
        assert [(d.id, d.channel, d.recipient, d.state) for d in of_reminder] == [(registered_id, "registered_paper", ADDRESS, "failed_permanent")]
        [left] = session.scalars(select(AuditEvent).where(AuditEvent.entity_id == claim_id, AuditEvent.action == "dispatch.no_channel_left")).all()
        assert left.data == {
            "failed_dispatch_id": str(registered_id), "requirement": "registered",
            "reason": "the dunning step requires a registered channel (registered_paper) and every one has failed (tried: registered_paper)",
        }
        assert session.scalar(select(AuditEvent).where(AuditEvent.entity_id == claim_id, AuditEvent.action == "dispatch.fallback")) is None
        assert session.get(Claim, claim_id).status == "open"
