"""Benchmark: `gateway dunning plan`'s core over many open claims on one core (issue 6: 1,000,000 ≤ 60 s).

Run with `.venv/bin/python -m bench.bench_dunning [--claims N] [--chunk C]`.

The claims are generated in memory in the `dunning plan` input format (API claim fields plus
history, payments and holds), `CHUNK` at a time so a million never sit in memory at once. Only
the core is timed: `plan.parse_claims` (JSON values → `ClaimFacts`/`StepRecord`/...), `decide`
and `plan.decision_json` for every claim, under the shipped hospital ladder (Book XIX: lump sum and
interest computed on sends and escalations). Generating the input and reading/writing the file
are not timed. The mix (due dates over ~4 months, 0-2 steps sent, delivered or undelivered,
partial and full payments, holds) is fixed by the claim index, so runs are comparable.

When N is below the 1,000,000 target the output extrapolates linearly (the core is per claim,
no shared state grows) and says so.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from datetime import date, timedelta
from typing import Any

from gateway.dunning import plan as planner
from gateway.dunning.policy import shipped_policies

TARGET_CLAIMS = 1_000_000  # issue 6: `dunning plan` over 1,000,000 open claims
TARGET_SECONDS = 60.0  # ... in at most 60 s on one core
DEFAULT_CLAIMS = 200_000  # fits a short time budget; the output extrapolates to the target
DEFAULT_CHUNK = 10_000
POLICY_ID = "hospital-consumer"
AS_OF = date(2026, 5, 4)
FIRST_DUE = date(2026, 1, 5)
LINE = [{"description": "Verpleegnota", "unit_price": "263.00"}]
DEBTOR = {"kind": "consumer", "name": "Bench"}


def _stamp(day: date, hour: int = 10) -> str:
    return f"{day.isoformat()}T{hour:02d}:00:00+00:00"


def claim(index: int) -> dict[str, Any]:
    """Claim `index` of the fixed mix."""
    due = FIRST_DUE + timedelta(days=index % 150)
    item: dict[str, Any] = {"number": f"B-{index}", "type": "invoice", "due_date": due.isoformat(), "debtor": DEBTOR,
                            "lines": [{"description": "Verpleegnota", "unit_price": f"{50 + index % 900}.{index % 100:02d}"}]}
    shape = index % 10
    first = due + timedelta(days=1)
    if shape in (3, 4, 5, 6, 7) and first < AS_OF:
        item["history"] = [{"step": 1, "sent_at": _stamp(first), "channel": "email", "status": "delivered", "delivered_at": _stamp(first, 11),
                            "stated_due_date": (first + timedelta(days=14)).isoformat()}]
        second = first + timedelta(days=15)
        if shape in (5, 6) and second < AS_OF:
            item["history"].append({"step": 2, "sent_at": _stamp(second), "channel": "registered_paper", "status": "delivered",
                                    "delivered_at": _stamp(second + timedelta(days=2)), "registered": True, "proof_reference": f"RR-{index}",
                                    "fee": "9.00", "stated_due_date": (second + timedelta(days=20)).isoformat()})
    elif shape == 8 and first < AS_OF:
        item["history"] = [{"step": 1, "sent_at": _stamp(first), "channel": "email", "status": "undelivered"}]
    if shape == 7:
        item["payments"] = [{"paid_on": (due + timedelta(days=20)).isoformat(), "amount": "25.00"}]
    elif shape == 2:
        item["payments"] = [{"paid_on": due.isoformat(), "amount": "2000.00"}]
    if shape == 9:
        item["holds"] = [{"kind": "dispute", "reason": "contests the bill", "author": "desk", "start": due.isoformat(), "end": None}]
    return item


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="bench.bench_dunning")
    parser.add_argument("--claims", type=int, default=DEFAULT_CLAIMS)
    parser.add_argument("--chunk", type=int, default=DEFAULT_CHUNK)
    args = parser.parse_args(argv)
    policy = shipped_policies()[POLICY_ID]
    actions: Counter[str] = Counter()
    core = 0.0
    done = 0
    while done < args.claims:
        size = min(args.chunk, args.claims - done)
        document = {"claims": [claim(i) for i in range(done, done + size)]}  # not timed
        started = time.perf_counter()
        result = planner.plan(planner.parse_claims(document), policy, today=AS_OF)
        core += time.perf_counter() - started
        actions.update(d["action"] if d["action"] != "wait" else f"wait/{d['reason']}" for d in result["decisions"])
        done += size
    rate = done / core
    projected = TARGET_CLAIMS / rate
    figures = {
        "claims": done, "seconds": round(core, 2), "claims_per_second": round(rate), "projected_seconds_for_1m": round(projected, 1),
        "measured_full_million": done >= TARGET_CLAIMS, "target_seconds": TARGET_SECONDS, "meets_target": projected <= TARGET_SECONDS,
        "actions": dict(sorted(actions.items())),
    }
    print(f"dunning plan core ({POLICY_ID}, as of {AS_OF.isoformat()}, one core)")
    print(f"  claims evaluated      {done:>12,}")
    print(f"  core seconds          {core:>12.2f}")
    print(f"  claims/s              {rate:>12,.0f}")
    if done >= TARGET_CLAIMS:
        print(f"  1,000,000 claims      {core * TARGET_CLAIMS / done:>12.1f} s measured (target ≤ {TARGET_SECONDS:.0f} s)")
    else:
        print(f"  1,000,000 claims      {projected:>12.1f} s EXTRAPOLATED linearly from {done:,} (target ≤ {TARGET_SECONDS:.0f} s)")
    print(f"  meets target          {'yes' if figures['meets_target'] else 'NO'}")
    for action, number in figures["actions"].items():
        print(f"    {action:<28} {number:>10,}")
    return figures


if __name__ == "__main__":
    main()
