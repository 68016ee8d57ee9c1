"""The ``Clock`` value: one clock of a case as the engine, the API actions, the
calendar corrections and the case view see it.

A clock is stored in two rows: ``sla.clocks`` (what the boards and reports filter
on) and ``sla.clock_plans`` (how it is counted). The value joins them once on load:
the policy's clock definition is parsed, the lists are made immutable, and the
start and due moments are converted to epoch seconds (what ``sla.plan`` counts in)
once, in ``__post_init__``, whatever produced the value.

A change is a new value (``dataclasses.replace``). ``save`` writes only the columns
that differ from what was loaded and answers with the value as now stored, so a
primitive that changes a clock twice (resume, then re-plan) never re-reads what it
has just written. The stored datetimes are kept as they are (an intake time keeps
its microseconds); only the arithmetic uses the epochs.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.enums import ClockState
from shared.sla import ClockSpec, Target
from sla import tables as t

Entry = Mapping[str, Any]


def epoch_of(moment: datetime) -> int:
    return int(moment.timestamp())


def moment_of(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


@dataclass(frozen=True)
class Clock:
    """One clock, both rows joined; ``start`` and ``due`` are derived, never passed."""

    id: int
    case_id: uuid.UUID
    name: str
    policy: str
    branch_code: str
    kind: str
    tier: str | None
    state: ClockState
    started_at: datetime
    due_at: datetime
    stopped_at: datetime | None
    breached_at: datetime | None
    rule: str
    calendar_warning: str | None
    calendar: str
    unit: str
    amount: float
    paused_at: datetime | None
    paused_total: int
    pauses: tuple[Entry, ...]
    extensions: tuple[Entry, ...]
    changes: tuple[Entry, ...]
    run: int
    last_level: str | None
    spec: ClockSpec
    #: The saved columns' values when loaded or last saved (what ``save`` compares with).
    stored: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    start: int = field(init=False, compare=False)
    due: int = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", epoch_of(self.started_at))
        object.__setattr__(self, "due", epoch_of(self.due_at))

    @classmethod
    def of(cls, row: Any) -> Clock:
        """From a row of ``clock_query`` (extra columns, such as the parties, are ignored)."""
        values = {name: getattr(row, name) for name in SAVED}
        values |= {
            "state": ClockState(row.state),
            "pauses": tuple(row.pauses),
            "extensions": tuple(row.extensions),
            "changes": tuple(row.changes),
            "spec": ClockSpec.model_validate(row.spec),
        }
        return cls(id=row.id, case_id=row.case_id, name=row.clock, **values, stored=values)

    @property
    def target(self) -> Target:
        return Target(unit=self.unit, amount=self.amount)

    @property
    def open(self) -> bool:
        """Not stopped and not cancelled: events, pauses and re-plans still apply."""
        return self.stopped_at is None and self.state != ClockState.cancelled

    def noted(self, change: Entry) -> Clock:
        """The same clock with one more entry in its history of changes."""
        return replace(self, changes=(*self.changes, change))


#: Where each saved attribute lives: every column of the two tables but the keys and
#: what never changes after the start (``id``, ``case_id``, ``clock``: the value's
#: ``name``, ``created_at``), derived so that a new column cannot be left unsaved.
CLOCK_COLUMNS = tuple(c.name for c in t.clocks.c if c.name not in ("id", "case_id", "clock", "created_at"))
PLAN_COLUMNS = tuple(c.name for c in t.clock_plans.c if c.name != "clock_id")
SAVED = CLOCK_COLUMNS + PLAN_COLUMNS
assert set(SAVED) < {f.name for f in fields(Clock)}, "every saved column is an attribute of Clock"


def _column_value(value: Any) -> Any:
    if isinstance(value, tuple):
        return [dict(entry) for entry in value]
    if isinstance(value, ClockSpec):
        return value.model_dump(mode="json")
    return value


async def save(session: AsyncSession, clock: Clock) -> Clock:
    """Write what changed since the clock was loaded; the value as now stored."""
    changed = {name: getattr(clock, name) for name in SAVED if clock.stored.get(name) != getattr(clock, name)}
    if not changed:
        return clock
    on_clock = {name: _column_value(v) for name, v in changed.items() if name in CLOCK_COLUMNS}
    on_plan = {name: _column_value(v) for name, v in changed.items() if name in PLAN_COLUMNS}
    if on_clock:
        await session.execute(t.clocks.update().where(t.clocks.c.id == clock.id).values(**on_clock))
    if on_plan:
        await session.execute(t.clock_plans.update().where(t.clock_plans.c.clock_id == clock.id).values(**on_plan))
    return replace(clock, stored={name: getattr(clock, name) for name in SAVED})


def clock_query(case_id: uuid.UUID) -> Select[Any]:
    return (
        select(t.clocks, t.clock_plans)
        .join(t.clock_plans, t.clock_plans.c.clock_id == t.clocks.c.id)
        .where(t.clocks.c.case_id == case_id)
        .order_by(t.clocks.c.id)
    )


async def clocks_of(session: AsyncSession, case_id: uuid.UUID) -> list[Clock]:
    """Every clock of a case, in the order they were started."""
    return [Clock.of(row) for row in (await session.execute(clock_query(case_id))).all()]
