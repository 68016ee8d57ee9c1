"""SQL pieces for managers' figures, the same on Postgres and SQLite.

Reports are sums over many rows: they are computed by the database (``GROUP BY``),
never by reading every row into Python (issue 16). What differs between the two
back-ends is how a moment becomes a month and how two moments become hours; those
two pieces are here, once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Float, cast, extract, func
from sqlalchemy.ext.asyncio import AsyncSession


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind else "postgresql"


def month_of(session: AsyncSession, moment: Any, zone: str = "Asia/Shanghai") -> Any:
    """``YYYY-MM`` of a stored (UTC) moment, as the month is read in ``zone``. SQLite
    knows no zones: there the zone's current UTC offset is used (exact for zones
    without summer time, such as China's)."""
    if _dialect(session) == "sqlite":
        offset = datetime.now(ZoneInfo(zone)).utcoffset()
        minutes = int(offset.total_seconds() // 60) if offset else 0
        return func.strftime("%Y-%m", moment, f"{minutes:+d} minutes")
    return func.to_char(func.timezone(zone, moment), "YYYY-MM")


def hours_between(session: AsyncSession, start: Any, end: Any) -> Any:
    """``end - start`` in hours (a float), for averages."""
    if _dialect(session) == "sqlite":
        return (func.julianday(end) - func.julianday(start)) * 24.0
    return cast(extract("epoch", end - start), Float) / 3600.0


def share(part: int, whole: int, digits: int = 4) -> float | None:
    """``part / whole`` rounded, or None when there is no whole to share."""
    return round(part / whole, digits) if whole else None
