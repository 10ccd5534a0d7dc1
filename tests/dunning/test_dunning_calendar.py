"""Belgian and Dutch legal calendars: Easter-derived holidays, presumption dates."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from gateway.dunning.calendar import (
    BE_CALENDAR,
    NL_CALENDAR,
    CalendarOutOfRange,
    belgian_holidays,
    book_xix_electronic_start,
    book_xix_paper_start,
    dutch_holidays,
    easter_sunday,
    max_paper_presumption_lag,
    wik_presumed_receipt,
)


@pytest.mark.parametrize(
    ("year", "easter"),
    [(2020, date(2020, 4, 12)), (2024, date(2024, 3, 31)), (2025, date(2025, 4, 20)), (2026, date(2026, 4, 5)),
     (2027, date(2027, 3, 28)), (2030, date(2030, 4, 21)), (2035, date(2035, 3, 25))],
)
def test_easter(year, easter):
    assert easter_sunday(year) == easter


def test_belgian_holidays_2026():
    assert sorted(belgian_holidays(2026)) == [
        date(2026, 1, 1), date(2026, 4, 6), date(2026, 5, 1), date(2026, 5, 14), date(2026, 5, 25),
        date(2026, 7, 21), date(2026, 8, 15), date(2026, 11, 1), date(2026, 11, 11), date(2026, 12, 25),
    ]


def test_every_maintained_year_has_ten_belgian_holidays():
    for year in range(2020, 2036):
        assert len(belgian_holidays(year)) == 10


def test_dutch_holidays_kings_day_moves_to_saturday():
    # 27 April 2025 is a Sunday: Koningsdag is Saturday 26 April
    assert dutch_holidays(2025)[date(2025, 4, 26)] == "Koningsdag"
    assert date(2025, 4, 27) not in dutch_holidays(2025)


def test_out_of_range_year_raises():
    with pytest.raises(CalendarOutOfRange):
        belgian_holidays(2036)
    with pytest.raises(CalendarOutOfRange):
        BE_CALENDAR.is_working_day(date(2019, 12, 31))


def test_paper_reminder_friday_before_easter_monday_2026():
    # Fri 3 Apr; Sat, Sun, Easter Monday 6 Apr do not count: Tue 7 (1), Wed 8 (2), Thu 9 (3)
    assert book_xix_paper_start(date(2026, 4, 3)) == date(2026, 4, 9)


def test_paper_reminder_ordinary_week():
    assert book_xix_paper_start(date(2026, 3, 2)) == date(2026, 3, 5)  # Mon -> Thu
    assert book_xix_paper_start(date(2026, 3, 4)) == date(2026, 3, 9)  # Wed -> Mon


def test_paper_reminder_before_christmas_2025():
    # Tue 23 Dec: Wed 24 (1), Thu 25 Christmas, Fri 26 (2), weekend, Mon 29 (3)
    assert book_xix_paper_start(date(2025, 12, 23)) == date(2025, 12, 29)


def test_paper_reminder_around_ascension_2026():
    # Wed 13 May: Thu 14 Ascension, Fri 15 (1), Mon 18 (2), Tue 19 (3)
    assert book_xix_paper_start(date(2026, 5, 13)) == date(2026, 5, 19)


def test_electronic_reminder_starts_next_calendar_day_even_on_holidays():
    assert book_xix_electronic_start(date(2026, 4, 5)) == date(2026, 4, 6)


def test_wik_presumed_receipt_skips_sunday_monday_and_holidays():
    assert wik_presumed_receipt(date(2026, 3, 3)) == date(2026, 3, 5)  # Tue -> Thu
    assert wik_presumed_receipt(date(2026, 3, 6)) == date(2026, 3, 10)  # Fri -> Sat (1), Tue (2)
    assert wik_presumed_receipt(date(2026, 4, 3)) == date(2026, 4, 7)  # Fri -> Sat (1), Sun, Easter Mon, Tue (2)
    assert wik_presumed_receipt(date(2026, 4, 24)) == date(2026, 4, 28)  # Fri -> Sat (1), Sun, Mon 27 Koningsdag, Tue (2)


def test_longest_paper_presumption_lag_is_seven_days():
    assert max_paper_presumption_lag() == 7


def test_local_date_uses_the_jurisdiction_zone_and_refuses_naive():
    late = datetime(2026, 3, 2, 23, 30, tzinfo=timezone.utc)  # 00:30 on 3 March in Brussels
    assert BE_CALENDAR.local_date(late) == date(2026, 3, 3)
    assert NL_CALENDAR.local_date(late) == date(2026, 3, 3)
    with pytest.raises(ValueError):
        BE_CALENDAR.local_date(datetime(2026, 3, 2, 12))
