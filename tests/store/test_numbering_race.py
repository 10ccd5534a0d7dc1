"""A creditor's first document number taken by two workers at once: both get a number (1 and 2),
neither fails on the sequence row's primary key (found by the soak run with two workers)."""

from __future__ import annotations

import threading
import time

from sqlalchemy import select

from gateway.services.documents import next_number
from gateway.store.models import CreditorEntity, DocumentSequence
from tests.factories import seed_creditors


def test_two_first_numbers_at_once_are_1_and_2(database):
    seed_creditors(database)
    with database.session_scope() as session:
        creditor_id = session.scalar(select(CreditorEntity.id).where(CreditorEntity.code == "gent"))
    first_holds = threading.Event()
    results, errors = {}, []

    def take(name: str, hold: float) -> None:
        try:
            with database.session_scope() as session:
                results[name] = next_number(session, creditor_id, "INV")
                if hold:
                    first_holds.set()
                    time.sleep(hold)  # the other worker arrives while this transaction is open
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    first = threading.Thread(target=take, args=("first", 0.5))
    first.start()
    first_holds.wait(10)
    second = threading.Thread(target=take, args=("second", 0))
    second.start()
    first.join(20)
    second.join(20)
    assert errors == []
    assert (results["first"], results["second"]) == ((1, "INV000001"), (2, "INV000002"))
    with database.session_scope() as session:
        assert session.scalar(select(DocumentSequence.next_value).where(DocumentSequence.creditor_id == creditor_id, DocumentSequence.prefix == "INV")) == 3
