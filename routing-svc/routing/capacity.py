"""Who has room for a case: effort weights, skills, and capacity (DOMAIN.md section 5).

A specialist's standard day handles 50 inquiries or 6 complaints. Capacity is
counted in effort points: a standard day is 300 points, so an inquiry weighs 6
(1/50 of a day) and a grievance or complaint 50 (1/6 of a day); a specialist
inquiry and a major complaint weigh double. A unit may set its own weights and
capacity, a person their own capacity. Load is the sum of the weights of a
person's open cases; it frees when the case closes.

Charging is one conditional ``UPDATE`` (``load_points + w <= capacity``), so two
consumers assigning at once can never take a person over capacity: on Postgres
the second update waits for the first and re-checks the condition.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from routing import tables as t
from services.database import changed_rows

STANDARD_CAPACITY = 300
STANDARD_WEIGHTS: Mapping[str, int] = {
    "inquiry": 6,
    "inquiry.specialist": 12,
    "grievance": 50,
    "complaint": 50,
    "complaint.major": 100,
}


def weight(kind: str | None, tier: str | None, unit_weights: Mapping[str, int] | None) -> int:
    """Effort points of a case of this kind and tier in this unit."""
    for table in (unit_weights or {}, STANDARD_WEIGHTS):
        for key in (f"{kind}.{tier}", f"{kind}"):
            if key in table:
                return int(table[key])
    return STANDARD_WEIGHTS["complaint"]


@dataclass(frozen=True)
class Person:
    id: str
    unit_code: str
    on_duty: bool
    load: int
    capacity: int
    skills: Mapping[str, Any]
    last_assigned_at: datetime | None

    @property
    def remaining(self) -> int:
        return self.capacity - self.load

    def can_handle(self, category: str | None, line_of_business: str | None) -> bool:
        """An empty skill list means "any"; a case without a category matches every list."""
        for value, key in ((category, "categories"), (line_of_business, "lines_of_business")):
            allowed = self.skills.get(key) or []
            if value is not None and allowed and value not in allowed:
                return False
        return True


async def members(session: AsyncSession, unit: str) -> list[Person]:
    return (await members_of(session, {unit})).get(unit, [])


async def members_of(session: AsyncSession, units: set[str]) -> dict[str, list[Person]]:
    """The people of several units in one query (a batch of new cases, ``routing.arrivals``)."""
    rows = (
        await session.execute(
            select(t.staff, t.units.c.capacity_points.label("unit_capacity"))
            .join(t.units, t.units.c.code == t.staff.c.unit_code)
            .where(t.staff.c.unit_code.in_(units))
            .order_by(t.staff.c.id)
        )
    ).all()
    found: dict[str, list[Person]] = {unit: [] for unit in units}
    for r in rows:
        found[r.unit_code].append(
            Person(
                id=r.id,
                unit_code=r.unit_code,
                on_duty=r.on_duty,
                load=r.load_points,
                capacity=r.capacity_points or r.unit_capacity or STANDARD_CAPACITY,
                skills=r.skills or {},
                last_assigned_at=r.last_assigned_at,
            )
        )
    return found


def ranked(people: list[Person], w: int, category: str | None, line_of_business: str | None) -> list[Person]:
    """Candidates with room, most remaining capacity first; among equals the one assigned
    longest ago (round-robin), then by id."""
    fit = [p for p in people if p.on_duty and p.remaining >= w and p.can_handle(category, line_of_business)]
    return sorted(fit, key=lambda p: (-p.remaining, p.last_assigned_at is not None, p.last_assigned_at or 0, p.id))


async def charge(session: AsyncSession, person: Person, w: int, now: datetime, *, force: bool = False) -> bool:
    """Count a case against a person; False if someone else took the room meanwhile."""
    query = t.staff.update().where(t.staff.c.id == person.id)
    if not force:
        query = query.where(t.staff.c.load_points + w <= person.capacity)
    charged = await changed_rows(
        session,
        query.values(load_points=t.staff.c.load_points + w, open_cases=t.staff.c.open_cases + 1, last_assigned_at=now),
    )
    return charged == 1


async def release(session: AsyncSession, person_id: str | None, w: int) -> None:
    if person_id is None:
        return
    await session.execute(
        t.staff.update()
        .where(t.staff.c.id == person_id)
        .values(load_points=t.staff.c.load_points - w, open_cases=t.staff.c.open_cases - 1)
    )


async def take_best(
    session: AsyncSession, unit: str, w: int, category: str | None, line_of_business: str | None, now: datetime
) -> str | None:
    """Assign to the best candidate with room, or None: the case waits in the unit's queue."""
    return await take_from(session, await members(session, unit), w, category, line_of_business, now)


async def take_from(
    session: AsyncSession,
    people: list[Person],
    w: int,
    category: str | None,
    line_of_business: str | None,
    now: datetime,
) -> str | None:
    """As ``take_best``, from ``people`` read once for a run of cases (a queue being
    drained). The one charged is updated in the list, so the next case ranks them as a
    fresh read would; the charge itself re-checks the room in the database."""
    for person in ranked(people, w, category, line_of_business):
        if await charge(session, person, w, now):
            people[people.index(person)] = replace(person, load=person.load + w, last_assigned_at=now)
            return person.id
    return None
