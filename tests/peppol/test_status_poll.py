"""Re-fetching the access point's status when callbacks are lost, on SQLite and PostgreSQL.

The sandbox AP withholds every callback for two receivers (UQ and PD outcomes); the third
receiver's callbacks arrive over HTTP as usual. Peppol dispatches left `sent` for longer than
`peppol_status_poll_after_seconds` are asked about with GET /documents/{id} over loopback HTTP;
each listed event is stored once in the inbox as `peppol/poll` and applied by the same worker
path as a callback: exact states, the UQ hold, the PD mark, and a history naming the poll."""

from __future__ import annotations

import time
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from gateway.app import create_app
from gateway.channels.peppol import reconcile
from gateway.kit.time import utc_now
from gateway.store.models import AuditEvent, Claim, ClaimHold, Dispatch, InboundEvent, Job
from tests.peppol.fixtures_discovery import test_pki, untrusted_pki  # noqa: F401 - fixtures
from tests.peppol.test_ap_delivery import BY_DIGIT, issue, peppol_by_recipient, world  # noqa: F401 - fixture

QUERY, PAID, DELIVERED = (f"0208:{BY_DIGIT[digit]}" for digit in "742")


def inbox_rows(database) -> list[tuple[str, str, bool]]:
    with database.session_scope() as session:
        rows = session.scalars(select(InboundEvent).order_by(InboundEvent.source, InboundEvent.external_id)).all()
        return [(row.source, row.external_id, row.handled_at is not None and row.error is None) for row in rows]


def test_lost_callbacks_are_recovered_by_polling_the_ap_and_applied_once(database, world):  # noqa: F811
    ap = world.start_ap(callback_url=None)
    ap.callback_url = world.serve()
    ap.withhold = {QUERY, PAID}
    for digit in "742":
        issue(world, f"POLL-{digit}", BY_DIGIT[digit])
    world.worker.drain()
    assert ap.wait_idle(60)
    time.sleep(0.05)
    world.worker.drain()
    assert len(ap.withheld) == 5 and ap.refused == []
    states = {recipient: d.state for recipient, d in peppol_by_recipient(database).items()}
    assert states == {QUERY: "sent", PAID: "sent", DELIVERED: "delivered"}
    provider = world.providers.for_channel("peppol")

    # Younger than the setting: not asked about.
    assert reconcile.poll(database, provider, world.settings, now=utc_now()).asked == 0
    with database.session_scope() as session:
        session.execute(update(Dispatch).values(updated_at=utc_now() - timedelta(seconds=world.settings.peppol_status_poll_after_seconds + 60)))
    first = reconcile.poll(database, provider, world.settings, now=utc_now())
    assert (first.asked, first.stored, first.known, first.unreachable, first.refused) == (2, 5, 0, 0, [])
    again = reconcile.poll(database, provider, world.settings, now=utc_now())  # before the worker applied anything
    assert (again.asked, again.stored, again.known) == (2, 0, 5)
    world.worker.drain()

    by_recipient = peppol_by_recipient(database)
    query_doc, paid_doc, delivered_doc = (by_recipient[r].provider_message_id for r in (QUERY, PAID, DELIVERED))
    assert inbox_rows(database) == sorted(
        [("peppol-ap", f"{delivered_doc}:1", True)]
        + [("peppol/poll", f"{query_doc}:{n}", True) for n in (1, 2)]
        + [("peppol/poll", f"{paid_doc}:{n}", True) for n in (1, 2, 3)]
    )
    assert {r: d.state for r, d in by_recipient.items()} == {QUERY: "delivered", PAID: "paid", DELIVERED: "delivered"}
    with database.session_scope() as session:
        reported = session.scalars(select(AuditEvent).where(AuditEvent.action == "dispatch.reported").order_by(AuditEvent.id)).all()
        assert sorted((e.data["source"], e.data["reported"], e.data.get("response_code", "-")) for e in reported) == sorted([
            ("peppol-ap", "delivered", "AP"),
            ("peppol/poll", "delivered", "-"), ("peppol/poll", "delivered", "UQ"),
            ("peppol/poll", "delivered", "-"), ("peppol/poll", "accepted", "AP"), ("peppol/poll", "paid", "PD"),
        ])
        holds = session.execute(select(Claim.number, Claim.status, ClaimHold.kind, ClaimHold.author).join(ClaimHold, ClaimHold.claim_id == Claim.id).order_by(Claim.number)).all()
        assert [tuple(h) for h in holds] == [("POLL-4", "on_hold", "manual", "peppol"), ("POLL-7", "disputed", "buyer_response_uq", "peppol-ap")]

    # The sweep queues the poll once per period; with nothing left in `sent` it asks nothing.
    world.worker.sweep()
    world.worker.sweep()
    with database.session_scope() as session:
        assert len(session.scalars(select(Job).where(Job.kind == reconcile.POLL)).all()) == 1
    world.worker.drain()
    with database.session_scope() as session:
        assert session.scalar(select(Job.state).where(Job.kind == reconcile.POLL)) == "done"

    # The lost callbacks turn up after all: stored (their own source), applied, nothing moves back or twice.
    with TestClient(create_app(world.settings, database=database, providers=world.providers)) as client:
        for headers, body in ap.withheld:
            assert client.post("/v1/callbacks/peppol-ap", content=body, headers=headers).json() == {"stored": 1, "duplicates": 0}
        # A poll answer cannot be posted to us: the poll source is no callback endpoint.
        headers, body = ap.withheld[0]
        refused = client.post("/v1/callbacks/peppol/poll", content=body, headers=headers)
        assert refused.status_code == 401 and "not a callback endpoint" in refused.text
    world.worker.drain()
    assert {r: d.state for r, d in peppol_by_recipient(database).items()} == {QUERY: "delivered", PAID: "paid", DELIVERED: "delivered"}
    with database.session_scope() as session:
        assert len(session.scalars(select(ClaimHold)).all()) == 2
        assert len(session.scalars(select(InboundEvent).where(InboundEvent.source == "peppol/poll")).all()) == 5
        assert session.scalar(select(Job).where(Job.state == "failed")) is None


def test_an_unreachable_ap_is_asked_again_next_period(database, world):  # noqa: F811
    ap = world.start_ap(callback_url=None)
    ap.withhold = {QUERY}
    issue(world, "POLL-DOWN", BY_DIGIT["7"])
    world.worker.drain()
    assert ap.wait_idle(60)
    with database.session_scope() as session:
        session.execute(update(Dispatch).values(updated_at=utc_now() - timedelta(hours=2)))
    provider = world.providers.for_channel("peppol")
    ap.stop()
    down = reconcile.poll(database, provider, world.settings, now=utc_now())  # connection refused
    assert (down.asked, down.stored, down.unreachable) == (1, 0, 1)
    world.ap = None  # stopped already
    with database.session_scope() as session:
        assert session.scalar(select(Dispatch.state).where(Dispatch.channel == "peppol")) == "sent"
        assert session.scalars(select(InboundEvent)).all() == []
