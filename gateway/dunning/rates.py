"""Versioned interest-rate tables (data in `data/rates.json`, plus an operator's file).

Each entry has a validity period, a source and a confidence tag ([V] verified, [S] secondary,
[U] unknown). A period whose rate is not known is stored with `percent: null`; asking for it raises
`RateUnknown` naming the period — the engine never invents a rate (it waits, `rules.WaitReason.RATE_UNKNOWN`).
Every computation that uses a rate records `RateTable.version`.

Operators add a published rate without a code change: `GATEWAY_DUNNING_RATES_FILE` names a file
validated by `schemas/dunning-rates.schema.json` whose periods are merged into the shipped table
(`merge_rates`). The merged table's version is ``<shipped version>+<file version>``. Rules:

  RATES-SCHEMA        the file breaks the JSON Schema (or is not JSON)
  RATES-PERIOD-ORDER  a period ends before it starts
  RATES-OVERLAP       a period overlaps a published one, another period of the file, or only part of
                      an unknown one (an unknown period is replaced with exactly its dates)
  RATES-GAP           a day between two periods (or between the table's end and a new period) has no entry
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from pathlib import Path

from jsonschema import Draft202012Validator

from gateway.errors import FieldProblem, GatewayError, InvalidInput

B2B_REFERENCE_RATE = "b2b_reference_rate"  # art. 5 Law 2 Aug 2002; also the Book XIX interest cap
BE_LEGAL_INTEREST_RATE = "be_legal_interest_rate"  # ordinary legal interest (civil fallback)
TABLES = (B2B_REFERENCE_RATE, BE_LEGAL_INTEREST_RATE)
SHIPPED = "shipped"  # RatePeriod.origin of the rows in data/rates.json

RULE_SCHEMA = "RATES-SCHEMA"
RULE_PERIOD_ORDER = "RATES-PERIOD-ORDER"
RULE_OVERLAP = "RATES-OVERLAP"
RULE_GAP = "RATES-GAP"


class RateUnknown(GatewayError):
    """The rate for a period is not in the table (or is recorded as not found)."""

    status_code = 409
    problem_type = "https://gateway.example/problems/rate-unknown"
    title = "Interest rate not known for the period"

    def __init__(self, table: str, day: date, detail: str, *, period: str, first_day: date | None = None, last_day: date | None = None) -> None:
        super().__init__(f"{table}: no published rate for {period} (needed for {day.isoformat()}; {detail})")
        self.table = table
        self.day = day
        self.period = period  # "2026-H2", or "after 2026-12-31" when the table ends before `day`
        self.first_day = first_day
        self.last_day = last_day
        self.rule = "RATE-UNKNOWN"


class RatesRefused(InvalidInput):
    """An operator's rate file breaks the schema or would leave overlaps or gaps in the table."""

    title = "The interest rate file breaks a rule"

    @property
    def rules(self) -> list[str]:
        return [problem.rule for problem in self.problems]


@dataclass(frozen=True)
class RatePeriod:
    period: str
    valid_from: date
    valid_to: date  # inclusive
    percent: Decimal | None
    source: str | None
    confidence: str
    note: str | None = None
    origin: str = SHIPPED  # "shipped", or the operator file's path


@dataclass(frozen=True)
class RateTable:
    version: str
    tables: dict[str, tuple[RatePeriod, ...]]

    def period_for(self, table: str, day: date) -> RatePeriod:
        rows = self.tables[table]
        for period in rows:
            if period.valid_from <= day <= period.valid_to:
                if period.percent is None:
                    raise RateUnknown(table, day, period.note or "recorded as unknown", period=period.period,
                                      first_day=period.valid_from, last_day=period.valid_to)
                return period
        if rows and day > rows[-1].valid_to:
            end = rows[-1].valid_to
            raise RateUnknown(table, day, f"the table ends on {end.isoformat()}", period=f"after {end.isoformat()}", first_day=end + timedelta(days=1))
        start = rows[0].valid_from if rows else day
        raise RateUnknown(table, day, "date outside the table", period=f"before {start.isoformat()}", last_day=start - timedelta(days=1))

    def percent_on(self, table: str, day: date) -> Decimal:
        return self.period_for(table, day).percent  # type: ignore[return-value]


def _row(row: dict, origin: str) -> RatePeriod:
    return RatePeriod(
        period=row["period"],
        valid_from=date.fromisoformat(row["from"]),
        valid_to=date.fromisoformat(row["to"]),
        percent=None if row["percent"] is None else Decimal(row["percent"]),
        source=row.get("source"),
        confidence=row["confidence"],
        note=row.get("note"),
        origin=origin,
    )


def parse_rate_table(document: dict) -> RateTable:
    tables: dict[str, tuple[RatePeriod, ...]] = {}
    for name in TABLES:
        rows = sorted((_row(row, SHIPPED) for row in document[name]), key=lambda r: r.valid_from)
        for previous, current in zip(rows, rows[1:]):
            if (current.valid_from - previous.valid_to).days != 1:
                raise ValueError(f"{name}: gap or overlap between {previous.period} and {current.period}")
        tables[name] = tuple(rows)
    return RateTable(version=document["version"], tables=tables)


@lru_cache(maxsize=1)
def default_rates() -> RateTable:
    """The shipped table, loaded once."""
    text = resources.files("gateway.dunning").joinpath("data/rates.json").read_text(encoding="utf-8")
    return parse_rate_table(json.loads(text))


