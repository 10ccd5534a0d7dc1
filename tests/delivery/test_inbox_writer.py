"""Group commit of callback intake (`gateway.delivery.inbox_writer`): callbacks that wait together
are committed as one transaction, each caller learns its own count of new events, repeats are
stored once, and a callback the database refuses fails alone. SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import event, select, text

from gateway.channels.base import CallbackEvent
from gateway.channels.delivery_state import DeliveryState
from gateway.delivery import inbox
from gateway.delivery.inbox_writer import InboxWriter
from gateway.kit.time import utc_now
from gateway.store.models import InboundEvent, Job


def arrival(external_id: str, source: str = "sms") -> inbox.Arrival:
    report = CallbackEvent(external_id=external_id, provider_message_id=f"m-{external_id}", state=DeliveryState.DELIVERED)
    return inbox.Arrival(source, (report,), {"content-type": "application/json", "authorization": "secret"}, external_id.encode(), utc_now())


def count_commits(database) -> list[int]:
    commits = [0]

    @event.listens_for(database.engine, "commit")
    def _on_commit(connection) -> None:
        commits[0] += 1

    return commits


def hold_the_inbox(database):
    """Another transaction that keeps the writer's first INSERT waiting (returns the connection to release)."""
    connection = database.engine.connect()
    connection.begin()  # on SQLite the engine's BEGIN IMMEDIATE takes the write lock
    if not database.is_sqlite:
        connection.execute(text("LOCK TABLE inbound_event IN EXCLUSIVE MODE"))
    return connection


def store_concurrently(writer: InboxWriter, arrivals: list[inbox.Arrival], database) -> dict[str, object]:
    """Store the first arrival while the inbox is held, queue the rest behind it, then let go."""
    results: dict[str, object] = {}

    def store(item: inbox.Arrival) -> None:
        try:
            results[item.events[0].external_id + "@" + str(id(item))] = writer.store(item)
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            results[item.events[0].external_id + "@" + str(id(item))] = exc

    holder = hold_the_inbox(database)
    threads = [threading.Thread(target=store, args=(arrivals[0],))]
    threads[0].start()
    time.sleep(0.3)  # the writer took the first callback and waits on the held inbox
    threads += [threading.Thread(target=store, args=(item,)) for item in arrivals[1:]]
    for thread in threads[1:]:
        thread.start()
    deadline = time.monotonic() + 10
    while writer._waiting.qsize() < len(arrivals) - 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert writer._waiting.qsize() == len(arrivals) - 1
    holder.rollback()
    holder.close()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_callbacks_that_wait_together_are_committed_in_one_transaction(database):
    writer = InboxWriter(database)
    arrivals = [arrival(f"e{n}") for n in range(20)] + [arrival("e3"), arrival("e7")]  # two repeats
    commits = count_commits(database)
    try:
        results = store_concurrently(writer, arrivals, database)
    finally:
        writer.close()
    assert commits[0] == 2  # the first callback alone, then the 21 that waited, together
    by_id: dict[str, list[object]] = {}
    for key, value in results.items():
        by_id.setdefault(key.split("@")[0], []).append(value)
    assert {external_id: sorted(values) for external_id, values in by_id.items() if external_id in ("e3", "e7")} == {"e3": [0, 1], "e7": [0, 1]}
    assert all(values == [1] for external_id, values in by_id.items() if external_id not in ("e3", "e7"))
    with database.session_scope() as session:
        stored = session.execute(select(InboundEvent.external_id, InboundEvent.headers)).all()
        jobs = session.scalars(select(Job.dedup_key).where(Job.kind == inbox.APPLY)).all()
    assert sorted(external_id for external_id, _ in stored) == sorted(f"e{n}" for n in range(20))
    assert {frozenset(headers) for _, headers in stored} == {frozenset({"content-type"})}  # no secrets kept
    assert len(jobs) == 20 and len(set(jobs)) == 20


def test_a_callback_already_stored_is_a_duplicate(database):
    writer = InboxWriter(database)
    try:
        assert writer.store(arrival("once")) == 1
        assert writer.store(arrival("once")) == 0
        assert writer.store(arrival("once", source="peppol-ap")) == 1  # unique per source
    finally:
        writer.close()
    with database.session_scope() as session:
        assert sorted(session.execute(select(InboundEvent.source, InboundEvent.external_id)).all()) == [("peppol-ap", "once"), ("sms", "once")]
        assert len(session.scalars(select(Job.id)).all()) == 2


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
def test_a_callback_the_database_refuses_fails_alone(database):
    # PostgreSQL refuses a NUL character in text: that callback's caller gets the error (the API
    # answers 5xx, the provider retries); the callbacks batched with it are stored all the same.
    writer = InboxWriter(database)
    arrivals = [arrival("good-0"), arrival("bad\x00id"), arrival("good-1"), arrival("good-2")]
    try:
        results = store_concurrently(writer, arrivals, database)
    finally:
        writer.close()
    outcome = {key.split("@")[0]: value for key, value in results.items()}
    assert {key: value for key, value in outcome.items() if key.startswith("good")} == {"good-0": 1, "good-1": 1, "good-2": 1}
    assert "NUL" in str(outcome["bad\x00id"]) or "0x00" in str(outcome["bad\x00id"])
    with database.session_scope() as session:
        assert sorted(session.scalars(select(InboundEvent.external_id))) == ["good-0", "good-1", "good-2"]
        assert len(session.scalars(select(Job.id)).all()) == 3
