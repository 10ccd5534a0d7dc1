"""Benchmark: `gateway dunning run` over 100,000 open claims on PostgreSQL (issue 6), timed.

Run with `.venv/bin/python -m bench.bench_dunning_run [--claims N] [--keep]`.

A fresh database `gateway_bench_dunning` is created and migrated on the PostgreSQL server of the
tests (GATEWAY_TEST_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432/test). One
municipality (shipped ladder `municipality-non-fiscal`: reminder 1 the day after the due date,
booked on Mondays; a registered reminder 2; the college's dwangbevel list) gets 20,000 debtors
(60 % businesses, 40 % consumers) and N open claims, seeded set-wise (multi-row INSERTs of 5,000
rows, not timed). Due dates run evenly from 2026-11-01 to 2027-02-28; the run is for Monday
2026-12-07, so about 30 % of the claims are due for their first reminder. Every 33rd claim is on a
running manual hold.

Timed: `gateway.dunning.service.run`, the function `gateway dunning run` calls, once, then again
for the same day (which must record nothing). The run records each decision (`dunning_step` with
its dedup key, audit event) and queues one `dunning.send_step` job per reminder; issuing the
reminder documents through the router is the worker's job afterwards (not timed here, and these
claims have no invoice document or lines, so the worker would refuse them). The output says how
many jobs were left queued for business and for consumer debtors.
"""

from __future__ import annotations

import argparse
import os
import time
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import psycopg
from sqlalchemy import func, insert, select

from gateway.dunning import service
from gateway.kit.ids import new_id
from gateway.store.migrate import upgrade
from gateway.store.models import AuditEvent, Claim, ClaimHold, CreditorEntity, Debtor, DunningStep, Job
from gateway.store.session import Database

POSTGRES_ADMIN = os.environ.get("GATEWAY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
DATABASE_NAME = "gateway_bench_dunning"
DEFAULT_CLAIMS = 100_000  # issue 6: `dunning run` over 100,000 claims on PostgreSQL
DEBTORS = 20_000
CHUNK = 5_000  # rows per multi-row INSERT
AS_OF = date(2026, 12, 7)  # a Monday: the municipality's weekly booking day
FIRST_DUE = date(2026, 11, 1)
DUE_SPAN_DAYS = 120  # due dates 2026-11-01 .. 2027-02-28
HOLD_EVERY = 33  # every 33rd claim on a manual hold (≈ 3 %)
NOW = datetime(2026, 12, 7, 5, 0, tzinfo=timezone.utc)


def _database_url() -> str:
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {DATABASE_NAME} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {DATABASE_NAME}")
    return POSTGRES_ADMIN.rsplit("/", 1)[0] + "/" + DATABASE_NAME


def _ogm(index: int) -> str:
    base = 1_000_000_000 + index  # ten digits, unique per claim
    check = base % 97 or 97
    return f"{base:010d}{check:02d}"


def _chunks(rows: list[dict]):
    for start in range(0, len(rows), CHUNK):
        yield rows[start:start + CHUNK]


def seed(database: Database, claims: int) -> dict[str, int]:
    """One municipality, its debtors and `claims` open claims; returns the counts by debtor kind."""
    created = NOW - timedelta(days=60)
    with database.session_scope() as session:
        creditor_id = new_id()
        session.add(CreditorEntity(id=creditor_id, code="bench", kind="municipality", name="Gemeente Bench", iban="BE48320070184927",
                                   street="Markt 1", postal_code="9000", city="Gent", country="BE", created_at=created))
        session.flush()
        debtors = []
        for index in range(DEBTORS):
            business = index % 5 < 3
            debtors.append({
                "id": new_id(), "created_at": created, "creditor_id": creditor_id, "external_id": f"D-{index}", "kind": "business" if business else "consumer",
                "name": f"{'Bedrijf' if business else 'Inwoner'} {index}", "street": f"Kerkstraat {index % 200 + 1}", "postal_code": "9000",
                "city": "Gent", "country": "BE", "language": "nl",
            })
        for part in _chunks(debtors):
            session.execute(insert(Debtor), part)
        kinds: Counter = Counter()
        rows, holds = [], []
        for index in range(claims):
            debtor = debtors[index % DEBTORS]
            kinds[debtor["kind"]] += 1
            due = FIRST_DUE + timedelta(days=index % DUE_SPAN_DAYS)
            net = Decimal(50 + index % 900) + Decimal(index % 100) / 100
            on_hold = index % HOLD_EVERY == 0
            claim_id = new_id()
            rows.append({
                "id": claim_id, "created_at": created, "creditor_id": creditor_id, "debtor_id": debtor["id"], "number": f"B-{index:06d}",
                "claim_type": "invoice" if debtor["kind"] == "business" else "retribution", "fiscal": False, "currency": "EUR",
                "issue_date": due - timedelta(days=30), "due_date": due, "structured_communication": _ogm(index), "status": "on_hold" if on_hold else "open",
                "total_net": net, "total_vat": Decimal("0.00"), "total_amount": net, "amount_paid": Decimal("0.00"), "updated_at": created,
            })
            if on_hold:
                holds.append({"id": new_id(), "created_at": created, "claim_id": claim_id, "kind": "manual", "reason": "bench: payment arrangement by phone",
                              "author": "bench", "starts_on": AS_OF - timedelta(days=10), "ends_on": AS_OF + timedelta(days=30)})
        for part in _chunks(rows):
            session.execute(insert(Claim), part)
        for part in _chunks(holds):
            session.execute(insert(ClaimHold), part)
    return dict(kinds)


def _timed_run(database: Database):
    started = time.perf_counter()
    report = service.run(database, today=AS_OF, now=NOW)
    return report, time.perf_counter() - started


def _state(database: Database) -> dict:
    with database.session_scope() as session:
        steps = dict(session.execute(select(DunningStep.action, func.count()).group_by(DunningStep.action)).all())
        jobs = session.execute(
            select(Debtor.kind, Job.state, func.count())
            .select_from(Job).join(DunningStep, DunningStep.id == func.cast(Job.payload["step_id"].as_string(), DunningStep.id.type))
            .join(Claim, Claim.id == DunningStep.claim_id).join(Debtor, Debtor.id == Claim.debtor_id)
            .where(Job.kind == service.SEND_STEP).group_by(Debtor.kind, Job.state)
        ).all()
        audits = session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "dunning.step_decided"))
    return {"steps": steps, "send_step_jobs": {f"{kind}/{state}": count for kind, state, count in jobs}, "audit_step_decided": audits}


