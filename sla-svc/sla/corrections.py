"""A calendar corrected, or a year's notice loaded: every clock it touches is planned
again, and every alert that is no longer true is withdrawn (issue 13, item 9).

Which clocks: every clock on the calendar that is still open (running, paused or
breached) and every clock that stopped breached, since a breach counted on a
wrong calendar may not have been one. For each, the due time is counted again
from its start, target and pauses. Then:

- an open clock whose new due time is still ahead runs again (a breach undone);
  a stopped clock that stopped by its new due time is met;
- each alert of the clock's current run that fired (a warning, the breach, an
  escalation) and whose new moment has not come (or, for a stopped clock, came
  after it stopped) is withdrawn: its timer is planned again at its new moment,
  and one ``case.overdue`` with ``level: withdrawn`` names the withdrawn levels,
  the reason and the new due time, for notify-svc and every other consumer.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.database import utcnow
from services.outbox import Outgoing, publish_many
from shared.enums import ClockState, OverdueLevel
from shared.events import CaseOverdue
from sla import plan
from sla import tables as t
from sla.calendar import WorkCalendar
from sla.clock import Clock, epoch_of, moment_of, save
from sla.clocks import Context, calendar_warning, replan


async def replan_calendar(session: AsyncSession, ctx: Context, calendar: str) -> int:
    """Re-plan every clock on ``calendar`` the correction may change; returns how many moved."""
    now = utcnow()
    rows = (
        await session.execute(
            _query().where(
                t.clock_plans.c.calendar == calendar,
                t.clocks.c.state != ClockState.cancelled,
                or_(t.clocks.c.stopped_at.is_(None), t.clocks.c.state == ClockState.breached),
            )
        )
    ).all()
    events: list[Outgoing] = []
    moved = 0
    for row in rows:
        clock = Clock.of(row)
        cal = ctx.calendar(clock.calendar)
        new_due = plan.due(cal, clock.start, clock.target, clock.paused_total)
        if new_due == clock.due:
            warning = calendar_warning(cal, clock.start, new_due)
            if clock.stopped_at is None and warning != clock.calendar_warning:  # e.g. no longer provisional
                await save(session, replace(clock, calendar_warning=warning))
            continue
        moved += 1
        withdrawn, clock = await _withdraw(session, cal, clock, new_due, now)
        if clock.stopped_at is None:
            await replan(session, ctx, clock, clock.target, clock.paused_total, _change(calendar, now))
        else:
            await _restate_stopped(session, clock, new_due, calendar, now)
        if withdrawn:
            events.append(_withdrawal(clock, row, withdrawn, new_due, calendar, now))
    await publish_many(session, t.runtime, events)
    return moved


def _query() -> Any:
    return (
        select(t.clocks, t.clock_plans, t.case_parties.c.owner, t.case_parties.c.assignee)
        .join(t.clock_plans, t.clock_plans.c.clock_id == t.clocks.c.id)
        .outerjoin(t.case_parties, t.case_parties.c.case_id == t.clocks.c.case_id)
    )


def _change(calendar: str, now: datetime) -> dict[str, Any]:
    return {"at": now.isoformat(), "change": f"calendar {calendar} corrected"}


async def _withdraw(
    session: AsyncSession, cal: WorkCalendar, clock: Clock, new_due: int, now: datetime
) -> tuple[list[str], Clock]:
    """Un-fire the alerts the new plan has not reached; the clock runs again if its breach
    goes. The levels withdrawn, and the clock as it is now (its change not yet saved)."""
    moments = {m.key: m for m in plan.timer_moments(cal, clock.spec, clock.unit, clock.start, new_due, now=0)}
    until = epoch_of(clock.stopped_at or now)
    fired = (
        await session.execute(
            select(t.timers.c.id, t.timers.c.key, t.timers.c.level).where(
                t.timers.c.clock_id == clock.id, t.timers.c.fired_at.is_not(None)
            )
        )
    ).all()
    undone = [f for f in fired if f.key not in moments or moments[f.key].at > until]
    if not undone:
        return [], clock
    await session.execute(delete(t.timers).where(t.timers.c.id.in_([f.id for f in undone])))
    kept = [f.level for f in fired if f not in undone]
    clock = replace(clock, last_level=kept[-1] if kept else None)
    if clock.stopped_at is None and clock.state == ClockState.breached and new_due > until:
        clock = replace(clock, state=ClockState.running, breached_at=None)
    return list(dict.fromkeys(f.level for f in undone)), clock  # each level once, in firing order


async def _restate_stopped(session: AsyncSession, clock: Clock, new_due: int, calendar: str, now: datetime) -> None:
    assert clock.stopped_at is not None
    met = epoch_of(clock.stopped_at) <= new_due
    change = {**_change(calendar, now), "from": clock.due_at.isoformat(), "met": met}
    restated = replace(
        clock,
        due_at=moment_of(new_due),
        state=ClockState.met if met else ClockState.breached,
        breached_at=None if met else clock.breached_at,
    )
    await save(session, restated.noted(change))


def _withdrawal(clock: Clock, parties: Any, levels: list[str], new_due: int, calendar: str, now: datetime) -> Outgoing:
    """The ``case.overdue`` that withdraws ``levels``; ``parties`` is the loaded row (owner, assignee)."""
    due_at = moment_of(new_due)
    payload = CaseOverdue(
        level=OverdueLevel.withdrawn,
        clock=clock.name,
        policy=clock.policy,
        branch_code=clock.branch_code,
        kind=clock.kind,
        tier=clock.tier,
        started_at=clock.started_at,
        due_at=due_at,
        late_by_seconds=0,
        fired_late=False,
        owner=parties.owner,
        assignee=parties.assignee,
        run=clock.run,
        withdrawn=levels,
        reason=f"calendar {calendar} corrected: due {clock.due_at.isoformat()} is now {due_at.isoformat()}",
    )
    return Outgoing(payload, clock.case_id, now)
