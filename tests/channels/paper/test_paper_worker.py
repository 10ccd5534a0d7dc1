"""Paper dispatches through the real worker and store (SQLite and PostgreSQL) into the drop folder."""

from __future__ import annotations

import csv
import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from gateway.api.payloads import ClaimIn
from gateway.channels.paper.drop import close_batch
from gateway.channels.setup import build_providers
from gateway.delivery import service as delivery
from gateway.kit.time import utc_now
from gateway.letters.render import render_letter
from gateway.services.auth import authenticate
from gateway.services.claims import create_claim
from gateway.store.models import Claim, Dispatch, DispatchAttempt, Document, Job
from gateway.workers.run import Worker
from tests.factories import consumer_claim, seed_creditors
from tests.letters.test_render import letter

ADDRESS = "Kerkstraat 1, 9000 Gent, BE"


def queue_letter(database, key: str, number: str, *, channel: str, media_type: str = "application/pdf") -> tuple[uuid.UUID, bytes]:
    """A stored claim with one issued letter and a dispatch queued on `channel` (the claim.issue job dropped)."""
    now = utc_now()
    content = render_letter(letter(document_number=f"L-{number}")) if media_type == "application/pdf" else b"<Invoice/>"
    with database.session_scope() as session:
        intake = create_claim(session, authenticate(session, key), ClaimIn.model_validate(consumer_claim(number)), now=now)
        claim = session.get(Claim, intake.claim.id)
        for job in session.scalars(select(Job).where(Job.kind == "claim.issue")):
            session.delete(job)
        sequence = session.scalar(select(func.count()).select_from(Document).where(Document.creditor_id == claim.creditor_id)) + 1
        document = Document(
            claim_id=claim.id, creditor_id=claim.creditor_id, kind="letter", prefix="L", sequence=sequence, number=f"L-{number}",
            media_type=media_type, content=content, sha256=hashlib.sha256(content).hexdigest(), issued_at=now, meta={}, created_at=now,
        )
        session.add(document)
        session.flush()
        dispatch = delivery.queue_dispatch(session, document_id=document.id, claim_id=claim.id, channel=channel, recipient=ADDRESS, reason="test", now=now)
        return dispatch.id, content


@pytest.fixture
def world(database, settings, tmp_path):
    settings = settings.model_copy(update={"print_drop_dir": tmp_path / "print", "max_attempts": 3})
    providers = build_providers(settings)
    keys = seed_creditors(database)
    return keys, Worker(database, settings, name="t", providers=providers), providers, settings


def test_paper_and_registered_paper_land_in_one_batch_with_their_dispatch_ids(database, world, tmp_path):
    keys, worker, _, settings = world
    plain, plain_pdf = queue_letter(database, keys.municipality_key, "P1", channel="paper")
    registered, registered_pdf = queue_letter(database, keys.municipality_key, "P2", channel="registered_paper")

    assert worker.drain() >= 2

    with database.session_scope() as session:
        rows = {row.id: row for row in session.scalars(select(Dispatch))}
        for dispatch_id in (plain, registered):
            row = rows[dispatch_id]
            assert (row.state, row.provider, row.provider_message_id) == ("sent", "print-drop", f"print:{row.idempotency_key}")
        keys_by_id = {dispatch_id: rows[dispatch_id].idempotency_key for dispatch_id in (plain, registered)}
    sidecar = json.loads((settings.print_drop_dir / "pending" / f"{keys_by_id[registered]}.json").read_bytes())
    assert (sidecar["dispatch_id"], sidecar["recipient"], sidecar["debtor_name"], sidecar["registered"], sidecar["pages"], sidecar["language"]) == (
        str(registered), ADDRESS, "An Peeters", True, 1, "nl",
    )

    summary = close_batch(settings.print_drop_dir, now=datetime(2026, 11, 23, 17, 0, tzinfo=UTC))

    assert (summary.name, summary.letters, summary.registered, summary.pages) == ("20261123-170000-1", 2, 1, 2)
    with open(summary.path / "manifest.csv", newline="", encoding="utf-8") as handle:
        manifest = list(csv.DictReader(handle))
    assert [(r["sequence"], r["dispatch_id"], r["document_number"], r["recipient_name"], r["address"], r["registered"], r["pages"], r["sha256"]) for r in manifest] == [
        ("1", str(plain), "L-P1", "An Peeters", ADDRESS, "false", "1", hashlib.sha256(plain_pdf).hexdigest()),
        ("2", str(registered), "L-P2", "An Peeters", ADDRESS, "true", "1", hashlib.sha256(registered_pdf).hexdigest()),
    ]


def test_a_worker_crash_after_writing_gives_the_printer_one_letter(database, world):
    keys, worker, providers, settings = world
    dispatch_id, _ = queue_letter(database, keys.municipality_key, "P3", channel="paper")
    with database.session_scope() as session:
        request = delivery.claim_for_send(session, dispatch_id, provider="print-drop", now=utc_now())
    providers.for_channel("paper").send(request)  # written, then the worker dies before recording it
    close_batch(settings.print_drop_dir, now=datetime(2026, 11, 23, 17, 0, tzinfo=UTC))  # the letter already went out
    stale_after = timedelta(seconds=settings.worker_stale_after_seconds)
    with database.session_scope() as session:
        assert delivery.requeue_stale(session, now=utc_now() + stale_after + timedelta(seconds=1), stale_after=stale_after) == 1
        for job in session.scalars(select(Job).where(Job.state == "pending")):
            job.run_after = utc_now() - timedelta(seconds=1)

    worker.drain()

    with database.session_scope() as session:
        dispatch = session.get(Dispatch, dispatch_id)
        assert (dispatch.state, dispatch.attempt_count) == ("sent", 2)
        attempts = session.scalars(select(DispatchAttempt).order_by(DispatchAttempt.number)).all()
        assert [(a.number, a.outcome) for a in attempts] == [(1, "abandoned"), (2, "sent")]
        assert json.loads(attempts[1].response_excerpt)["repeated"] is True
    assert list((settings.print_drop_dir / "pending").glob("*")) == []
    assert close_batch(settings.print_drop_dir, now=datetime(2026, 11, 23, 17, 5, tzinfo=UTC)) is None


def test_a_non_pdf_document_on_paper_fails_permanently_and_nothing_is_written(database, world):
    keys, worker, _, settings = world
    dispatch_id, _ = queue_letter(database, keys.municipality_key, "P4", channel="registered_paper", media_type="text/plain")
    worker.drain()
    with database.session_scope() as session:
        dispatch = session.get(Dispatch, dispatch_id)
        assert dispatch.state == "failed_permanent"
        assert dispatch.last_error == "TerminalError: paper: the printer takes application/pdf, got document media type 'text/plain'"
    assert not (settings.print_drop_dir / "pending").exists() or list((settings.print_drop_dir / "pending").iterdir()) == []
