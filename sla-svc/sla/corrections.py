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

from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.database import utcnow
from services.outbox import Outgoing, publish_many
from shared.enums import ClockState, OverdueLevel
from shared.events import CaseOverdue
from shared.sla import ClockSpec, Target
from sla import plan
from sla import tables as t
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
    for clock in rows:
        cal = ctx.calendar(clock.calendar)
        target = Target(unit=clock.unit, amount=clock.amount)
        start = int(clock.started_at.timestamp())
        new_due = plan.due(cal, start, target, clock.paused_total)
        if new_due == int(clock.due_at.timestamp()):
            warning = calendar_warning(cal, start, new_due)
            if clock.stopped_at is None and warning != clock.calendar_warning:  # e.g. no longer provisional
                await session.execute(
                    t.clocks.update().where(t.clocks.c.id == clock.id).values(calendar_warning=warning)
                )
            continue
        moved += 1
        withdrawn = await _withdraw(session, cal, clock, start, new_due, now)
        if clock.stopped_at is None:
            clock = (await session.execute(_query().where(t.clocks.c.id == clock.id))).one()
            await replan(session, ctx, clock, target, clock.paused_total, _change(calendar, now))
        else:
            await _restate_stopped(session, clock, new_due, calendar, now)
        if withdrawn:
            events.append(_withdrawal(clock, withdrawn, new_due, calendar, now))
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
    session: AsyncSession, cal: Any, clock: Row[Any], start: int, new_due: int, now: datetime
) -> list[str]:
    """Un-fire the alerts the new plan has not reached; the clock runs again if its breach goes."""
    spec = ClockSpec.model_validate(clock.spec)
    moments = {m.key: m for m in plan.timer_moments(cal, spec, clock.unit, start, new_due, now=0)}
    until = int((clock.stopped_at or now).timestamp())
    fired = (
        await session.execute(
            select(t.timers.c.id, t.timers.c.key, t.timers.c.level).where(
                t.timers.c.clock_id == clock.id, t.timers.c.fired_at.is_not(None)
            )
        )
    ).all()
    undone = [f for f in fired if f.key not in moments or moments[f.key].at > until]
    if not undone:
        return []
    await session.execute(delete(t.timers).where(t.timers.c.id.in_([f.id for f in undone])))
    kept = [f.level for f in fired if f not in undone]
    await session.execute(
        t.clock_plans.update().where(t.clock_plans.c.clock_id == clock.id).values(last_level=kept[-1] if kept else None)
    )
    if clock.stopped_at is None and clock.state == ClockState.breached and new_due > until:
        await session.execute(
            t.clocks.update().where(t.clocks.c.id == clock.id).values(state=ClockState.running, breached_at=None)
        )
    return list(dict.fromkeys(f.level for f in undone))  # each level once, in firing order


async def _restate_stopped(session: AsyncSession, clock: Row[Any], new_due: int, calendar: str, now: datetime) -> None:
    met = int(clock.stopped_at.timestamp()) <= new_due
    await session.execute(
        t.clocks.update()
        .where(t.clocks.c.id == clock.id)
        .values(
            due_at=datetime.fromtimestamp(new_due, clock.due_at.tzinfo),
            state=ClockState.met if met else ClockState.breached,
            breached_at=None if met else clock.breached_at,
        )
    )
    change = {**_change(calendar, now), "from": clock.due_at.isoformat(), "met": met}
    await session.execute(
        t.clock_plans.update().where(t.clock_plans.c.clock_id == clock.id).values(changes=[*clock.changes, change])
    )


def _withdrawal(clock: Row[Any], levels: list[str], new_due: int, calendar: str, now: datetime) -> Outgoing:
    due_at = datetime.fromtimestamp(new_due, now.tzinfo)
    payload = CaseOverdue(
        level=OverdueLevel.withdrawn,
        clock=clock.clock,
        policy=clock.policy,
        branch_code=clock.branch_code,
        kind=clock.kind,
        tier=clock.tier,
        started_at=clock.started_at,
        due_at=due_at,
        late_by_seconds=0,
        fired_late=False,
        owner=clock.owner,
        assignee=clock.assignee,
        run=clock.run,
        withdrawn=levels,
        reason=f"calendar {calendar} corrected: due {clock.due_at.isoformat()} is now {due_at.isoformat()}",
    )
    return Outgoing(payload, clock.case_id, now)
