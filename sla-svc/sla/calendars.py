"""Working-day calendars: seeded from maintained packages, corrected by operations
(a whole year by API, or an iCal file), compiled for arithmetic and cached per
process.

Two layers (DOMAIN.md section 4, docs/decisions/0004-sla-counting.md):

- years the ``chinesecalendar`` package knows carry the State Council's notice:
  holidays, bridging days and make-up working days, *official*;
- later years, up to ``PROVISIONAL_AHEAD`` years past today, get the statutory
  holidays of 《全国年节及纪念日放假办法》 (as revised 2024) from the ``holidays``
  package's China calendar (lunar dates computed, not typed in), with the
  substitute days off its art. 6 requires when a holiday falls on a weekend
  ("observed"), and are *provisional* until ops load the notice
  (``PUT /v1/calendars/{name}/years/{year}`` or iCal).

Seeding only inserts days and years the table does not have, so a correction made
by operations survives every restart and every package upgrade.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from importlib import metadata

import chinese_calendar
import holidays
import icalendar
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.database import changed_rows, insert_ignoring_conflicts, upsert
from services.errors import DomainError, field_error
from shared.ops import OpsAlert
from shared.org import nearest
from shared.sla import CalendarIn, CalendarOut, YearSchedule
from sla import tables as t
from sla.calendar import WorkCalendar, compile_calendar

SOURCE = f"chinesecalendar {getattr(chinese_calendar, '__version__', '')} (State Council holiday notices)".strip()
PROVISIONAL_SOURCE = (
    f"holidays {metadata.version('holidays')}: statutory holidays of 《全国年节及纪念日放假办法》 (2024) and their "
    "substitute days (art. 6); provisional until the State Council's notice is loaded"
)
#: How many years past the current one get a provisional schedule at start-up.
PROVISIONAL_AHEAD = 2
WORK_WORDS = re.compile(r"(班|上班|补班|调休上班|working day|make-up)", re.IGNORECASE)


def _package_years() -> list[int]:
    days = list(chinese_calendar.holidays) + list(chinese_calendar.workdays)
    return sorted({d.year for d in days})


async def seed_cn(session: AsyncSession, name: str = "CN") -> None:
    default = CalendarIn(description="mainland China: public holidays off, make-up working days on")
    stmt = insert_ignoring_conflicts(session, t.calendars, ["name"]).values(
        name=name, **default.model_dump(mode="json")
    )
    await session.execute(stmt)
    years = _package_years()
    rows = [
        {"calendar": name, "day": d, "kind": "off", "name": label} for d, label in chinese_calendar.holidays.items()
    ]
    rows += [
        {"calendar": name, "day": d, "kind": "work", "name": f"{label} make-up"}
        for d, label in chinese_calendar.workdays.items()
    ]
    for chunk in range(0, len(rows), 500):
        await session.execute(
            insert_ignoring_conflicts(session, t.holidays, ["calendar", "day"]), rows[chunk : chunk + 500]
        )
    await session.execute(
        insert_ignoring_conflicts(session, t.calendar_years, ["calendar", "year"]),
        [{"calendar": name, "year": y, "source": SOURCE[:300], "provisional": False} for y in years],
    )
    await seed_provisional(session, name, range(max(years) + 1, date.today().year + PROVISIONAL_AHEAD + 1))


def statutory_holidays(year: int) -> dict[date, str]:
    """The statutory days off of one year in mainland China, before its notice."""
    return dict(holidays.country_holidays("CN", years=year, categories=("public",), language="en_US").items())


async def seed_provisional(session: AsyncSession, name: str, years: Iterable[int]) -> list[int]:
    """A provisional schedule for each year the calendar has none of; returns those years."""
    have = set(
        (await session.scalars(select(t.calendar_years.c.year).where(t.calendar_years.c.calendar == name))).all()
    )
    added = [y for y in years if y not in have]
    for year in added:
        rows = [{"calendar": name, "day": d, "kind": "off", "name": n} for d, n in statutory_holidays(year).items()]
        await session.execute(insert_ignoring_conflicts(session, t.holidays, ["calendar", "day"]), rows)
        await session.execute(
            insert_ignoring_conflicts(session, t.calendar_years, ["calendar", "year"]).values(
                calendar=name, year=year, source=PROVISIONAL_SOURCE[:300], provisional=True
            )
        )
    return added


async def compile_all(session: AsyncSession) -> dict[str, WorkCalendar]:
    result: dict[str, WorkCalendar] = {}
    for cal in (await session.execute(select(t.calendars))).all():
        days = (await session.execute(select(t.holidays).where(t.holidays.c.calendar == cal.name))).all()
        years = (
            await session.execute(
                select(t.calendar_years.c.year, t.calendar_years.c.provisional).where(
                    t.calendar_years.c.calendar == cal.name
                )
            )
        ).all()
        compiled = compile_calendar(
            cal.name,
            cal.timezone,
            [tuple(h) for h in cal.business_hours],
            [d.day for d in days if d.kind == "off"],
            [d.day for d in days if d.kind == "work"],
            [y.year for y in years],
            [y.year for y in years if y.provisional],
            cal.branch_prefixes or (),
        )
        result[cal.name] = compiled
    return result


def for_branch(calendars: dict[str, WorkCalendar], branch_code: str, default: str) -> WorkCalendar:
    """The calendar of the nearest branch above (or at) this one that has one (``GD``
    covers ``GD-SZ`` unless ``GD-SZ`` has its own), else the default."""
    kept_by = {prefix: cal for cal in calendars.values() for prefix in cal.branch_prefixes}
    found = nearest(branch_code, kept_by)
    return kept_by[found] if found is not None else calendars[default]


async def put_calendar(session: AsyncSession, name: str, body: CalendarIn) -> None:
    values = body.model_dump(mode="json")
    try:
        compile_calendar(name, body.timezone, body.business_hours, [], [], [])
    except (ValueError, KeyError) as exc:
        raise field_error("timezone", f"invalid calendar: {exc}") from exc
    stmt = upsert(session, t.calendars).values(name=name, **values)
    await session.execute(stmt.on_conflict_do_update(index_elements=["name"], set_=values))


async def describe(session: AsyncSession) -> list[CalendarOut]:
    out = []
    for cal in (await session.execute(select(t.calendars).order_by(t.calendars.c.name))).mappings().all():
        years = (
            await session.execute(
                select(t.calendar_years.c.year, t.calendar_years.c.provisional)
                .where(t.calendar_years.c.calendar == cal["name"])
                .order_by(t.calendar_years.c.year)
            )
        ).all()
        out.append(
            CalendarOut(
                **{k: v for k, v in cal.items()},
                known_years=[y.year for y in years],
                provisional_years=[y.year for y in years if y.provisional],
            )
        )
    return out


async def put_year(session: AsyncSession, name: str, year: int, schedule: YearSchedule) -> None:
    """Replace one whole year's schedule (the State Council's notice); the year is then official."""
    if not await session.scalar(select(t.calendars.c.name).where(t.calendars.c.name == name)):
        raise DomainError(404, "no such calendar")
    wrong = [d for d in (*schedule.off, *schedule.work) if d.year != year]
    if wrong:
        raise field_error("off", f"{wrong[0]} is not in {year}")
    await session.execute(
        delete(t.holidays).where(
            t.holidays.c.calendar == name, t.holidays.c.day >= date(year, 1, 1), t.holidays.c.day <= date(year, 12, 31)
        )
    )
    rows = [{"calendar": name, "day": d, "kind": "off", "name": n} for d, n in schedule.off.items()]
    rows += [{"calendar": name, "day": d, "kind": "work", "name": n} for d, n in schedule.work.items()]
    if rows:
        await session.execute(t.holidays.insert(), rows)
    stmt = upsert(session, t.calendar_years).values(calendar=name, year=year, source=schedule.source, provisional=False)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["calendar", "year"], set_={"source": schedule.source, "provisional": False}
        )
    )


async def put_dates(session: AsyncSession, name: str, schedule: YearSchedule) -> None:
    """Set the given days and no others: a file that only touches a year (元旦 beginning
    on 31 December) changes that day, not the rest of the year or its status."""
    if not await session.scalar(select(t.calendars.c.name).where(t.calendars.c.name == name)):
        raise DomainError(404, "no such calendar")
    days = [*schedule.off, *schedule.work]
    await session.execute(delete(t.holidays).where(t.holidays.c.calendar == name, t.holidays.c.day.in_(days)))
    rows = [{"calendar": name, "day": d, "kind": "off", "name": n} for d, n in schedule.off.items()]
    rows += [{"calendar": name, "day": d, "kind": "work", "name": n} for d, n in schedule.work.items()]
    if rows:
        await session.execute(t.holidays.insert(), rows)


#: A year is taken as fully described by an iCal file when this many of its events begin in it.
ICAL_YEAR_EVENTS = 3


def parse_ical(raw: bytes) -> tuple[dict[int, YearSchedule], set[int]]:
    """Days off and make-up working days from an iCal file, per year, and the years the
    file describes in full (``ICAL_YEAR_EVENTS`` or more of its events begin in them).

    Each all-day VEVENT is a day off, or a make-up working day when its summary or
    categories say so (班, 上班, 补班, "working day"); multi-day events cover every day
    from DTSTART to the day before DTEND.
    """
    try:
        cal = icalendar.Calendar.from_ical(raw)
    except ValueError as exc:
        raise field_error(None, f"not an iCal file: {exc}") from exc
    years: dict[int, YearSchedule] = {}
    begun: dict[int, int] = {}
    for event in cal.walk("VEVENT"):
        start = event.decoded("DTSTART")
        end = event.decoded("DTEND") if event.get("DTEND") else None
        if isinstance(start, datetime) or isinstance(end, datetime):
            continue  # only all-day events describe days
        summary = str(event.get("SUMMARY", ""))
        categories = " ".join(str(c) for c in (event.get("CATEGORIES").cats if event.get("CATEGORIES") else []))
        kind = "work" if WORK_WORDS.search(summary) or WORK_WORDS.search(categories) else "off"
        day, last = start, (end - timedelta(days=1)) if end else start
        begun[start.year] = begun.get(start.year, 0) + 1
        while day <= last:
            schedule = years.setdefault(day.year, YearSchedule(source="iCal import"))
            getattr(schedule, kind)[day] = summary or kind
            day += timedelta(days=1)
    if not years:
        raise field_error(None, "the file has no all-day events")
    return years, {y for y, n in begun.items() if n >= ICAL_YEAR_EVENTS}


async def delete_calendar(session: AsyncSession, name: str, default: str) -> None:
    if name == default:
        raise DomainError(409, "the default calendar cannot be deleted")
    in_use = await session.scalar(
        select(t.clock_plans.c.clock_id)
        .join(t.clocks, t.clocks.c.id == t.clock_plans.c.clock_id)
        .where(t.clock_plans.c.calendar == name, t.clocks.c.stopped_at.is_(None))
        .limit(1)
    )
    if in_use is not None:
        raise DomainError(409, "running clocks use this calendar")
    if await changed_rows(session, delete(t.calendars).where(t.calendars.c.name == name)) == 0:
        raise DomainError(404, "no such calendar")
    await session.execute(delete(t.holidays).where(t.holidays.c.calendar == name))
    await session.execute(delete(t.calendar_years).where(t.calendar_years.c.calendar == name))


#: From this month of the year before, a year without its notice is reported to ops.
NOTICE_WATCH_FROM_MONTH = 11


def notice_alerts(calendars: dict[str, WorkCalendar], now: datetime) -> list[OpsAlert]:
    """Years counted on a provisional (or no) schedule that ops must load the notice for:
    the current year, and from 1 November the next one (in each calendar's time zone)."""
    alerts = []
    for cal in calendars.values():
        today = now.astimezone(cal.tz).date()
        years = [today.year] + ([today.year + 1] if today.month >= NOTICE_WATCH_FROM_MONTH else [])
        for year in years:
            if year in cal.provisional_years or year not in cal.known_years:
                state = "provisional: statutory holidays only" if year in cal.known_years else "not loaded at all"
                alerts.append(
                    OpsAlert(
                        alert="ops.calendar_notice",
                        key=f"calendar/{cal.name}/{year}",
                        summary=f"calendar {cal.name}: {year} has no State Council notice loaded ({state})",
                        details={"calendar": cal.name, "year": year, "state": state},
                    )
                )
    return alerts
