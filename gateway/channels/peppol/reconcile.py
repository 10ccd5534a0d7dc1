"""Re-fetching the access point's status for Peppol dispatches whose callbacks went missing.

A callback can be lost (our endpoint down longer than the AP retries, a network split). A
Peppol dispatch still `sent` `peppol_status_poll_after_seconds` after its last change is asked
about with the contract's `GET {base}/documents/{id}` (README.md beside this file). Each event
the answer lists that we have not had by callback is stored in the inbox under source
`peppol/poll` (unique on the AP's event id, so a second poll stores nothing again) and applied
by the same `inbox.apply` worker as a callback: the same table, never backwards, the same
`dispatch.reported` history (with `source: peppol/poll`), holds and PD marks.

The job `peppol.poll_status` is queued by the workers' sweep once per
`peppol_status_poll_seconds` (`gateway.workers.periodic`). It claims nothing: it reads the candidates, commits, calls the AP
outside any transaction, and stores each answer in its own short transaction.

`StatusPollSource` is the verifier the worker finds for source `peppol/poll`. Polls are not
callbacks: anything POSTed to `/v1/callbacks/peppol/poll` is refused, whatever it carries.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.channels.base import CallbackEvent, CallbackRejected
from gateway.channels.peppol.provider import CHANNEL, SOURCE as CALLBACK_SOURCE, PeppolProvider
from gateway.channels.registry import ProviderRegistry
from gateway.config import Settings
from gateway.delivery import inbox
from gateway.domain.transmission import DeliveryState as D
from gateway.errors import RetryableError, TerminalError
from gateway.kit.time import utc_now
from gateway.store.models import Dispatch, InboundEvent
from gateway.workers.registry import Task, handler

SOURCE = "peppol/poll"
POLL = "peppol.poll_status"

log = logging.getLogger("gateway.peppol.poll")


class StatusPollSource:
    """The inbox source of status-poll answers; `parse_callback` reads a stored answer back."""

    source = SOURCE

    def __init__(self, provider: PeppolProvider) -> None:
        self.provider = provider

    def verify_callback(self, headers: dict[str, str], body: bytes, now: datetime) -> list[CallbackEvent]:
        raise CallbackRejected("peppol/poll is not a callback endpoint: status answers are fetched by the gateway itself")

    def parse_callback(self, headers: dict[str, str], body: bytes) -> list[CallbackEvent]:
        return reports_in(self.provider, json.loads(body), check=False)[0]


def reports_in(provider: PeppolProvider, answer: dict, *, check: bool) -> tuple[list[CallbackEvent], list[str]]:
    """The events of a status answer as our reports, and why any were refused (unknown, fails T71 / T111)."""
    events = answer.get("events") if isinstance(answer, dict) else None
    if not isinstance(answer, dict) or not isinstance(answer.get("id"), str) or not isinstance(events, list):
        raise TerminalError("status answer without an id and an events list")
    reports, refused = [], []
    for entry in events:
        try:
            reports.append(provider.report_of({**entry, "document_id": answer["id"]} if isinstance(entry, dict) else entry, check=check))
        except CallbackRejected as exc:
            refused.append(f"{entry.get('event_id') if isinstance(entry, dict) else entry!r}: {exc}")
    return reports, refused


def add_status_poll(providers: ProviderRegistry) -> None:
    """Make `peppol/poll` inbox rows applicable wherever a Peppol provider is configured."""
    provider = providers.for_channel(CHANNEL)
    if isinstance(provider, PeppolProvider) and SOURCE not in providers.verifiers:
        providers.add_verifier(StatusPollSource(provider))


@dataclass
class PollReport:
    asked: int = 0
    stored: int = 0  # new inbox rows (each applied by inbox.apply)
    known: int = 0  # events we already had, by callback or by an earlier poll
    unreachable: int = 0  # the AP did not answer (tried again next period)
    refused: list[str] = field(default_factory=list)


def candidates(session: Session, *, now: datetime, after_seconds: int, limit: int) -> list[str]:
    """AP document ids of Peppol dispatches left `sent` longer than `after_seconds`, oldest first."""
    return list(session.scalars(
        select(Dispatch.provider_message_id)
        .where(Dispatch.channel == CHANNEL, Dispatch.state == D.SENT.value, Dispatch.provider_message_id.is_not(None),
               Dispatch.updated_at < now - timedelta(seconds=after_seconds))
        .order_by(Dispatch.updated_at).limit(limit)
    ))


def poll(database, provider: PeppolProvider, settings: Settings, *, now: datetime) -> PollReport:
    report = PollReport()
    with database.session_scope() as session:
        document_ids = candidates(session, now=now, after_seconds=settings.peppol_status_poll_after_seconds, limit=settings.peppol_status_poll_batch)
    for document_id in document_ids:
        report.asked += 1
        try:
            answer, raw = provider.client.fetch_status(document_id)
            if answer.get("id") != document_id:
                raise TerminalError(f"asked about {document_id}, the AP answered about {answer.get('id')!r}")
            reports, refused = reports_in(provider, answer, check=True)
        except (RetryableError, TerminalError) as exc:
            # Not fatal for the others: this one is asked again next period while it stays `sent`.
            log.warning("peppol.poll_failed document=%s error=%s", document_id, exc)
            report.unreachable += 1
            continue
        report.refused.extend(refused)
        with database.session_scope() as session:
            by_callback = set(session.scalars(select(InboundEvent.external_id).where(
                InboundEvent.source == CALLBACK_SOURCE, InboundEvent.external_id.in_([r.external_id for r in reports]))))
            for event in reports:
                if event.external_id in by_callback:
                    report.known += 1
                    continue
                stored = inbox.store(session, SOURCE, event, headers={"content-type": "application/json"}, body=raw, now=utc_now())
                report.stored += stored
                report.known += not stored
    return report


@handler(POLL, own_transactions=True)
def poll_status(task: Task, payload: dict, now: datetime) -> None:
    """Nothing to do without a Peppol provider."""
    provider = task.providers.for_channel(CHANNEL) if task.providers is not None else None
    if isinstance(provider, PeppolProvider):
        report = poll(task.database, provider, task.settings, now=now)
        log.info("peppol.poll asked=%d stored=%d known=%d unreachable=%d refused=%d", report.asked, report.stored, report.known, report.unreachable, len(report.refused))
