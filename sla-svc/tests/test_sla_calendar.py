"""Due dates on the official 2025 and 2026 calendars, counted as DOMAIN.md section 4 says."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from sla.calendar import WorkCalendar
from sla.calendars import PROVISIONAL_AHEAD
from sla.service import SPEC
from sla.state import state_of
from tests.support.inprocess import running

CST = ZoneInfo("Asia/Shanghai")


@pytest.fixture
async def calendar(tmp_path: Path) -> AsyncIterator[WorkCalendar]:
    async with running(SPEC, tmp_path, None) as sla:
        yield state_of(sla.runtime).context.calendars["CN"]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=CST)


DUE_DATES = [
    ("ordinary Friday, 1 day", "2026-01-09 10:00", 1, "2026-01-12 17:30"),
    ("17:45 the day before New Year, make-up Sunday", "2025-12-31 17:45", 1, "2026-01-04 17:30"),
    ("early morning is still the day of receipt", "2026-03-04 00:05", 1, "2026-03-05 17:30"),
    ("Friday before Spring Festival, make-up Saturday", "2026-02-13 16:00", 1, "2026-02-14 17:30"),
    ("across Spring Festival, 10 days", "2026-02-13 16:00", 10, "2026-03-05 17:30"),
    ("Spring Festival 2025 eve", "2025-01-27 09:00", 1, "2025-02-05 17:30"),
    ("Friday before 2025 make-up Sunday", "2025-01-24 11:00", 1, "2025-01-26 17:30"),
    ("17:45 before National Day 2025", "2025-09-30 17:45", 1, "2025-10-09 17:30"),
    ("Friday before 2025 make-up Sunday in September", "2025-09-26 15:00", 1, "2025-09-28 17:30"),
    ("National Day 2026", "2026-09-30 09:00", 1, "2026-10-08 17:30"),
    ("Friday before 2026 make-up Saturday in October", "2026-10-09 12:00", 1, "2026-10-10 17:30"),
    ("received on a Saturday", "2026-01-31 07:30", 1, "2026-02-02 17:30"),
    ("received on a holiday", "2026-10-03 10:00", 2, "2026-10-09 17:30"),
    ("Labour Day 2026 and its make-up Saturday", "2026-04-30 10:00", 1, "2026-05-06 17:30"),
    ("Labour Day 2026, 3 days", "2026-04-30 10:00", 3, "2026-05-08 17:30"),
    ("Labour Day 2026, 4 days reaches make-up Saturday", "2026-04-30 10:00", 4, "2026-05-09 17:30"),
]


@pytest.mark.parametrize(("label", "received", "days", "due"), DUE_DATES, ids=[d[0] for d in DUE_DATES])
async def test_due_dates_on_the_official_calendar(
    calendar: WorkCalendar, label: str, received: str, days: int, due: str
) -> None:
    assert calendar.add_working_days(at(received), days) == at(due), label


async def test_utc_input_counts_on_the_local_day(calendar: WorkCalendar) -> None:
    # 2026-01-30 23:30 UTC is Saturday 31 January 07:30 in Shanghai.
    received = datetime.fromisoformat("2026-01-30T23:30:00+00:00")
    assert calendar.add_working_days(received, 1) == at("2026-02-02 17:30")


OTHER_UNITS = [
    ("working hours run into a make-up Saturday", "2026-02-13 16:00", "working_hours", 2, "2026-02-14 09:00"),
    (
        "working hours from after closing start at the next opening",
        "2026-02-13 18:00",
        "working_hours",
        2,
        "2026-02-14 10:30",
    ),
    ("working hours skip the lunch break", "2026-01-09 11:00", "working_hours", 2, "2026-01-09 14:30"),
    ("working hours ending exactly at noon", "2026-01-09 09:30", "working_hours", 2.5, "2026-01-09 12:00"),
    ("17:45 before a holiday, 2 working hours", "2026-09-30 17:45", "working_hours", 2, "2026-10-08 10:30"),
    ("the same working day", "2026-03-04 15:00", "working_days", 0, "2026-03-04 17:30"),
    ("the same working day, received on a holiday", "2026-10-02 09:00", "working_days", 0, "2026-10-08 17:30"),
    ("24 clock hours", "2026-10-01 10:00", "hours", 24, "2026-10-02 10:00"),
    (
        "15 days ending on a holiday run to the next working day",
        "2026-09-20 10:00",
        "calendar_days",
        15,
        "2026-10-09 00:00",
    ),
    ("15 days ending on a Sunday", "2026-01-10 10:00", "calendar_days", 15, "2026-01-27 00:00"),
    (
        "15 days ending on a make-up Saturday count as ended",
        "2026-09-25 10:00",
        "calendar_days",
        15,
        "2026-10-11 00:00",
    ),
    ("15 days on an ordinary weekday", "2026-03-02 10:00", "calendar_days", 15, "2026-03-18 00:00"),
]


@pytest.mark.parametrize(("label", "received", "unit", "amount", "due"), OTHER_UNITS, ids=[u[0] for u in OTHER_UNITS])
async def test_each_kind_of_limit(
    calendar: WorkCalendar, label: str, received: str, unit: str, amount: float, due: str
) -> None:
    assert calendar.due(at(received), unit, amount) == at(due), label


async def test_working_time_between_two_instants(calendar: WorkCalendar) -> None:
    # Friday 11:00 to Monday 09:00: 1 h + 4 h on Friday, 0.5 h on Monday.
    assert calendar.working_seconds_between(at("2026-01-09 11:00"), at("2026-01-12 09:00")) == 5.5 * 3600
    assert calendar.working_seconds_between(at("2026-10-01 09:00"), at("2026-10-07 18:00")) == 0


async def test_due_dates_in_bulk_match_one_by_one(calendar: WorkCalendar) -> None:
    starts = [int(at("2025-01-01 00:00").timestamp()) + i * 7919 for i in range(5000)]
    assert calendar.tables.working_days_many(starts, 10) == [calendar.due_epoch(s, "working_days", 10) for s in starts]


async def test_a_year_with_no_known_schedule_is_flagged(calendar: WorkCalendar) -> None:
    beyond = date.today().year + PROVISIONAL_AHEAD + 1  # past the provisional horizon: nothing loaded
    received = at(f"{beyond}-12-30 10:00")
    due = calendar.add_working_days(received, 10)
    assert calendar.unknown_years(received, due) == [beyond, beyond + 1]
    assert calendar.unknown_years(at("2026-03-02 10:00"), at("2026-03-16 17:30")) == []
    # A limit ending at 24:00 on 31 December ends in that year.
    assert calendar.unknown_years(at(f"{beyond - 1}-12-20 10:00"), at(f"{beyond}-01-01 00:00")) == []


#: Issue 13's examples: 2027 before its notice, on the statutory holidays of
#: 《全国年节及纪念日放假办法》 (2024): 元旦 Friday 1 January 2027 is off.
PROVISIONAL_2027 = [
    ("1 working day from the evening of 31 Dec 2026", "2026-12-31 17:45", "working_days", 1, "2027-01-04 17:30"),
    ("10 working days from Sunday 20 Dec 2026", "2026-12-20 10:00", "working_days", 10, "2027-01-04 17:30"),
    (
        "15 calendar days ending on 元旦 move to the next working day",
        "2026-12-17 10:00",
        "calendar_days",
        15,
        "2027-01-05 00:00",
    ),
    (
        "Spring Festival 2027: 除夕 (Fri 5 Feb) to 初三, with substitute days for the weekend",
        "2027-02-04 10:00",
        "working_days",
        1,
        "2027-02-11 17:30",
    ),
    (
        "Labour Day 2027 falls on a weekend: substitute days 3-4 May",
        "2027-04-30 10:00",
        "working_days",
        1,
        "2027-05-05 17:30",
    ),
]


@pytest.mark.parametrize(("label", "received", "unit", "amount", "due"), PROVISIONAL_2027)
async def test_2027_is_counted_on_its_statutory_holidays_and_marked_provisional(
    calendar: WorkCalendar, label: str, received: str, unit: str, amount: int, due: str
) -> None:
    assert calendar.due(at(received), unit, amount) == at(due), label
    assert calendar.provisional_between(at(received), at(due)) == [2027]
    assert calendar.unknown_years(at(received), at(due)) == []


def test_a_limit_is_described_once_per_calendar_and_limit() -> None:
    """``describe`` keeps its answers (every new clock asks): each is the one worked out
    for that very unit and amount on that calendar, never another's."""
    beijing = WorkCalendar("CN", ZoneInfo("Asia/Shanghai"))
    hongkong = WorkCalendar("HK", ZoneInfo("Asia/Hong_Kong"))
    limits = [("working_days", 0), ("working_days", 5), ("working_hours", 2), ("hours", 24), ("calendar_days", 15)]
    for _ in range(2):
        for cal in (beijing, hongkong):
            for unit, amount in limits:
                assert cal.describe(unit, amount) == cal._describe(unit, amount)  # noqa: SLF001
    assert "working day 5" in beijing.describe("working_days", 5)
    assert "calendar CN" in beijing.describe("working_days", 5)
    assert "calendar HK" in hongkong.describe("working_days", 5)
    assert len({beijing.describe(u, a) for u, a in limits}) == len(limits)