def _print_report(label: str, report, seconds: float) -> None:
    rate = report.evaluated / seconds if seconds else 0.0
    print(f"{label}: {report.evaluated:,} claims evaluated in {seconds:.1f} s ({rate:,.0f} claims/s)")
    print(f"  recorded: {dict(report.recorded) or 'nothing'}; already recorded: {report.already_recorded:,}")
    print(f"  waits: {dict(sorted(report.waiting.items()))}; refused: {dict(report.refused) or 'none'}")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=DEFAULT_CLAIMS)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args(argv)
    url = _database_url()
    upgrade(url)
    database = Database(url)
    try:
        started = time.perf_counter()
        kinds = seed(database, args.claims)
        print(f"seeded {args.claims:,} open claims ({kinds}) of {DEBTORS:,} debtors in {time.perf_counter() - started:.1f} s (not timed below)")
        first, first_seconds = _timed_run(database)
        _print_report(f"dunning run {AS_OF.isoformat()} (first)", first, first_seconds)
        after_first = _state(database)
        second, second_seconds = _timed_run(database)
        _print_report(f"dunning run {AS_OF.isoformat()} (again, same day)", second, second_seconds)
        after_second = _state(database)
        print(f"  stored after the first run: {after_first}")
        print(f"  the second run changed nothing: {after_first == after_second}")
        return {
            "claims": args.claims, "first_seconds": first_seconds, "second_seconds": second_seconds, "recorded": dict(first.recorded),
            "waiting": dict(first.waiting), "unchanged": after_first == after_second, "state": after_first,
        }
    finally:
        database.dispose()
        if not args.keep:
            with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as connection:
                connection.execute(f"DROP DATABASE IF EXISTS {DATABASE_NAME} WITH (FORCE)")


if __name__ == "__main__":
    main()
