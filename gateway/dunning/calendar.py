"""Belgian and Dutch legal calendars for the dunning clocks.

Pure: dates in, dates out. The holiday table is maintained here for the years
`FIRST_YEAR`..`LAST_YEAR`; asking about a date outside that range raises
`CalendarOutOfRange` instead of silently treating a holiday as a working day.

Belgium — "werkdag" follows art. 53bis of the Judicial Code: Saturdays, Sundays and the ten legal
public holidays (KB 18 April 1974, art. 1) are not working days. Book XIX (art. XIX.2 CEL) counts
the waiting period of a paper reminder from "the third working day after sending".

Netherlands — the holidays of the Algemene termijnenwet, art. 3(1): Nieuwjaarsdag, tweede Paas-
en Pinksterdag, beide Kerstdagen, Hemelvaartsdag, Koningsdag and 5 May. The presumption of receipt
for a 14-day letter (HR 25-11-2016, ECLI:NL:HR:2016:2704) is "the second day after sending, not
counting Sunday, Monday or public holidays".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo

from gateway.errors import GatewayError

FIRST_YEAR = 2020  # first year of the maintained holiday table
LAST_YEAR = 2035  # last year of the maintained holiday table; extend and re-test before 2035

BRUSSELS = ZoneInfo("Europe/Brussels")
AMSTERDAM = ZoneInfo("Europe/Amsterdam")


class CalendarOutOfRange(GatewayError):
    status_code = 500
    title = "Date outside the maintained holiday table"


class Jurisdiction(StrEnum):
    BE = "BE"
    NL = "NL"


def easter_sunday(year: int) -> date:
    """Gregorian Easter Sunday (anonymous Gregorian computus, Meeus/Jones/Butcher)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    leap = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * leap) // 451
    month, day = divmod(h + leap - 7 * m + 114, 31)
    return date(year, month, day + 1)


def _check_year(year: int) -> None:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise CalendarOutOfRange(
            f"the holiday table covers {FIRST_YEAR}-{LAST_YEAR}; {year} is outside it "
            "(extend gateway/dunning/calendar.py and its tests)"
        )


@lru_cache(maxsize=None)
def belgian_holidays(year: int) -> dict[date, str]:
    """The ten Belgian legal public holidays (KB 18 April 1974, art. 1)."""
    _check_year(year)
    easter = easter_sunday(year)
    return {
        date(year, 1, 1): "Nieuwjaar",
        easter + timedelta(days=1): "Paasmaandag",
        date(year, 5, 1): "Dag van de Arbeid",
        easter + timedelta(days=39): "O.L.H. Hemelvaart",
        easter + timedelta(days=50): "Pinkstermaandag",
        date(year, 7, 21): "Nationale feestdag",
        date(year, 8, 15): "O.L.V. Hemelvaart",
        date(year, 11, 1): "Allerheiligen",
        date(year, 11, 11): "Wapenstilstand",
        date(year, 12, 25): "Kerstmis",
    }


@lru_cache(maxsize=None)
def dutch_holidays(year: int) -> dict[date, str]:
    """Holidays of the Algemene termijnenwet, art. 3(1) (Easter and Whit Sunday are Sundays anyway)."""
    _check_year(year)
    easter = easter_sunday(year)
    kings_day = date(year, 4, 27)
    if kings_day.weekday() == 6:  # Koningsdag moves to the Saturday when 27 April is a Sunday
        kings_day = date(year, 4, 26)
    return {
        date(year, 1, 1): "Nieuwjaarsdag",
        easter + timedelta(days=1): "Tweede Paasdag",
        kings_day: "Koningsdag",
        date(year, 5, 5): "Bevrijdingsdag",
        easter + timedelta(days=39): "Hemelvaartsdag",
        easter + timedelta(days=50): "Tweede Pinksterdag",
        date(year, 12, 25): "Eerste Kerstdag",
        date(year, 12, 26): "Tweede Kerstdag",
    }


