"""The rate table an operator extends without a code change (GATEWAY_DUNNING_RATES_FILE), the
`gateway dunning rates` commands, and `dunning plan` with a claim that needs an unpublished rate."""

from __future__ import annotations

import json
import os
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.config import get_settings
from gateway.dunning.cli import dunning_group
from gateway.dunning.rates import RatesRefused, configured_rates, default_rates, load_rates_file, merge_rates

ROOT = Path(__file__).parents[2]
H2_2026 = {"period": "2026-H2", "from": "2026-07-01", "to": "2026-12-31", "percent": "10.5",
           "source": "FOD Financien, mededeling BS 2026-07-14", "confidence": "V"}
H1_2027 = {"period": "2027-H1", "from": "2027-01-01", "to": "2027-06-30", "percent": "10.0",
           "source": "FOD Financien, mededeling BS 2027-01-20", "confidence": "V"}


def rates_file(tmp_path, *rows, version="ops-2026-07-15.1", table="b2b_reference_rate", name="rates.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps({"version": version, table: list(rows)}), encoding="utf-8")
    return path


def refused(document) -> list[tuple[str, str]]:
    with pytest.raises(RatesRefused) as caught:
        merge_rates(default_rates(), document, origin="ops.json")
    return [(p.rule, p.field) for p in caught.value.problems]


def test_published_schema_is_the_packaged_one():
    assert (ROOT / "schemas" / "dunning-rates.schema.json").read_bytes() == (ROOT / "gateway" / "dunning" / "dunning-rates.schema.json").read_bytes()


def test_operator_fills_the_unknown_half_year_and_extends_the_table():
    table = merge_rates(default_rates(), {"version": "ops-1", "b2b_reference_rate": [H2_2026, H1_2027]}, origin="ops.json")
    assert table.version == "2026-11-23.1+ops-1"
    tail = [(r.period, r.percent, r.confidence, r.origin) for r in table.tables["b2b_reference_rate"][-3:]]
    assert tail == [("2026-H1", Decimal("10.5"), "S", "shipped"), ("2026-H2", Decimal("10.5"), "V", "ops.json"), ("2027-H1", Decimal("10.0"), "V", "ops.json")]
    assert table.percent_on("b2b_reference_rate", date(2027, 3, 1)) == Decimal("10.0")
    # the shipped table itself is unchanged
    assert default_rates().tables["b2b_reference_rate"][-1].percent is None


def test_a_later_period_may_follow_the_unknown_one_which_stays_unknown():
    table = merge_rates(default_rates(), {"version": "ops-2", "b2b_reference_rate": [H1_2027]}, origin="ops.json")
    assert [(r.period, r.percent) for r in table.tables["b2b_reference_rate"][-2:]] == [("2026-H2", None), ("2027-H1", Decimal("10.0"))]


def test_overlaps_gaps_and_bad_periods_are_refused_naming_the_rule():
    # a published half-year cannot be overwritten
    assert refused({"version": "x", "b2b_reference_rate": [{**H2_2026, "period": "2026-H1", "from": "2026-01-01", "to": "2026-06-30"}]}) == [
        ("RATES-OVERLAP", "b2b_reference_rate.0")]
    # an unknown period is replaced with exactly its dates, not a part of it
    assert refused({"version": "x", "b2b_reference_rate": [{**H2_2026, "to": "2026-09-30"}]}) == [("RATES-OVERLAP", "b2b_reference_rate.0")]
    # two periods of the file overlap each other
    assert refused({"version": "x", "b2b_reference_rate": [H1_2027, {**H1_2027, "from": "2027-03-01"}]}) == [
        ("RATES-OVERLAP", "b2b_reference_rate.1")]
    # 2027-H1 is missing between the table's end and 2027-H2
    assert refused({"version": "x", "b2b_reference_rate": [{**H1_2027, "period": "2027-H2", "from": "2027-07-01", "to": "2027-12-31"}]}) == [
        ("RATES-GAP", "b2b_reference_rate.0")]
    assert refused({"version": "x", "b2b_reference_rate": [{**H1_2027, "from": "2027-06-30", "to": "2027-01-01"}]}) == [
        ("RATES-PERIOD-ORDER", "b2b_reference_rate.0")]


def test_the_schema_refuses_unknown_values_and_loose_fields():
    assert refused({"version": "x", "b2b_reference_rate": [{**H2_2026, "percent": None}]}) == [("RATES-SCHEMA", "b2b_reference_rate.0.percent")]
    assert refused({"version": "x", "b2b_reference_rate": [{**H2_2026, "confidence": "U"}]}) == [("RATES-SCHEMA", "b2b_reference_rate.0.confidence")]
    assert refused({"version": "x", "b2b_reference_rate": [{**H2_2026, "percent": 10.5}]}) == [("RATES-SCHEMA", "b2b_reference_rate.0.percent")]
    assert refused({"version": "x", "b2b_reference_rate": [{**H2_2026, "to": "2026-12-32"}]}) == [("RATES-SCHEMA", "b2b_reference_rate.0.to")]
    assert refused({"version": "x"}) == [("RATES-SCHEMA", "$")]
    assert refused({"b2b_reference_rate": [H2_2026]}) == [("RATES-SCHEMA", "$")]


def test_configured_rates_reads_the_file_again_when_it_changes(tmp_path):
    assert configured_rates(None) is default_rates()
    path = rates_file(tmp_path, H2_2026, version="v1")
    assert configured_rates(path).version == "2026-11-23.1+v1"
    path.write_text(json.dumps({"version": "v2", "b2b_reference_rate": [{**H2_2026, "percent": "11.0"}]}), encoding="utf-8")
    os.utime(path, ns=(1, 2_000_000_000_000_000_000))  # a different modification time, whatever the clock's resolution
    table = configured_rates(path)
    assert (table.version, table.percent_on("b2b_reference_rate", date(2026, 8, 1))) == ("2026-11-23.1+v2", Decimal("11.0"))
    with pytest.raises(RatesRefused):
        configured_rates(tmp_path / "missing.json")


def test_cli_rates_check_and_list(tmp_path, monkeypatch):
    good = rates_file(tmp_path, H2_2026)
    bad = rates_file(tmp_path, {**H2_2026, "from": "2026-06-01"}, name="bad.json")
    runner = CliRunner()
    result = runner.invoke(dunning_group, ["rates", "check", str(good)])
    assert (result.exit_code, result.output.splitlines()) == (0, [
        f"OK      {good}  -> rates 2026-11-23.1+ops-2026-07-15.1",
        "  b2b_reference_rate 2026-H2 2026-07-01..2026-12-31 10.5 % (FOD Financien, mededeling BS 2026-07-14)",
    ])
    result = runner.invoke(dunning_group, ["rates", "check", str(bad)])
    assert (result.exit_code, result.output.splitlines()) == (1, [
        f"REFUSED {bad}",
        "  RATES-OVERLAP  b2b_reference_rate.0: 2026-H2 (2026-06-01..2026-12-31) overlaps the published 2026-H1 (2026-01-01..2026-06-30) at 10.5 % (rates 2026-11-23.1)",
        "  RATES-OVERLAP  b2b_reference_rate.0: 2026-H2 (2026-06-01..2026-12-31) covers only part of the unknown period 2026-H2 (2026-07-01..2026-12-31): give exactly its dates",
    ])

    monkeypatch.setenv("GATEWAY_DUNNING_RATES_FILE", str(good))
    get_settings.cache_clear()
    try:
        lines = runner.invoke(dunning_group, ["rates", "list"]).output.splitlines()
        monkeypatch.setenv("GATEWAY_DUNNING_RATES_FILE", str(bad))
        get_settings.cache_clear()
        broken = runner.invoke(dunning_group, ["rates", "list"])
    finally:
        get_settings.cache_clear()
    assert lines[0] == "rates 2026-11-23.1+ops-2026-07-15.1"
    assert lines[10:13] == [
        "  2026-H1  2026-01-01..2026-06-30  10.5 %    S  embuild.be (announced as unchanged before publication)",
        f"  2026-H2  2026-07-01..2026-12-31  10.5 %    V  FOD Financien, mededeling BS 2026-07-14  [{good}]",
        "be_legal_interest_rate",
    ]
    assert broken.exit_code == 1 and broken.output.splitlines()[0].startswith("REFUSED GATEWAY_DUNNING_RATES_FILE: ")


LINE = [{"description": "Verpleegnota", "unit_price": "263.00"}]
CONSUMER = {"kind": "consumer", "name": "An Peeters"}
# Hospital ladder: step 1 e-mailed 2 June 2026 (term 3..17 June), step 2 on paper 18 June (3rd working day 23 June + 14 = 7 July)
IN_H2 = {"number": "VN-H2", "type": "invoice", "due_date": "2026-06-01", "debtor": CONSUMER, "lines": LINE, "history": [
    {"step": 1, "sent_at": "2026-06-02T09:00:00+00:00", "channel": "email", "status": "sent"},
    {"step": 2, "sent_at": "2026-06-18T09:00:00+00:00", "channel": "paper", "status": "sent", "fee": "9.00"},
]}
NOT_DUE = {"number": "VN-NEW", "type": "invoice", "due_date": "2026-07-30", "debtor": CONSUMER, "lines": LINE}
FIRST = {"number": "VN-FIRST", "type": "invoice", "due_date": "2026-07-10", "debtor": CONSUMER, "lines": LINE}


def plan(tmp_path, *extra):
    path = tmp_path / "claims.json"
    path.write_text(json.dumps({"claims": [NOT_DUE, IN_H2, FIRST]}), encoding="utf-8")
    return CliRunner().invoke(dunning_group, ["plan", "--policy", "hospital-consumer", "--claims", str(path), "--as-of", "2026-07-20", "--json", *extra])


def test_plan_waits_for_the_one_claim_that_needs_the_unknown_rate(tmp_path):
    result = plan(tmp_path)
    assert result.exit_code == 0, result.output
    decisions = json.loads(result.output)["decisions"]
    assert [(d["number"], d["action"], d["reason"], d["missing_rate"]) for d in decisions] == [
        ("VN-NEW", "wait", "not_yet_due", None),
        ("VN-H2", "wait", "rate_unknown", "b2b_reference_rate 2026-H2"),
        ("VN-FIRST", "send_step", None, None),
    ]
    assert decisions[1]["detail"] == ("interest needs the b2b_reference_rate for 2026-H2 (2026-07-01..2026-12-31), not published in rates 2026-11-23.1; "
                                      "add the published rate with GATEWAY_DUNNING_RATES_FILE (gateway dunning rates check FILE)")
    assert (decisions[1]["rate_version"], decisions[1]["dedup_key"]) == ("2026-11-23.1", "dunning/VN-H2/wait/rate_unknown/2026-07-20")
    # the first reminder's lump sum needs no rate: decided as usual
    assert [(a["rule"], a["amount"]) for a in decisions[2]["amounts"]] == [("BXIX-LUMP-SUM", "41.30")]


def test_plan_with_the_published_rate_escalates_that_claim(tmp_path, monkeypatch):
    path = rates_file(tmp_path, H2_2026)
    for extra, env in ((["--rates", str(path)], None), ([], str(path))):
        if env:
            monkeypatch.setenv("GATEWAY_DUNNING_RATES_FILE", env)
        get_settings.cache_clear()
        try:
            result = plan(tmp_path, *extra)
        finally:
            get_settings.cache_clear()
        assert result.exit_code == 0, result.output
        escalated = json.loads(result.output)["decisions"][1]
        # interest from 18 June (after step 1's term) to 20 July: 13 days at 10.5 % (H1) + 20 days at 10.5 % (H2, the operator's)
        assert (escalated["action"], escalated["escalation_list"], escalated["rate_version"]) == ("escalate", "bailiff/creditor", "2026-11-23.1+ops-2026-07-15.1")
        assert [(a["rule"], a["amount"]) for a in escalated["amounts"]] == [("BXIX-LUMP-SUM", "41.30"), ("BXIX-INTEREST-CAP", "2.50")]


def test_plan_refuses_a_bad_rates_file_before_deciding(tmp_path):
    bad = rates_file(tmp_path, {**H2_2026, "confidence": "U"})
    result = plan(tmp_path, "--rates", str(bad))
    assert result.exit_code == 1
    assert result.output.splitlines()[1:] == ["  RATES-SCHEMA  b2b_reference_rate.0.confidence: 'U' is not one of ['V', 'S']"]


def test_load_rates_file_refuses_a_file_that_is_not_json(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{", encoding="utf-8")
    with pytest.raises(RatesRefused) as caught:
        load_rates_file(path)
    assert caught.value.rules == ["RATES-SCHEMA"]
