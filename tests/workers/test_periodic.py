"""Periodic jobs queued by the workers' sweep: once per period however many workers sweep, off at 0,
and the jobs themselves: eBox read receipts polled from the sandbox, the print batch closed."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta, timezone

import requests
from sqlalchemy import select

from gateway.channels.base import SendRequest
from gateway.channels.paper.provider import PrintDropProvider
from gateway.channels.registry import ProviderRegistry
from gateway.store.models import Dispatch, Job
from gateway.workers import periodic
from gateway.workers.run import Worker
from tests.channels.test_ebox_provider import private_key, queue_ebox, sandbox, world  # noqa: F401 - fixtures

T0 = datetime(2026, 11, 23, 10, 0, 5, tzinfo=timezone.utc)


def queued(database):
    with database.session_scope() as session:
        return sorted((j.kind, j.dedup_key) for j in session.scalars(select(Job)))


def test_each_job_is_queued_once_per_period_and_zero_switches_it_off(database, settings):
    assert periodic.schedule(settings) == {"ebox.poll_receipts": 900, "peppol.poll_status": 900, "print.close_batch": 3600}  # no dunning scan by default
    settings = settings.model_copy(update={"peppol_status_poll_seconds": 0})
    with database.session_scope() as session:
        assert periodic.enqueue_due(session, settings, now=T0) == ["ebox.poll_receipts", "print.close_batch"]
    for _ in range(3):  # other workers sweeping in the same period
        with database.session_scope() as session:
            assert periodic.enqueue_due(session, settings, now=T0 + timedelta(minutes=10)) == []
    with database.session_scope() as session:  # 15 minutes later: a new receipt period, the same print hour
        assert periodic.enqueue_due(session, settings, now=T0 + timedelta(minutes=15)) == ["ebox.poll_receipts"]
    epoch = int(T0.timestamp())
    assert queued(database) == sorted([
        ("ebox.poll_receipts", f"ebox.poll_receipts:{epoch // 900}"), ("ebox.poll_receipts", f"ebox.poll_receipts:{epoch // 900 + 1}"),
        ("print.close_batch", f"print.close_batch:{epoch // 3600}"),
    ])
    daily = settings.model_copy(update={"dunning_scan_seconds": 86400})
    with database.session_scope() as session:
        assert periodic.enqueue_due(session, daily, now=T0 + timedelta(minutes=15)) == ["dunning.scan"]


def test_the_sweep_queues_them_and_the_print_job_closes_a_batch(database, settings, tmp_path):
    providers = ProviderRegistry()
    paper = PrintDropProvider(tmp_path / "print", channel="paper")
    providers.add(paper)
    pdf = b"%PDF-1.7 letter\n%%EOF"
    paper.send(SendRequest(dispatch_id=uuid.uuid4(), idempotency_key="a" * 64, channel="paper", recipient="Kerkstraat 1, 9000 Gent, BE",
                           document_number="INV000001", document_media_type="application/pdf", document=pdf, extra={"debtor_name": "An Peeters"}))
    worker = Worker(database, settings.model_copy(update={"ebox_receipt_poll_seconds": 0, "peppol_status_poll_seconds": 0}), name="t", providers=providers)
    worker.sweep()
    assert [kind for kind, _ in queued(database)] == ["print.close_batch"]
    assert worker.drain() == 1
    [batch] = list((tmp_path / "print" / "batches").iterdir())
    assert (batch / f"{'a' * 64}.pdf").read_bytes() == pdf
    assert (batch / "manifest.csv").read_text().splitlines()[1].endswith(hashlib.sha256(pdf).hexdigest())


def test_the_receipt_job_polls_the_ebox_and_the_read_receipt_moves_the_dispatch(database, world, sandbox):  # noqa: F811
    keys, worker, _, settings = world
    dispatch_id = queue_ebox(database, keys, "P1")
    worker.drain()
    [message] = sandbox.messages.values()
    assert requests.post(f"{sandbox.url}/sandbox/messages/{message.message_id}/read", timeout=5).status_code == 200
    worker.settings = settings.model_copy(update={"ebox_receipt_poll_seconds": 900, "print_batch_close_seconds": 0, "peppol_status_poll_seconds": 0})
    worker.sweep()
    assert worker.drain() == 2  # the poll, then the inbox.apply of the receipt it stored
    with database.session_scope() as session:
        assert session.get(Dispatch, dispatch_id).state == "read"
