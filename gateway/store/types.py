"""Column types that behave the same on SQLite and PostgreSQL.

SQLite has no exact decimal type (SQLAlchemy would round-trip through float), so money is
stored there as a scaled integer; PostgreSQL gets NUMERIC. Timestamps are always stored in
UTC and always come back timezone-aware.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from sqlalchemy import BigInteger, DateTime, Numeric
from sqlalchemy.types import TypeDecorator


class ExactDecimal(TypeDecorator):
    """A Decimal with a fixed number of places: NUMERIC(precision, places) or a scaled BIGINT."""

    impl = Numeric
    cache_ok = True

    def __init__(self, places: int = 2, precision: int = 18) -> None:
        super().__init__()
        self.places = places
        self.precision = precision
        self._scale = Decimal(10) ** places
        self._quantum = Decimal(1).scaleb(-places)

    def __repr__(self) -> str:
        return f"ExactDecimal(places={self.places}, precision={self.precision})"

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(self.precision, self.places, asdecimal=True))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        value = Decimal(value)
        if value != value.quantize(self._quantum):
            raise ValueError(f"{value} has more than {self.places} decimal places")
        if dialect.name == "sqlite":
            return int(value * self._scale)
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if dialect.name == "sqlite":
            return (Decimal(value) / self._scale).quantize(self._quantum)
        return Decimal(value).quantize(self._quantum)


class UTCDateTime(TypeDecorator):
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: times are timezone-aware")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
