"""Time helpers: every timestamp in the gateway is timezone-aware UTC."""

from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

BRUSSELS = ZoneInfo("Europe/Brussels")


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def brussels_today(now: datetime | None = None) -> date:
    """The calendar date in Belgium; legal terms count in local days, not UTC days."""
    return (now or utc_now()).astimezone(BRUSSELS).date()


def ensure_aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; we only ever store UTC, so mark them as such."""
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
