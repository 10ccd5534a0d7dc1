"""The events feed's commit-order gap on PostgreSQL, with two real concurrent connections.

(Here with the Peppol tests because that is where its author may add files; it is the feed of
`gateway/services/events.py`, which buyer responses and dispatch reports publish into.)

Transaction A draws event id N and stays open; transaction B draws N+1 and commits. A plain
`id > cursor` read now sees N+1 only: a client that advanced its cursor to N+1 would never see
N. The fenced feed waits for A instead and then serves N and N+1 in order, or, when A rolls
back, N+1 alone; a reader that waits too long gets an empty page and keeps its cursor.
"""

from __future__ import annotations

import threading
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from gateway.app import create_app
from gateway.kit.time import utc_now
from gateway.services import events
from gateway.store.models import CreditorEntity, Event
from tests.factories import seed_creditors

pytestmark = pytest.mark.parametrize("database", ["postgres"], indirect=True)


def publish(session, creditor_id, label: str) -> int:
    return events.publish(session, creditor_id=creditor_id, type="payment.recorded", claim_id=None, data={"label": label}, now=utc_now())


def creditor_id(database, code: str = "gent"):
    with database.session_scope() as session:
        return session.scalar(select(CreditorEntity.id).where(CreditorEntity.code == code))


class Reader(threading.Thread):
    """GET /v1/events in its own thread (and so its own connection), as a polling client would."""

    def __init__(self, client: TestClient, key: str, after: str | None = None) -> None:
        super().__init__(daemon=True)
        self.client, self.key, self.after, self.answer = client, key, after, None

    def run(self) -> None:
        params = {"after": self.after} if self.after else {}
        self.answer = self.client.get("/v1/events", params=params, headers={"Authorization": f"Bearer {self.key}"}).json()


def test_a_reader_never_skips_an_event_committed_after_a_higher_one(database, settings):
    keys = seed_creditors(database)
    gent = creditor_id(database)
    slow = database.sessionmaker()  # connection A
    try:
        first = publish(slow, gent, "A")  # drawn first, committed last
        with database.session_scope() as fast:  # connection B
            second = publish(fast, gent, "B")
        assert second > first
        # The gap, shown with the plain query the feed used before: B is visible, A is not.
        with database.session_scope() as plain:
            assert list(plain.scalars(select(Event.id).where(Event.creditor_id == gent, Event.id > 0).order_by(Event.id))) == [second]
        # The fenced page waits for A; with a short wait it serves nothing rather than B alone.
        with database.session_scope() as session:
            assert events.page(session, [gent], after=None, limit=10, wait_seconds=0.2) == []
        with TestClient(create_app(settings, database=database)) as client:
            reader = Reader(client, keys.municipality_key)
            reader.start()
            time.sleep(0.5)
            assert reader.is_alive()  # still waiting for A
            slow.commit()
            reader.join(10)
            assert [item["data"]["label"] for item in reader.answer["items"]] == ["A", "B"]
            assert [item["id"] for item in reader.answer["items"]] == [str(first), str(second)]
            cursor = reader.answer["next_cursor"]

            # A rolled-back id leaves a hole that is settled, not waited for: the next page is B' alone.
            third = publish(slow, gent, "rolled back")
            with database.session_scope() as fast:
                fourth = publish(fast, gent, "B2")
            reader = Reader(client, keys.municipality_key, after=cursor)
            reader.start()
            time.sleep(0.3)
            assert reader.is_alive()
            slow.rollback()
            reader.join(10)
            assert [item["id"] for item in reader.answer["items"]] == [str(fourth)] and fourth > third
    finally:
        slow.close()


def test_publishers_do_not_wait_for_each_other_or_for_readers(database):
    seed_creditors(database)
    gent = creditor_id(database)
    open_sessions = [database.sessionmaker() for _ in range(3)]
    try:
        # Three transactions publish at the same time and stay open: none waits (shared locks).
        started = time.monotonic()
        ids = [publish(session, gent, f"open {n}") for n, session in enumerate(open_sessions)]
        assert time.monotonic() - started < 2
        assert ids == sorted(ids)
        # A reader waiting on them does not block a new publisher either.
        seen: list = []
        with database.session_scope() as reading:
            waiter = threading.Thread(target=lambda: seen.append(events.page(reading, [gent], after=None, limit=10, wait_seconds=10)), daemon=True)
            waiter.start()
            time.sleep(0.2)
            with database.session_scope() as fast:
                started = time.monotonic()
                late = publish(fast, gent, "late")
            assert time.monotonic() - started < 1
            for session in open_sessions:
                session.commit()
            waiter.join(10)
        # The reader served what had been drawn when it started (the three), not the late one yet.
        assert [event.id for event in seen[0]] == ids
        with database.session_scope() as session:
            assert [event.id for event in events.page(session, [gent], after=ids[-1], limit=10)] == [late]
    finally:
        for session in open_sessions:
            session.close()
