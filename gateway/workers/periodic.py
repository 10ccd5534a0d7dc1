"""Periodic work, queued by the workers themselves: no cron to install on a municipality's server.

Every worker's sweep (when it finds nothing to do) calls `enqueue_due`, which queues each periodic
job once per period: the dedup key carries the period number (`kind:<floor(epoch / interval)>`),
so N workers sweeping at the same moment queue it once (the unique key refuses the others inside
a savepoint) and a job that ran in this period is not queued again until the next one.

    ebox.poll_receipts   read receipts of published eBox messages into the inbox (the eBox does not push)
    peppol.poll_status   the access point's status of Peppol dispatches left `sent` (lost callbacks)
    print.close_batch    hand the pending paper letters to the print provider as one batch
    dunning.scan         evaluate every dunnable claim (queues one dunning.evaluate per claim)

A job whose channel has no provider does nothing when it runs. An interval of 0 (settings)
switches a job off; `dunning.scan` is off unless asked for, because
sending reminders on its own is a decision for the finance department (`gateway dunning run` is
the manual way).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.config import Settings
from gateway.store.models import Job
from gateway.workers import queue

EBOX_RECEIPTS = "ebox.poll_receipts"
PEPPOL_STATUS = "peppol.poll_status"  # handler: gateway/channels/peppol/reconcile.py
PRINT_BATCH = "print.close_batch"
DUNNING_SCAN = "dunning.scan"


def schedule(settings: Settings) -> dict[str, int]:
    """Job kind -> interval in seconds, for the jobs switched on."""
    intervals = {
        EBOX_RECEIPTS: settings.ebox_receipt_poll_seconds,
        PEPPOL_STATUS: settings.peppol_status_poll_seconds,
        PRINT_BATCH: settings.print_batch_close_seconds,
        DUNNING_SCAN: settings.dunning_scan_seconds,
    }
    return {kind: seconds for kind, seconds in intervals.items() if seconds > 0}


def period_key(kind: str, interval_seconds: int, now: datetime) -> str:
    return f"{kind}:{int(now.timestamp()) // interval_seconds}"


def enqueue_due(session: Session, settings: Settings, *, now: datetime) -> list[str]:
    """Queue each periodic job not yet queued in its current period; returns the kinds queued."""
    queued = []
    for kind, interval in schedule(settings).items():
        key = period_key(kind, interval, now)
        if session.scalar(select(Job.id).where(Job.dedup_key == key)) is not None:
            continue
        try:
            with session.begin_nested():
                queue.enqueue(session, kind, {}, now=now, dedup_key=key)
        except IntegrityError:  # another worker queued it between our check and our insert
            continue
        queued.append(kind)
    return queued