@dataclass(frozen=True)
class LegalCalendar:
    """Working days and holidays of one jurisdiction."""

    jurisdiction: Jurisdiction = Jurisdiction.BE

    @property
    def zone(self) -> ZoneInfo:
        return BRUSSELS if self.jurisdiction is Jurisdiction.BE else AMSTERDAM

    def holidays(self, year: int) -> dict[date, str]:
        return belgian_holidays(year) if self.jurisdiction is Jurisdiction.BE else dutch_holidays(year)

    def is_holiday(self, day: date) -> bool:
        if FIRST_YEAR <= day.year <= LAST_YEAR:
            return day in _all_holidays(self.jurisdiction)  # one set lookup (a million claims in `dunning plan`)
        return day in self.holidays(day.year)  # raises: outside the maintained table

    def is_working_day(self, day: date) -> bool:
        # art. 53bis Ger.W.: Saturdays, Sundays and legal holidays are not working days
        return day.weekday() < 5 and not self.is_holiday(day)

    def add_working_days(self, start: date, count: int) -> date:
        """The `count`-th working day after `start` (start itself never counts)."""
        if count < 1:
            raise ValueError("count must be at least 1")
        day = start
        while count:
            day += timedelta(days=1)
            if self.is_working_day(day):
                count -= 1
        return day

    def next_working_day_on_or_after(self, day: date) -> date:
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day

    def local_date(self, moment: datetime) -> date:
        """The calendar date of an instant in this jurisdiction; naive datetimes are refused."""
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError(f"timezone-aware datetime required, got {moment!r}")
        return moment.astimezone(self.zone).date()


@lru_cache(maxsize=None)
def _all_holidays(jurisdiction: Jurisdiction) -> frozenset[date]:
    """Every holiday of the maintained years, for one jurisdiction."""
    table = belgian_holidays if jurisdiction is Jurisdiction.BE else dutch_holidays
    return frozenset(day for year in range(FIRST_YEAR, LAST_YEAR + 1) for day in table(year))


BE_CALENDAR = LegalCalendar(Jurisdiction.BE)
NL_CALENDAR = LegalCalendar(Jurisdiction.NL)


_CALENDARS = {Jurisdiction.BE.value: BE_CALENDAR, Jurisdiction.NL.value: NL_CALENDAR}


def calendar_for(jurisdiction: str | Jurisdiction) -> LegalCalendar:
    calendar = _CALENDARS.get(jurisdiction)  # a Jurisdiction is a str: the same key
    if calendar is None:
        raise ValueError(f"{jurisdiction!r} is not a valid Jurisdiction")
    return calendar


def book_xix_paper_start(sent_on: date, calendar: LegalCalendar = BE_CALENDAR) -> date:
    """art. XIX.2 §2 CEL: the period of a paper reminder starts on the third working day after sending."""
    return calendar.add_working_days(sent_on, 3)


def book_xix_electronic_start(sent_on: date) -> date:
    """art. XIX.2 §2 CEL: the period of an electronic reminder starts on the calendar day after sending."""
    return sent_on + timedelta(days=1)


def wik_presumed_receipt(sent_on: date, calendar: LegalCalendar = NL_CALENDAR) -> date:
    """HR 25-11-2016 (ECLI:NL:HR:2016:2704): receipt may be assumed on the second day after sending,
    not counting Sundays, Mondays or public holidays."""
    day, counted = sent_on, 0
    while counted < 2:
        day += timedelta(days=1)
        if day.weekday() in (6, 0) or calendar.is_holiday(day):
            continue
        counted += 1
    return day


@lru_cache(maxsize=None)
def max_paper_presumption_lag() -> int:
    """Longest calendar span from sending to the third BE working day over the maintained years.

    Used by the policy loader: a Book XIX term counted from *sending* is only acceptable when it is
    at least 14 days plus this lag, so it can never end before the legal 14-day window.
    """
    longest = 0
    day = date(FIRST_YEAR, 1, 1)
    last = date(LAST_YEAR, 12, 31) - timedelta(days=15)
    while day <= last:
        longest = max(longest, (book_xix_paper_start(day) - day).days)
        day += timedelta(days=1)
    return longest
