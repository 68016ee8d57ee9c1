"""A clock and what can happen to it: one clock per case per clock of its policy.

Here are the primitives every path uses, so that an event, an API action and a
re-plan change a clock the same way: start it (its due time from the calendar and
its timers), stop it (met, or breached if late), restart it (a new run: new material
restarts the period), pause and resume it (time not counted), and re-plan it (a new
target, a pause's end, a corrected calendar), its unfired timers following. Every
change keeps its history on the clock (``clock_plans.changes``). What drives them:
``sla.engine`` (events), ``sla.actions`` (the API), ``sla.corrections`` (calendars).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from services import wakeup
from services.database import insert_ignoring_conflicts, prebuilt, utcnow
from shared.enums import ClockState
from shared.sla import ClockSpec, PolicyOut, Target
from sla import plan
from sla import tables as t
from sla.calendar import WorkCalendar
from sla.policies import matching

log = logging.getLogger(__name__)
OPEN_STATES = (ClockState.running, ClockState.paused, ClockState.breached)
INSERT_PLAN = t.clock_plans.insert()


@dataclass
class Context:
    """What the clock engine needs beyond the session; built at start-up, refreshed on change."""

    calendars: dict[str, WorkCalendar]
    policies: list[PolicyOut]
    default_calendar: str = "CN"
    #: Until when the timer worker sleeps (it sets this); None: wake it for any new timer.
    timers_sleep_until: datetime | None = None

    def calendar(self, name: str) -> WorkCalendar:
        return self.calendars.get(name) or self.calendars[self.default_calendar]

    def policy_of(self, case: Any) -> PolicyOut:
        """The policy the case was planned under; if an administrator has deleted it
        since, the policy that matches the case now (said in the log, never silent)."""
        found = next((p for p in self.policies if p.id == case.policy), None)
        if found is None:
            found = matching(self.policies, case)
            log.warning("policy gone; the case follows the one matching it now", extra={"policy": found.id})
        return found


def epoch_of(moment: datetime) -> int:
    return int(moment.timestamp())


def moment_of(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def calendar_warning(cal: WorkCalendar, start: int, due_epoch: int) -> str | None:
    """The visible flag of a clock counted on a year with no schedule, or a provisional one."""
    unknown = cal.unknown_years(moment_of(start), moment_of(due_epoch))
    if unknown:
        return f"no holiday schedule loaded for {', '.join(map(str, unknown))}: counted on weekends only"
    provisional = cal.provisional_between(moment_of(start), moment_of(due_epoch))
    if provisional:
        return (
            f"provisional for {', '.join(map(str, provisional))}: counted on the statutory holidays only; "
            "the State Council's notice of bridging days and make-up working days is not loaded yet"
        )
    return None


def clock_query(case_id: uuid.UUID) -> Any:
    return (
        select(t.clocks, t.clock_plans)
        .join(t.clock_plans, t.clock_plans.c.clock_id == t.clocks.c.id)
        .where(t.clocks.c.case_id == case_id)
        .order_by(t.clocks.c.id)
    )


@dataclass(frozen=True)
class NewClock:
    """A clock about to start: its row, its plan (without ``clock_id``) and its timers."""

    row: dict[str, Any]
    plan: dict[str, Any]
    timers: list[dict[str, Any]]


def new_clock(ctx: Context, case: Any, policy: PolicyOut, spec: ClockSpec, start: datetime) -> NewClock:
    """What starting ``spec`` on ``case`` at ``start`` writes: pure, so one clock and a
    batch of new cases (``sla.arrivals``) write exactly the same rows."""
    cal = ctx.calendar(case.calendar)
    due_epoch = plan.due(cal, epoch_of(start), spec.target, 0)
    row = {
        "case_id": case.case_id,
        "clock": spec.name,
        "policy": policy.id,
        "branch_code": case.branch_code,
        "kind": case.kind,
        "tier": case.tier,
        "state": ClockState.running,
        "started_at": start,
        "due_at": moment_of(due_epoch),
        "rule": cal.describe(spec.target.unit, spec.target.amount)[:500],
        "calendar_warning": calendar_warning(cal, epoch_of(start), due_epoch),
        "created_at": utcnow(),
    }
    plan_row = {
        "calendar": cal.name,
        "unit": spec.target.unit,
        "amount": spec.target.amount,
        "spec": spec.model_dump(mode="json"),
        "pauses": [],
        "extensions": [],
        "changes": [],
    }
    timers = [
        {"key": m.key, "level": m.level, "due_at": moment_of(m.at)}
        for m in plan.timer_moments(cal, spec, spec.target.unit, epoch_of(start), due_epoch)
    ]
    return NewClock(row, plan_row, timers)


def insert_clock(session: AsyncSession) -> Any:
    return prebuilt(
        session,
        "sla.clocks",
        lambda s: insert_ignoring_conflicts(s, t.clocks, ["case_id", "clock"]).returning(
            t.clocks.c.id, t.clocks.c.case_id, t.clocks.c.clock
        ),
    )


async def add_timers(session: AsyncSession, ctx: Context, rows: list[dict[str, Any]]) -> None:
    """Insert timers; wake the timer worker (once the session commits) only if one is due
    before the moment it sleeps until, so a busy consumer planning timers days ahead
    costs the worker no extra rounds."""
    if not rows:
        return
    stmt = prebuilt(session, "sla.timers", lambda s: insert_ignoring_conflicts(s, t.timers, ["clock_id", "key"]))
    await session.execute(stmt, rows)
    if ctx.timers_sleep_until is None or min(r["due_at"] for r in rows) < ctx.timers_sleep_until:
        wakeup.mark(session, "timers")


async def start_clock(
    session: AsyncSession, ctx: Context, case: Row[Any], policy: PolicyOut, spec: ClockSpec, start: datetime
) -> None:
    new = new_clock(ctx, case, policy, spec, start)
    inserted = (await session.execute(insert_clock(session), new.row)).first()
    if inserted is None:
        return
    await session.execute(INSERT_PLAN, {**new.plan, "clock_id": inserted.id})
    await add_timers(session, ctx, [{**m, "clock_id": inserted.id} for m in new.timers])


async def plan_timers(
    session: AsyncSession,
    ctx: Context,
    cal: WorkCalendar,
    clock_id: int,
    spec: ClockSpec,
    unit: str,
    start: int,
    due_at: int,
) -> None:
    """(Re)create the timers not yet fired; a timer that fired keeps its place (once per run)."""
    await session.execute(delete(t.timers).where(t.timers.c.clock_id == clock_id, t.timers.c.fired_at.is_(None)))
    rows = [
        {"clock_id": clock_id, "key": m.key, "level": m.level, "due_at": moment_of(m.at)}
        for m in plan.timer_moments(cal, spec, unit, start, due_at)
    ]
    await add_timers(session, ctx, rows)


async def stop_clock(session: AsyncSession, clock: Row[Any], at: datetime) -> None:
    on_time = at <= clock.due_at or clock.state == ClockState.paused
    state = ClockState.met if on_time and clock.state != ClockState.breached else ClockState.breached
    await session.execute(
        t.clocks.update()
        .where(t.clocks.c.id == clock.id)
        .values(
            state=state, stopped_at=at, breached_at=clock.breached_at or (at if state == ClockState.breached else None)
        )
    )
    await session.execute(delete(t.timers).where(t.timers.c.clock_id == clock.id, t.timers.c.fired_at.is_(None)))


async def restart_clock(
    session: AsyncSession, ctx: Context, case: Row[Any], clock: Row[Any], spec: ClockSpec, at: datetime
) -> None:
    """A new run from ``at`` on the policy's own target: new material restarts the period
    ("自收到新的投诉材料之日起"), so extensions granted in an earlier run are used up with it
    and are available again (decision 0004)."""
    cal = ctx.calendar(clock.calendar)
    target = spec.target
    due_epoch = plan.due(cal, epoch_of(at), target, 0)
    await session.execute(
        t.clocks.update()
        .where(t.clocks.c.id == clock.id)
        .values(
            state=ClockState.running,
            started_at=at,
            due_at=moment_of(due_epoch),
            stopped_at=None,
            breached_at=None,
            rule=cal.describe(target.unit, target.amount)[:500],
            calendar_warning=calendar_warning(cal, epoch_of(at), due_epoch),
        )
    )
    change: dict[str, Any] = {"at": at.isoformat(), "change": "restarted", "run": clock.run + 1}
    if clock.extensions or (clock.unit, clock.amount) != (target.unit, target.amount):
        change["from"] = {"unit": clock.unit, "amount": clock.amount, "extensions": len(clock.extensions)}
        change["to"] = target.model_dump()
    await session.execute(
        t.clock_plans.update()
        .where(t.clock_plans.c.clock_id == clock.id)
        .values(
            run=clock.run + 1,
            unit=target.unit,
            amount=target.amount,
            paused_at=None,
            paused_total=0,
            pauses=[],
            extensions=[],
            last_level=None,
            changes=[*clock.changes, change],
        )
    )
    await session.execute(delete(t.timers).where(t.timers.c.clock_id == clock.id))
    await plan_timers(session, ctx, cal, clock.id, spec, target.unit, epoch_of(at), due_epoch)


async def replan(
    session: AsyncSession, ctx: Context, clock: Row[Any], target: Target, paused_total: int, change: dict[str, Any]
) -> None:
    """A new due time for a clock (new target, pause, calendar); its unfired timers follow."""
    cal = ctx.calendar(clock.calendar)
    start = epoch_of(clock.started_at)
    due_epoch = plan.due(cal, start, target, paused_total)
    await session.execute(
        t.clocks.update()
        .where(t.clocks.c.id == clock.id)
        .values(
            due_at=moment_of(due_epoch),
            rule=cal.describe(target.unit, target.amount)[:500],
            calendar_warning=calendar_warning(cal, start, due_epoch),
        )
    )
    await session.execute(
        t.clock_plans.update()
        .where(t.clock_plans.c.clock_id == clock.id)
        .values(unit=target.unit, amount=target.amount, paused_total=paused_total, changes=[*clock.changes, change])
    )
    if clock.state in (ClockState.running, ClockState.breached):  # a breached clock still escalates
        spec = ClockSpec.model_validate(clock.spec)
        await plan_timers(session, ctx, cal, clock.id, spec, target.unit, start, due_epoch)


async def retarget(
    session: AsyncSession, ctx: Context, clock: Row[Any], target: Target, why: str, at: datetime
) -> None:
    if (clock.unit, clock.amount) == (target.unit, target.amount):
        return
    change = {
        "at": at.isoformat(),
        "change": why,
        "from": {"unit": clock.unit, "amount": clock.amount},
        "to": target.model_dump(),
    }
    await replan(session, ctx, clock, target, clock.paused_total, change)


async def pause_clock(session: AsyncSession, clock: Row[Any], at: datetime, reason: str, by: str) -> None:
    entry = {"start": at.isoformat(), "end": None, "reason": reason, "by": by}
    await session.execute(t.clocks.update().where(t.clocks.c.id == clock.id).values(state=ClockState.paused))
    await session.execute(
        t.clock_plans.update()
        .where(t.clock_plans.c.clock_id == clock.id)
        .values(paused_at=at, pauses=[*clock.pauses, entry])
    )
    await session.execute(delete(t.timers).where(t.timers.c.clock_id == clock.id, t.timers.c.fired_at.is_(None)))


async def resume_clock(session: AsyncSession, ctx: Context, clock: Row[Any], at: datetime, by: str) -> None:
    cal = ctx.calendar(clock.calendar)
    gone = plan.paused_between(cal, clock.unit, epoch_of(clock.paused_at), epoch_of(at))
    pauses = [*clock.pauses[:-1], {**clock.pauses[-1], "end": at.isoformat(), "resumed_by": by}]
    await session.execute(t.clocks.update().where(t.clocks.c.id == clock.id).values(state=ClockState.running))
    await session.execute(
        t.clock_plans.update().where(t.clock_plans.c.clock_id == clock.id).values(paused_at=None, pauses=pauses)
    )
    clock = (await session.execute(clock_query(clock.case_id).where(t.clocks.c.id == clock.id))).one()
    change = {"at": at.isoformat(), "change": "resumed after a pause", "paused_seconds": gone}
    await replan(session, ctx, clock, Target(unit=clock.unit, amount=clock.amount), clock.paused_total + gone, change)
