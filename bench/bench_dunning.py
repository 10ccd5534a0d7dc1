"""Benchmark: `gateway dunning plan` over 1,000,000 open claims on one core (issue 6: <= 60 s).

Run with `.venv/bin/python -m bench.bench_dunning [--claims N] [--cpu C] [--repeat R]`.

What is timed is what an operator runs: the command itself, as its own process,

    gateway dunning plan --policy hospital-consumer --claims FILE --as-of 2026-05-04 --json -o OUT

from interpreter start to exit: reading and parsing the claims file, deciding every claim, and
writing the decisions file. Generating the claims file beforehand is not timed. `--cpu C` pins the
command to core C (`taskset -c C`), so it runs on one core; the figures are wall-clock seconds and
the command's CPU seconds (user + system), with the load average before and after, since other work
on the machine slows a run down. The output is read back: one decision per claim, in order.

The claims are the `dunning plan` input format (API claim fields plus history, payments and holds)
with a fixed mix over the hospital ladder (Book XIX: lump sum and interest on sends and escalations):
due dates over ~5 months, 0-2 steps sent, delivered or undelivered, partial and full payments, holds.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import orjson

TARGET_CLAIMS = 1_000_000  # issue 6: `dunning plan` over 1,000,000 open claims
TARGET_SECONDS = 60.0  # ... in at most 60 s on one core
POLICY_ID = "hospital-consumer"
AS_OF = date(2026, 5, 4)
FIRST_DUE = date(2026, 1, 5)
DEBTOR = {"kind": "consumer", "name": "Bench"}
WRITE_BATCH = 20_000


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


def write_claims(path: Path, count: int) -> None:
    """The claims file (not timed): `{"claims": [...]}`, written in batches."""
    with path.open("wb") as out:
        out.write(b'{"claims": [\n')
        for start in range(0, count, WRITE_BATCH):
            batch = b",\n".join(orjson.dumps(claim(i)) for i in range(start, min(start + WRITE_BATCH, count)))
            out.write((b",\n" if start else b"") + batch)
        out.write(b"\n]}\n")


def run_plan(claims_path: Path, output: Path, cpu: int | None) -> dict[str, float]:
    command = [sys.executable, "-m", "gateway.cli", "dunning", "plan", "--policy", POLICY_ID, "--claims", str(claims_path),
               "--as-of", AS_OF.isoformat(), "--json", "-o", str(output)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load_before = os.getloadavg()
    started = time.perf_counter()
    subprocess.run(command, check=True, preexec_fn=(lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"wall": wall, "cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), "max_rss_mb": after.ru_maxrss / 1024,
            "load_before": load_before[0], "load_after": os.getloadavg()[0]}


def check_output(output: Path, count: int) -> Counter[str]:
    """One decision per claim, in input order; the tally of actions and wait reasons."""
    document = orjson.loads(output.read_bytes())
    decisions = document["decisions"]
    assert len(decisions) == count, f"{len(decisions)} decisions for {count} claims"
    assert decisions[0]["number"] == "B-0" and decisions[-1]["number"] == f"B-{count - 1}"
    return Counter(d["action"] if d["action"] != "wait" else f"wait/{d['reason']}" for d in decisions)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="bench.bench_dunning")
    parser.add_argument("--claims", type=int, default=TARGET_CLAIMS)
    parser.add_argument("--cpu", type=int, default=None, help="pin the command to this core (as taskset -c)")
    parser.add_argument("--repeat", type=int, default=1, help="run the command this many times; the figures of each run are shown")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-dunning-") as folder:
        claims_path, output = Path(folder) / "claims.json", Path(folder) / "decisions.json"
        started = time.perf_counter()
        write_claims(claims_path, args.claims)
        print(f"claims file: {args.claims:,} claims, {claims_path.stat().st_size / 1e6:,.0f} MB, written in {time.perf_counter() - started:.1f} s (not timed)")
        runs = []
        for _ in range(args.repeat):
            runs.append(run_plan(claims_path, output, args.cpu))
            r = runs[-1]
            print(f"gateway dunning plan: {r['wall']:.1f} s wall, {r['cpu']:.1f} s CPU, {args.claims / r['wall']:,.0f} claims/s, "
                  f"max RSS {r['max_rss_mb']:,.0f} MB, load average {r['load_before']:.2f} -> {r['load_after']:.2f}"
                  + (f", pinned to core {args.cpu}" if args.cpu is not None else ""))
        actions = check_output(output, args.claims)
    best = min(runs, key=lambda r: r["wall"])
    projected = best["wall"] * TARGET_CLAIMS / args.claims
    figures = {"claims": args.claims, "runs": runs, "best_wall_seconds": round(best["wall"], 1), "meets_target": projected <= TARGET_SECONDS,
               "actions": dict(sorted(actions.items()))}
    scope = "measured" if args.claims >= TARGET_CLAIMS else f"EXTRAPOLATED linearly from {args.claims:,}"
    print(f"1,000,000 claims: {projected:.1f} s ({scope}; target <= {TARGET_SECONDS:.0f} s): {'meets target' if figures['meets_target'] else 'DOES NOT meet the target'}")
    for action, number in figures["actions"].items():
        print(f"  {action:<28} {number:>10,}")
    return figures


if __name__ == "__main__":
    main()
