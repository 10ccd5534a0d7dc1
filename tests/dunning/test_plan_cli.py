"""`gateway dunning plan`: decisions for claims in a JSON file, no database, exact output."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

from click.testing import CliRunner

from gateway.dunning.cli import dunning_group

LINE = [{"description": "Verpleegnota", "unit_price": "263.00"}]
CONSUMER = {"kind": "consumer", "name": "An Peeters"}


def claim(number, due, **extra):
    return {"number": number, "type": "invoice", "issue_date": "2026-02-01", "due_date": due, "debtor": CONSUMER, "lines": LINE, **extra}


CLAIMS = {"claims": [
    claim("VN-1", "2026-06-10"),
    claim("VN-2", "2026-04-02"),
    claim("VN-3", "2026-04-02", history=[{"step": 1, "sent_at": "2026-04-03T10:00:00+00:00", "channel": "email", "status": "delivered",
                                          "delivered_at": "2026-04-03T10:05:00+00:00", "stated_due_date": "2026-04-17"}]),
    claim("VN-4", "2026-04-02", payments=[{"paid_on": "2026-04-20", "amount": "263.00"}]),
    claim("VN-5", "2026-04-02", holds=[{"kind": "dispute", "reason": "contests the bill", "author": "desk", "start": "2026-04-10", "end": "2026-06-30"}]),
    claim("VN-6", "2026-04-02", history=[{"step": 1, "sent_at": "2026-04-03T10:00:00+00:00", "channel": "email", "status": "undelivered"}]),
    claim("VN-7", "2026-03-02", history=[
        {"step": 1, "sent_at": "2026-03-03T10:00:00+00:00", "channel": "email", "status": "delivered", "delivered_at": "2026-03-03T10:05:00+00:00",
         "stated_due_date": "2026-03-17"},
        {"step": 2, "sent_at": "2026-03-18T10:00:00+00:00", "channel": "registered_paper", "status": "delivered", "delivered_at": "2026-03-20T09:00:00+00:00",
         "registered": True, "proof_reference": "RR-1", "fee": "9.00", "stated_due_date": "2026-04-07"},
    ]),
]}


def run(tmp_path, document, *extra):
    path = tmp_path / "claims.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document), encoding="utf-8")
    return CliRunner().invoke(dunning_group, ["plan", "--policy", "hospital-consumer", "--claims", str(path), "--as-of", "2026-05-04", *extra])


def test_plan_json_gives_one_decision_per_claim_with_amounts_dates_and_reasons(tmp_path):
    result = run(tmp_path, CLAIMS, "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert (out["policy"], out["as_of"]) == ("hospital-consumer@2026.1", "2026-05-04")
    summary = [
        (d["number"], d["action"], d["reason"], d["step"], d["fee"], d["new_due_date"], d["amount_open"], d["wait_until"], d["escalation_list"], d["dedup_key"],
         [(a["rule"], a["amount"]) for a in d["amounts"]])
        for d in out["decisions"]
    ]
    assert summary == [
        ("VN-1", "wait", "not_yet_due", None, "0.00", None, "263.00", "2026-06-11", None, "dunning/VN-1/wait/not_yet_due/2026-05-04", []),
        # sent 2026-05-04 (Mon): paper presumption 3rd working day 2026-05-07 + 14 days; Book XIX lump sum 30 + 10 % of 113
        ("VN-2", "send_step", None, 1, "0.00", "2026-05-21", "263.00", None, None, "dunning/VN-2/step/1/2026-04-03", [("BXIX-LUMP-SUM", "41.30")]),
        # delivered 2026-04-03 + 14 days = 2026-04-17; step 2 from the next day
        ("VN-3", "send_step", None, 2, "9.00", "2026-05-21", "263.00", None, None, "dunning/VN-3/step/2/2026-04-18", []),
        ("VN-4", "wait", "paid", None, "0.00", None, "0.00", None, None, "dunning/VN-4/wait/paid/2026-05-04", []),
        ("VN-5", "wait", "on_hold", None, "0.00", None, "263.00", "2026-07-01", None, "dunning/VN-5/wait/on_hold/2026-05-04", []),
        ("VN-6", "wait", "waiting_for_delivery", None, "0.00", None, "263.00", None, None, "dunning/VN-6/wait/waiting_for_delivery/2026-05-04", []),
        # 263.00 x 10.5 % x 48/365 = 3.6296
        ("VN-7", "escalate", None, None, "0.00", None, "263.00", None, "bailiff/creditor", "dunning/VN-7/escalate/bailiff/2026-04-08",
         [("BXIX-LUMP-SUM", "41.30"), ("BXIX-INTEREST-CAP", "3.63")]),
    ]
    assert out["decisions"][4]["detail"] == "dispute by desk: contests the bill"
    assert out["decisions"][6]["rate_version"] == "2026-11-23.1"


def test_plan_text_output(tmp_path):
    result = run(tmp_path, {"claims": CLAIMS["claims"][:2]})
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "hospital-consumer@2026.1  as of 2026-05-04",
        "VN-1                 open     263.00  wait not_yet_due: step 1 possible from 2026-06-11",
        "VN-2                 open     263.00  step 1 first_reminder fee 0.00 pay by 2026-05-21",
    ]


def test_plan_refuses_a_bad_file_naming_the_field_and_rule(tmp_path):
    bad = json.loads(json.dumps(CLAIMS))
    bad["claims"][2]["history"][0]["sent_at"] = "2026-04-03T10:00:00"  # no UTC offset
    result = run(tmp_path, bad, "--json")
    assert result.exit_code == 1
    assert result.output.splitlines()[1:] == ["  PLAN-DATETIME  claims.2.history.0.sent_at: needs a UTC offset: '2026-04-03T10:00:00'"]


def test_plan_refuses_missing_fields_bad_amounts_and_foreign_claim_types(tmp_path):
    cases = [
        ({"claims": [{**claim("X", "2026-04-02"), "due_date": None}]}, "  PLAN-REQUIRED  claims.0.due_date: is required"),
        ({"claims": [claim("X", "2026-04-02", payments=[{"paid_on": "2026-04-20", "amount": "12,50"}])]},
         "  PLAN-AMOUNT  claims.0.payments.0.amount: not a decimal amount: '12,50'"),
        ({"claims": [{**claim("X", "2026-04-02"), "type": "rent"}]},
         "  POLICY-MATCH  claims.0.policy: hospital-consumer@2026.1 does not cover rent/fiscal=False/consumer"),
        ({"rows": []}, "  PLAN-REQUIRED  claims: is required"),
        ("{not json", None),
    ]
    for document, line in cases:
        result = run(tmp_path, document)
        assert result.exit_code == 1, document
        if line is None:
            assert result.output.splitlines()[1] == "  PLAN-JSON  $: unexpected character, expected a string key: line 1 column 2 (char 1)"
        else:
            assert result.output.splitlines()[1:] == [line]


def test_the_fast_reader_gives_what_the_checking_reader_gives():
    """plan.parse_claim reads well-formed claims by direct access; plan._claim (the reader that names
    every problem) must give the same values for them, and numbers instead of strings fall back to it."""
    from bench.bench_dunning import claim as bench_claim
    from gateway.dunning import plan as planner

    items = [*CLAIMS["claims"], *(bench_claim(i) for i in range(200)),
             claim("N-1", "2026-04-02", payments=[{"paid_on": "2026-04-20", "amount": 12.5}]),  # a JSON number: read by _claim
             claim("N-2", "2026-04-02", id="", fiscal=None, history=[], holds=None, lines=[{"unit_price": "10", "quantity": "3", "vat_category": "S", "vat_rate": "21"}])]
    for index, item in enumerate(items):
        slow = planner._claim(planner._Reader(f"claims.{index}", item))
        assert planner.parse_claim(index, item) == slow, item
    fast_count = 0
    for index, item in enumerate(items):
        try:
            planner._claim_fast(item)
            fast_count += 1
        except planner._FAST_ERRORS:
            pass
    assert fast_count == len(items) - 1  # only the claim with a JSON number needed the checking reader
    assert planner.parse_claim(0, items[-1]).facts.principal == Decimal("36.30")  # 3 x 10 + 21 % VAT


def test_output_file_is_compact_one_decision_per_line_and_equals_stdout(tmp_path):
    output = tmp_path / "decisions.json"
    to_file = run(tmp_path, CLAIMS, "--json", "-o", str(output))
    assert (to_file.exit_code, to_file.output) == (0, "")
    to_stdout = run(tmp_path, CLAIMS, "--json")
    import os

    mask = os.umask(0)
    os.umask(mask)
    assert output.stat().st_mode & 0o777 == 0o666 & ~mask  # as any file the command writes, not the temporary file's 0600
    text = output.read_text(encoding="utf-8")
    assert text == to_stdout.output
    lines = text.splitlines()
    assert lines[0] == '{"policy":"hospital-consumer@2026.1","as_of":"2026-05-04", "decisions": ['
    assert len(lines) == 2 + len(CLAIMS["claims"]) and lines[-1] == "]}"
    assert json.loads(lines[1].rstrip(","))["number"] == "VN-1"
    # the writer's rows are decision_json's, value for value
    from gateway.dunning import plan as planner
    from gateway.dunning.policy import shipped_policies

    policy = shipped_policies()["hospital-consumer"]
    expected = [planner.decision_json(number, decision) for number, decision in planner.iter_plan(CLAIMS, policy, today=date(2026, 5, 4))]
    assert json.loads(text)["decisions"] == expected


def test_a_bad_claim_leaves_no_output_file_behind(tmp_path):
    output = tmp_path / "decisions.json"
    bad = json.loads(json.dumps(CLAIMS))
    bad["claims"].append({**claim("LAST", "2026-04-02"), "type": "rent"})  # decided last, refused
    result = run(tmp_path, bad, "--json", "-o", str(output))
    assert result.exit_code == 1
    assert result.output.splitlines()[1:] == ["  POLICY-MATCH  claims.7.policy: hospital-consumer@2026.1 does not cover rent/fiscal=False/consumer"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["claims.json"]  # no decisions.json, no partial file
