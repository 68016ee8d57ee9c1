"""Working days on the official calendar (DOMAIN.md section 4).

Saturdays and Sundays are off, public holidays are off, make-up working days
(调休) are on. A year with no known schedule is counted on weekends only and
reported as such (``unknown_years``), never silently guessed.

"Within N working days of X": the day of X is not counted; day 1 is the first
working day after it; the limit ends at close of business of day N.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass
class WorkCalendar:
    name: str
    tz: ZoneInfo
    close_of_business: time
    off: frozenset[date] = frozenset()
    work: frozenset[date] = frozenset()
    known_years: frozenset[int] = frozenset()

    def is_working_day(self, day: date) -> bool:
        if day in self.work:
            return True
        if day in self.off:
            return False
        return day.weekday() < 5

    def add_working_days(self, start: datetime, n: int) -> datetime:
        """Close of business of the n-th working day after the local day of ``start``."""
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        day = start.astimezone(self.tz).date()
        counted = 0
        while counted < n:
            day += timedelta(days=1)
            if self.is_working_day(day):
                counted += 1
        return datetime.combine(day, self.close_of_business, self.tz)

    def unknown_years(self, start: datetime, end: datetime) -> list[int]:
        """Years touched by [start, end] whose official schedule is not loaded."""
        first, last = start.astimezone(self.tz).year, end.astimezone(self.tz).year
        return [y for y in range(first, last + 1) if y not in self.known_years]

    def describe_working_days(self, n: int) -> str:
        return (
            f"within {n} working day{'s' if n != 1 else ''} of receipt on calendar {self.name}: the day of receipt "
            f"is not counted, weekends and public holidays are skipped, make-up working days count, and the limit "
            f"ends at close of business ({self.close_of_business:%H:%M} {self.tz.key}) of working day {n}"
        )
