"""Working time on an official calendar (DOMAIN.md section 4), exact and fast.

Saturdays and Sundays are off, public holidays are off, make-up working days
(调休) are on; working days have business hours (e.g. 08:30-12:00, 13:30-17:30).
A year with no schedule at all counts weekends only and is reported
(``unknown_years``), never silently guessed. A *provisional* year has its
statutory holidays (known years ahead) but not yet the State Council's notice of
bridging days and make-up working days; clocks that touch it say so
(``provisional_between``), and are re-planned when the notice is loaded.

How each kind of limit is counted:

- ``working_days`` N: the day of X is not counted; day 1 is the next working day;
  the limit ends at close of business of day N. N = 0 means "the same working day":
  close of business of X's day if it is a working day and X is before its close,
  else of the next working day (an arrival after hours or on a day off is handled
  as arriving at the next opening; decision 0004), so no limit ends before it starts.
- ``working_hours`` N: business hours only, from X (or from the next opening when X
  is outside them) until N hours of business time have passed.
- ``hours`` N: clock hours.
- ``calendar_days`` N (China's Civil Code, arts. 201 and 203): the day of X is not
  counted; the period ends at 24:00 of day N; if that day is not a working day it
  ends at 24:00 of the next working day.

Speed: the calendar is compiled into per-day tables (working-day prefix counts,
working seconds before each day), so every computation is a few integer
operations on epoch seconds; ``datetime`` wrappers sit on top.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from shared.sla import UNITS

DAY = 86400
FIRST = date(2000, 1, 1)
LAST = date(2060, 12, 31)


def _seconds(t: time) -> int:
    return t.hour * 3600 + t.minute * 60 + t.second


@dataclass
class WorkCalendar:
    name: str
    tz: ZoneInfo
    business_hours: tuple[tuple[time, time], ...] = ((time(8, 30), time(12, 0)), (time(13, 30), time(17, 30)))
    off: frozenset[date] = frozenset()
    work: frozenset[date] = frozenset()
    known_years: frozenset[int] = frozenset()
    provisional_years: frozenset[int] = frozenset()
    #: The branches (and their subtrees) that keep this calendar (``calendars.for_branch``).
    branch_prefixes: tuple[str, ...] = ()
    _tables: _Tables | None = field(default=None, repr=False)
    #: ``describe``'s answers: the same few limits are described for every new clock.
    _descriptions: dict[tuple[str, float], str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def close_of_business(self) -> time:
        return self.business_hours[-1][1]

    def is_working_day(self, day: date) -> bool:
        if day in self.work:
            return True
        if day in self.off:
            return False
        return day.weekday() < 5

    @property
    def tables(self) -> _Tables:
        if self._tables is None:
            self._tables = _Tables.build(self)
        return self._tables

    # --- datetime API -------------------------------------------------------
    def due(self, start: datetime, unit: str, amount: float) -> datetime:
        """When a limit of ``amount`` ``unit`` counted from ``start`` ends."""
        return self.from_epoch(self.due_epoch(self.to_epoch(start), unit, amount))

    def add_working_days(self, start: datetime, n: int) -> datetime:
        return self.due(start, "working_days", n)

    def working_seconds_between(self, a: datetime, b: datetime) -> int:
        return self.tables.position(self.to_epoch(b)) - self.tables.position(self.to_epoch(a))

    def _years(self, start: datetime, end: datetime) -> range:
        # A limit ending at 24:00 on 31 December ends in that year, not the next.
        first = start.astimezone(self.tz).year
        last = (end - timedelta(seconds=1)).astimezone(self.tz).year if end > start else first
        return range(first, max(first, last) + 1)

    def unknown_years(self, start: datetime, end: datetime) -> list[int]:
        """Years touched by [start, end] whose schedule is not loaded at all."""
        return [y for y in self._years(start, end) if y not in self.known_years]

    def provisional_between(self, start: datetime, end: datetime) -> list[int]:
        """Years touched by [start, end] counted on statutory holidays only (no notice yet)."""
        return [y for y in self._years(start, end) if y in self.provisional_years]

    def to_epoch(self, moment: datetime) -> int:
        if moment.tzinfo is None:
            raise ValueError("moments must be timezone-aware")
        return int(moment.timestamp())

    def from_epoch(self, epoch: int) -> datetime:
        return datetime.fromtimestamp(epoch, UTC).astimezone(self.tz)

    # --- epoch API (the fast path) --------------------------------------------
    def due_epoch(self, start: int, unit: str, amount: float) -> int:
        tab = self.tables
        if unit == "working_days":
            return tab.add_working_days(start, int(amount))
        if unit == "working_hours":
            return tab.at_position(tab.position(start) + int(round(amount * 3600)))
        if unit == "hours":
            return start + int(round(amount * 3600))
        if unit == "calendar_days":
            return tab.calendar_days(start, int(amount))
        raise ValueError(f"unknown unit {unit!r}; one of {', '.join(UNITS)}")

    def describe(self, unit: str, amount: float) -> str:
        """How a limit is counted, in words a customer-service manager can check."""
        found = self._descriptions.get((unit, amount))
        if found is None:
            found = self._descriptions[(unit, amount)] = self._describe(unit, amount)
        return found

    def _describe(self, unit: str, amount: float) -> str:
        hours = ", ".join(f"{a:%H:%M}-{b:%H:%M}" for a, b in self.business_hours)
        n = f"{amount:g}"
        if unit == "working_days" and amount == 0:
            return (
                f"the same working day on calendar {self.name}: by close of business "
                f"({self.close_of_business:%H:%M} {self.tz.key}) of the day of the start, or of the next working day "
                "if the start is on a day off or after close of business"
            )
        if unit == "working_days":
            return (
                f"within {n} working day(s) on calendar {self.name}: the day of the start is not counted, "
                f"weekends and public holidays are skipped, make-up working days count, and the limit ends at close of business "
                f"({self.close_of_business:%H:%M} {self.tz.key}) of working day {n}"
            )
        if unit == "working_hours":
            return (
                f"within {n} working hour(s) on calendar {self.name}: business hours {hours} {self.tz.key} on working days only, "
                f"from the start, or from the next opening if the start is outside them"
            )
        if unit == "hours":
            return f"within {n} hour(s) of the start, counted on the clock"
        return (
            f"within {n} calendar day(s) (Civil Code arts. 201, 203): the day of the start is not counted; the period ends at 24:00 "
            f"of day {n} ({self.tz.key}); if that day is not a working day, at 24:00 of the next working day"
        )


@dataclass
class _Tables:
    """Per-day tables from ``FIRST`` to ``LAST``: index i is day ``FIRST + i``."""

    base_ordinal: int
    offsets: list[int]  # UTC offset (s) of each local day, at noon
    working: list[bool]
    wd_upto: list[int]  # working days on or before day i
    workday_at: list[int]  # day index of the k-th working day (k from 0)
    segments: tuple[tuple[int, int], ...]  # business hours as seconds into the day
    day_seconds: int  # business seconds in a working day
    seg_ends: list[int]  # cumulative business seconds at the end of each segment
    close_epoch: list[int] = field(default_factory=list)  # close of business of each day, as epoch seconds

    @classmethod
    def build(cls, cal: WorkCalendar) -> _Tables:
        base = FIRST.toordinal()
        days = LAST.toordinal() - base + 1
        offsets, working, wd_upto, workday_at = [], [], [], []
        count = 0
        for i in range(days):
            d = date.fromordinal(base + i)
            noon = datetime.combine(d, time(12), cal.tz)
            offset = noon.utcoffset()  # never None: the datetime carries the calendar's zone
            offsets.append(int(offset.total_seconds()) if offset is not None else 0)
            w = cal.is_working_day(d)
            working.append(w)
            if w:
                workday_at.append(i)
                count += 1
            wd_upto.append(count)
        segments = tuple((_seconds(a), _seconds(b)) for a, b in cal.business_hours)
        ends, total = [], 0
        for a, b in segments:
            total += b - a
            ends.append(total)
        tables = cls(base, offsets, working, wd_upto, workday_at, segments, total, ends)
        tables.close_epoch = [tables.epoch_of(i, segments[-1][1]) for i in range(days)]
        return tables

    def local_day(self, epoch: int) -> tuple[int, int]:
        """(day index, seconds into that local day)."""
        guess = (epoch // DAY) + 719163 - self.base_ordinal  # 719163 = date(1970,1,1).toordinal()
        i = (epoch + self.offsets[min(max(guess, 0), len(self.offsets) - 1)]) // DAY + 719163 - self.base_ordinal
        if not 0 <= i < len(self.offsets):
            raise ValueError("moment outside the calendar's range (2000-2060)")
        return i, (epoch + self.offsets[i]) % DAY

    def epoch_of(self, i: int, seconds: int) -> int:
        return (self.base_ordinal + i - 719163) * DAY + seconds - self.offsets[i]

    def add_working_days(self, start: int, n: int) -> int:
        i, s = self.local_day(start)
        if n > 0:
            k = self.wd_upto[i] + n - 1
        else:  # the same working day: today's if still open, else the next working day's
            k = self.wd_upto[i] - 1 if self.working[i] and s < self.segments[-1][1] else self.wd_upto[i]
        return self.close_epoch[self.workday_at[k]]

    def working_days_many(self, starts: Iterable[int], n: int) -> list[int]:
        """``add_working_days`` for many starts at once (re-planning, benchmarks): the
        same arithmetic with the lookups bound once."""
        offsets, wd_upto, workday_at, close = self.offsets, self.wd_upto, self.workday_at, self.close_epoch
        shift, last = 719163 - self.base_ordinal, len(offsets) - 1
        if n > 0:
            m = n - 1
            return [
                close[workday_at[wd_upto[(s + offsets[min(s // DAY + shift, last)]) // DAY + shift] + m]]
                for s in starts
            ]
        return [self.add_working_days(s, n) for s in starts]

    def within_day(self, seconds: int) -> int:
        """Business seconds of a working day that have passed at ``seconds`` into it."""
        passed = 0
        for a, b in self.segments:
            if seconds <= a:
                break
            passed += min(seconds, b) - a
        return passed

    def position(self, epoch: int) -> int:
        """Business seconds from the start of the table to ``epoch``."""
        i, s = self.local_day(epoch)
        before = (self.wd_upto[i] - (1 if self.working[i] else 0)) * self.day_seconds
        return before + (self.within_day(s) if self.working[i] else 0)

    def at_position(self, pos: int) -> int:
        """The earliest instant at which ``pos`` business seconds have passed."""
        k, rem = divmod(pos, self.day_seconds)
        if rem == 0 and k > 0:
            k, rem = k - 1, self.day_seconds  # exactly at a close of business, not the next opening
        i = self.workday_at[k]
        j = bisect_right(self.seg_ends, rem - 1) if rem > 0 else 0
        start_of_seg = self.seg_ends[j - 1] if j > 0 else 0
        return self.epoch_of(i, self.segments[j][0] + rem - start_of_seg)

    def calendar_days(self, start: int, n: int) -> int:
        i, _ = self.local_day(start)
        end = i + n
        while not self.working[end]:
            end += 1
        return self.epoch_of(end + 1, 0)


def compile_calendar(
    name: str,
    tz: str,
    business_hours: Iterable[tuple[str, str]],
    off: Iterable[date],
    work: Iterable[date],
    known_years: Iterable[int],
    provisional_years: Iterable[int] = (),
    branch_prefixes: Iterable[str] = (),
) -> WorkCalendar:
    return WorkCalendar(
        name=name,
        tz=ZoneInfo(tz),
        business_hours=tuple((time.fromisoformat(a), time.fromisoformat(b)) for a, b in business_hours),
        off=frozenset(off),
        work=frozenset(work),
        known_years=frozenset(known_years),
        provisional_years=frozenset(provisional_years),
        branch_prefixes=tuple(branch_prefixes),
    )
