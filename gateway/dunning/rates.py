"""Versioned interest-rate tables (data in `data/rates.json`).

Each entry has a validity period, a source and a confidence tag ([V] verified, [S] secondary,
[U] unknown). A period whose rate is not known is stored with `percent: null`; asking for it raises
`RateUnknown` — the engine never invents a rate. Every computation that uses a rate records
`RateTable.version`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache
from importlib import resources

from gateway.errors import GatewayError

B2B_REFERENCE_RATE = "b2b_reference_rate"  # art. 5 Law 2 Aug 2002; also the Book XIX interest cap
BE_LEGAL_INTEREST_RATE = "be_legal_interest_rate"  # ordinary legal interest (civil fallback)


class RateUnknown(GatewayError):
    """The rate for a period is not in the table (or is recorded as not found)."""

    status_code = 409
    problem_type = "https://gateway.example/problems/rate-unknown"
    title = "Interest rate not known for the period"

    def __init__(self, table: str, day: date, detail: str) -> None:
        super().__init__(f"{table}: no published rate for {day.isoformat()} ({detail})")
        self.table = table
        self.day = day
        self.rule = "RATE-UNKNOWN"


@dataclass(frozen=True)
class RatePeriod:
    period: str
    valid_from: date
    valid_to: date  # inclusive
    percent: Decimal | None
    source: str | None
    confidence: str
    note: str | None = None


@dataclass(frozen=True)
class RateTable:
    version: str
    tables: dict[str, tuple[RatePeriod, ...]]

    def period_for(self, table: str, day: date) -> RatePeriod:
        for period in self.tables[table]:
            if period.valid_from <= day <= period.valid_to:
                if period.percent is None:
                    raise RateUnknown(table, day, period.note or f"{period.period} recorded as unknown")
                return period
        raise RateUnknown(table, day, "date outside the table")

    def percent_on(self, table: str, day: date) -> Decimal:
        return self.period_for(table, day).percent  # type: ignore[return-value]


def parse_rate_table(document: dict) -> RateTable:
    tables: dict[str, tuple[RatePeriod, ...]] = {}
    for name in (B2B_REFERENCE_RATE, BE_LEGAL_INTEREST_RATE):
        rows = []
        for row in document[name]:
            rows.append(
                RatePeriod(
                    period=row["period"],
                    valid_from=date.fromisoformat(row["from"]),
                    valid_to=date.fromisoformat(row["to"]),
                    percent=None if row["percent"] is None else Decimal(row["percent"]),
                    source=row.get("source"),
                    confidence=row["confidence"],
                    note=row.get("note"),
                )
            )
        rows.sort(key=lambda r: r.valid_from)
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