# --- an operator's rate file -----------------------------------------------------------------------


@lru_cache(maxsize=1)
def _rates_validator() -> Draft202012Validator:
    text = resources.files("gateway.dunning").joinpath("dunning-rates.schema.json").read_text(encoding="utf-8")
    return Draft202012Validator(json.loads(text))


def _schema_problems(document: object) -> list[FieldProblem]:
    problems = []
    for error in sorted(_rates_validator().iter_errors(document), key=lambda e: [str(p) for p in e.absolute_path]):
        path = ".".join(str(part) for part in error.absolute_path) or "$"
        problems.append(FieldProblem(path, RULE_SCHEMA, error.message))
    for name in TABLES if isinstance(document, dict) else ():
        for index, row in enumerate(document.get(name) or []):
            for key in ("from", "to"):
                try:
                    date.fromisoformat(row[key])
                except (KeyError, TypeError, ValueError):
                    if isinstance(row, dict) and isinstance(row.get(key), str):
                        problems.append(FieldProblem(f"{name}.{index}.{key}", RULE_SCHEMA, f"not a calendar date: {row[key]!r}"))
    return problems


def _span(row: RatePeriod) -> str:
    return f"{row.period} ({row.valid_from.isoformat()}..{row.valid_to.isoformat()})"


def merge_rates(base: RateTable, document: object, *, origin: str) -> RateTable:
    """`base` with the periods of an operator's rate file; `RatesRefused` naming every broken rule.

    A file period replaces an unknown period of `base` only with exactly its dates, and may extend
    a table after its last day without leaving a gap; anything else that overlaps is refused.
    """
    problems = _schema_problems(document)
    if problems:
        raise RatesRefused(f"{origin}: refused by the schema", problems=problems)
    assert isinstance(document, dict)
    merged: dict[str, tuple[RatePeriod, ...]] = {}
    for name in TABLES:
        added = [(index, _row(row, origin)) for index, row in enumerate(document.get(name) or [])]
        rows = list(base.tables[name])
        for index, new in added:
            field = f"{name}.{index}"
            if new.valid_to < new.valid_from:
                problems.append(FieldProblem(field, RULE_PERIOD_ORDER, f"{new.period} ends on {new.valid_to} before it starts on {new.valid_from}"))
                continue
            for other_index, other in added:
                if other_index < index and other.valid_from <= new.valid_to and new.valid_from <= other.valid_to:
                    problems.append(FieldProblem(field, RULE_OVERLAP, f"{_span(new)} overlaps {_span(other)} of the same file"))
            for position, old in enumerate(rows):
                if not (old.valid_from <= new.valid_to and new.valid_from <= old.valid_to):
                    continue
                if old.percent is None and old.origin == SHIPPED and (old.valid_from, old.valid_to) == (new.valid_from, new.valid_to):
                    rows[position] = replace(new, note=new.note or f"replaces the period recorded as unknown in rates {base.version}")
                elif old.percent is None:
                    problems.append(FieldProblem(field, RULE_OVERLAP, f"{_span(new)} covers only part of the unknown period {_span(old)}: give exactly its dates"))
                else:
                    problems.append(FieldProblem(field, RULE_OVERLAP, f"{_span(new)} overlaps the published {_span(old)} at {old.percent} % (rates {base.version})"))
        known = {(r.valid_from, r.valid_to) for r in rows}
        rows += [new for _, new in added if (new.valid_from, new.valid_to) not in known and new.valid_to >= new.valid_from]
        rows.sort(key=lambda r: r.valid_from)
        for previous, current in zip(rows, rows[1:]):
            gap = (current.valid_from - previous.valid_to).days
            if gap > 1 and origin in (current.origin, previous.origin):
                index = next((i for i, new in added if new is current or new is previous), 0)
                first, last = previous.valid_to + timedelta(days=1), current.valid_from - timedelta(days=1)
                problems.append(FieldProblem(f"{name}.{index}", RULE_GAP, f"no rate for {first.isoformat()}..{last.isoformat()} between {previous.period} and {current.period}"))
        merged[name] = tuple(rows)
    if problems:
        summary = ", ".join(sorted({p.rule for p in problems}))
        raise RatesRefused(f"{origin}: refused ({summary})", problems=problems)
    return RateTable(version=f"{base.version}+{document['version']}", tables=merged)


def load_rates_file(path: str | Path, base: RateTable | None = None) -> RateTable:
    """The shipped table (or `base`) merged with the operator's file at `path`."""
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise RatesRefused(f"{path}: not JSON", problems=[FieldProblem("$", RULE_SCHEMA, str(error))]) from error
    except OSError as error:
        raise RatesRefused(f"{path}: cannot be read", problems=[FieldProblem("$", RULE_SCHEMA, str(error))]) from error
    return merge_rates(base or default_rates(), document, origin=str(path))


def configured_rates(path: str | Path | None) -> RateTable:
    """The table in force: shipped, merged with the file `GATEWAY_DUNNING_RATES_FILE` names (if any).

    The file is read again when it changes (path, size and modification time), so an operator's new
    rate applies to the next decision without a restart.
    """
    if not path:
        return default_rates()
    try:
        stat = os.stat(path)
    except OSError as error:
        raise RatesRefused(f"{path}: cannot be read", problems=[FieldProblem("$", RULE_SCHEMA, str(error))]) from error
    return _cached_file(str(path), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=4)
def _cached_file(path: str, size: int, mtime_ns: int) -> RateTable:
    return load_rates_file(path)
