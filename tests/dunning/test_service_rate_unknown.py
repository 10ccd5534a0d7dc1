"""A claim whose interest needs an unpublished reference rate, on the store (SQLite and PostgreSQL):
the run waits for that claim only and says so once a day in the audit trail, the API answers the
decision (not 409), and an operator's rate file lets it escalate."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import select

from dunning_support import deliver_step, evaluate, store_claim
from gateway.app import create_app
from gateway.cli import main
from gateway.config import get_settings
from gateway.dunning import service
from gateway.dunning.rates import load_rates_file
from gateway.store.models import AuditEvent, DunningStep
from tests.factories import bearer, claim_payload, consumer_claim
from tests.dunning.dunning_support import seeded, utc  # noqa: F401 - fixtures

H2_2026 = {"period": "2026-H2", "from": "2026-07-01", "to": "2026-12-31", "percent": "10.5",
           "source": "FOD Financien, mededeling BS 2026-07-14", "confidence": "V"}


@pytest.fixture
def claims(database, seeded):
    """A hospital bill (45.00, consumer) at the bailiff step on 2026-07-09, and a municipality invoice due 2026-07-01.

    Step 1 goes out on 2 June (Tue) and states the paper presumption: 3rd working day 5 June + 14 = 19 June;
    step 2 on paper on Sat 20 June: Mon 22, Tue 23, Wed 24 June + 14 = 8 July; the bailiff from 9 July."""
    bill = consumer_claim("Z2026-0700", issue_date="2026-05-02", due_date="2026-06-01")
    bill["type"] = "invoice"
    hospital = store_claim(database, seeded.hospital_key, bill)
    first = evaluate(database, hospital, date(2026, 6, 2))
    deliver_step(database, first.step_id, channel="email", state="sent", sent_at=utc(2026, 6, 2, 9), number=1)
    second = evaluate(database, hospital, date(2026, 6, 20))
    assert (second.decision.step, second.recorded) == (2, True), second.decision.detail
    deliver_step(database, second.step_id, channel="paper", state="sent", sent_at=utc(2026, 6, 20, 9), number=2)
    municipality = store_claim(database, seeded.municipality_key, claim_payload("F2026-0700", issue_date="2026-06-01", due_date="2026-07-01"))
    return hospital, municipality


def rate_unknown_events(database, claim_id):
    with database.session_scope() as session:
        return [(e.actor, e.data["today"], e.data["missing_rate"]) for e in session.scalars(
            select(AuditEvent).where(AuditEvent.entity_id == claim_id, AuditEvent.action == "dunning.rate_unknown").order_by(AuditEvent.id))]


def test_run_waits_for_that_claim_only_and_records_it_once_a_day(database, claims, tmp_path):
    hospital, municipality = claims
    day = date(2026, 7, 9)
    report = service.run(database, today=day, now=utc(2026, 7, 9, 5))
    # the municipality invoice gets its first reminder (booked Monday 6 July); the hospital bill waits
    assert (report.evaluated, dict(report.recorded), dict(report.waiting), dict(report.refused)) == (2, {"send_step": 1}, {"rate_unknown": 1}, {})
    again = service.run(database, today=day, now=utc(2026, 7, 9, 15))
    assert (dict(again.recorded), again.already_recorded, dict(again.waiting)) == ({}, 1, {"rate_unknown": 1})
    service.run(database, today=date(2026, 7, 10), now=utc(2026, 7, 10, 5))
    assert rate_unknown_events(database, hospital) == [
        ("dunning.run", "2026-07-09", "b2b_reference_rate 2026-H2"),
        ("dunning.run", "2026-07-10", "b2b_reference_rate 2026-H2"),
    ]
    assert rate_unknown_events(database, municipality) == []
    with database.session_scope() as session:
        assert [(s.step, s.action) for s in session.scalars(select(DunningStep).where(DunningStep.claim_id == hospital).order_by(DunningStep.created_at))] == [
            (1, "send_step"), (2, "send_step")]  # no escalation recorded without the rate

    # the operator adds the published rate: the same claim escalates with the merged table's version
    path = tmp_path / "rates.json"
    path.write_text(json.dumps({"version": "ops-1", "b2b_reference_rate": [H2_2026]}), encoding="utf-8")
    rates = load_rates_file(path)
    escalated = service.run(database, today=date(2026, 7, 13), now=utc(2026, 7, 13, 5), rates=rates)
    assert dict(escalated.recorded) == {"escalate": 1}
    with database.session_scope() as session:
        row = session.scalar(select(DunningStep).where(DunningStep.claim_id == hospital, DunningStep.action == "escalate"))
        # 45.00: lump sum 20.00; interest 20 June .. 13 July = 24 days at 10.5 %: 45 x 10.5 % x 24/365 = 0.3107
        assert (row.lump_sum, row.interest, row.rate_version) == (Decimal("20.00"), Decimal("0.31"), "2026-11-23.1+ops-1")
        assert [(a["rule"], a["amount"], a["rate_version"]) for a in row.amounts] == [
            ("BXIX-LUMP-SUM", "20.00", None), ("BXIX-INTEREST-CAP", "0.31", "2026-11-23.1+ops-1")]


def test_api_answers_the_decision_not_409(database, seeded, claims, settings, tmp_path):
    hospital, _ = claims
    app = create_app(settings, database=database)
    with TestClient(app) as client:
        response = client.get(f"/v1/claims/{hospital}/dunning", params={"as_of": "2026-07-09"}, headers=bearer(seeded.hospital_key))
    assert response.status_code == 200, response.text
    nxt = response.json()["next"]
    assert (nxt["action"], nxt["reason"], nxt["missing_rate"], nxt["rate_version"], nxt["wait_until"]) == (
        "wait", "rate_unknown", "b2b_reference_rate 2026-H2", "2026-11-23.1", None)
    assert nxt["detail"].startswith("interest needs the b2b_reference_rate for 2026-H2 (2026-07-01..2026-12-31)")

    path = tmp_path / "rates.json"
    path.write_text(json.dumps({"version": "ops-1", "b2b_reference_rate": [H2_2026]}), encoding="utf-8")
    with TestClient(create_app(settings.model_copy(update={"dunning_rates_file": path}), database=database)) as client:
        nxt = client.get(f"/v1/claims/{hospital}/dunning", params={"as_of": "2026-07-09"}, headers=bearer(seeded.hospital_key)).json()["next"]
    # 20 June .. 9 July = 20 days: 45 x 10.5 % x 20/365 = 0.2589
    assert (nxt["action"], nxt["rate_version"], [(a["rule"], a["amount"]) for a in nxt["amounts"]]) == (
        "escalate", "2026-11-23.1+ops-1", [("BXIX-LUMP-SUM", "20.00"), ("BXIX-INTEREST-CAP", "0.26")])
    assert rate_unknown_events(database, hospital) == []  # a preview writes nothing


def test_cli_run_reports_the_wait_and_refuses_a_bad_rates_file(database, cli_database, claims, monkeypatch, tmp_path):
    result = CliRunner().invoke(main, ["dunning", "run", "--today", "2026-07-09"])
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"version": "ops-1", "b2b_reference_rate": [{**H2_2026, "from": "2026-08-01"}]}), encoding="utf-8")
    monkeypatch.setenv("GATEWAY_DUNNING_RATES_FILE", str(bad))
    get_settings.cache_clear()
    refused = CliRunner().invoke(main, ["dunning", "run", "--today", "2026-07-10"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "dunning run 2026-07-09: 2 claims evaluated",
        "  recorded send_step  1",
        "  recorded escalate   0",
        "  already recorded    0",
        "  wait rate_unknown    1",
    ]
    assert refused.exit_code == 1
    assert refused.output.splitlines()[1].startswith("  RATES-OVERLAP  b2b_reference_rate.0: 2026-H2 (2026-08-01..2026-12-31) covers only part of the unknown period")
    assert len(rate_unknown_events(database, claims[0])) == 1  # the refused run decided nothing
