"""Loading working-day calendars: the shipped official schedule into the table,
and the table into a ``WorkCalendar`` for arithmetic.

The file seeds only days the table does not have yet, so a correction made by ops
in the table survives every restart.
"""

from __future__ import annotations

import json
from datetime import date, time
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.database import insert_ignoring_conflicts
from sla import tables as t
from sla.calendar import WorkCalendar


async def seed_from_file(session: AsyncSession, path: Path) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    name = data["calendar"]
    rows = [{"calendar": name, "day": date.fromisoformat(d), "kind": "off", "name": n} for d, n in data["off"].items()]
    rows += [
        {"calendar": name, "day": date.fromisoformat(d), "kind": "work", "name": n} for d, n in data["work"].items()
    ]
    await session.execute(insert_ignoring_conflicts(session, t.holidays, ["calendar", "day"]), rows)
    years = [{"calendar": name, "year": y, "source": data["source"][:300]} for y in data["years"]]
    await session.execute(insert_ignoring_conflicts(session, t.calendar_years, ["calendar", "year"]), years)


async def load(session: AsyncSession, name: str, tz: str, close_of_business: str) -> WorkCalendar:
    days = (await session.execute(select(t.holidays).where(t.holidays.c.calendar == name))).all()
    years = (await session.scalars(select(t.calendar_years.c.year).where(t.calendar_years.c.calendar == name))).all()
    return WorkCalendar(
        name=name,
        tz=ZoneInfo(tz),
        close_of_business=time.fromisoformat(close_of_business),
        off=frozenset(d.day for d in days if d.kind == "off"),
        work=frozenset(d.day for d in days if d.kind == "work"),
        known_years=frozenset(int(y) for y in years),
    )
