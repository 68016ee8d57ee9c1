"""A clock and what can happen to it: one clock per case per clock of its policy.

Here are the primitives every path uses, so that an event, an API action and a
re-plan change a clock the same way: start it (its due time from the calendar and
its timers), stop it (met, or breached if late), restart it (a new run: new material
restarts the period), pause and resume it (time not counted), and re-plan it (a new
target, a pause's end, a corrected calendar), its unfired timers following. Every
change keeps its history on the clock (``clock_plans.changes``). What drives them:
``sla.engine`` (events), ``sla.actions`` (the API), ``sla.corrections`` (calendars).

Each primitive takes a ``Clock`` value (``sla.clock``) and answers with the value as
saved, so a caller that changes a clock twice never reads it back in between.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from services import native, wakeup
from services.database import insert_ignoring_conflicts, prebuilt, utcnow
from shared.enums import ClockState
from shared.sla import ClockSpec, PolicyOut, Target
from sla import plan
from sla import tables as t
from sla.calendar import WorkCalendar
from sla.clock import Clock, epoch_of, moment_of, save
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
    #: Each clock spec as its plan row stores it, by the spec (``spec_json``).
    _spec_json: dict[int, tuple[ClockSpec, dict[str, Any]]] = field(default_factory=dict, repr=False)

    def calendar(self, name: str) -> WorkCalendar:
        return self.calendars.get(name) or self.calendars[self.default_calendar]

    def spec_json(self, spec: ClockSpec) -> dict[str, Any]:
        """``spec`` as JSON values, dumped once per spec rather than once per new clock
        (the policies' specs are kept for the context's life; a rebuilt context starts
        afresh). Read-only: every plan row of the spec shares it."""
        found = self._spec_json.get(id(spec))
        if found is None or found[0] is not spec:
            found = self._spec_json[id(spec)] = (spec, spec.model_dump(mode="json"))
        return found[1]

    def policy_of(self, case: Any) -> PolicyOut:
        """The policy the case was planned under; if an administrator has deleted it
        since, the policy that matches the case now (said in the log, never silent)."""
        found = next((p for p in self.policies if p.id == case.policy), None)
        if found is None:
            found = matching(self.policies, case)
            log.warning("policy gone; the case follows the one matching it now", extra={"policy": found.id})
        return found


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


@dataclass(frozen=True)
class NewClock:
    """A clock about to start: its row, its plan (without ``clock_id``) and its first timer."""

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
        "spec": ctx.spec_json(spec),
        "pauses": [],
        "extensions": [],
        "changes": [],
    }
    first = plan.next_moment(plan.timer_moments(cal, spec, spec.target.unit, epoch_of(start), due_epoch), ())
    timers = [{"key": first.key, "level": first.level, "due_at": moment_of(first.at)}] if first else []
    return NewClock(row, plan_row, timers)


def insert_clock(session: AsyncSession) -> Any:
    return prebuilt(
        session,
        "sla.clocks",
        lambda s: insert_ignoring_conflicts(s, t.clocks, ["case_id", "clock"]).returning(
            t.clocks.c.id, t.clocks.c.case_id, t.clocks.c.clock
        ),
    )


async def insert_timers(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Timer rows in one statement; a key the clock already has in this run is left as it is."""
    stmt = prebuilt(session, "sla.timers", lambda s: insert_ignoring_conflicts(s, t.timers, ["clock_id", "key"]))
    await native.execute_many(session, stmt, rows)


async def add_timers(session: AsyncSession, ctx: Context, rows: list[dict[str, Any]]) -> None:
    """Insert timers; wake the timer worker (once the session commits) only if one is due
    before the moment it sleeps until, so a busy consumer planning timers days ahead
    costs the worker no extra rounds. (The worker's own round plans with
    ``insert_timers``: it looks for the next due timer after the round anyway.)"""
    if not rows:
        return
    await insert_timers(session, rows)
    if ctx.timers_sleep_until is None or min(r["due_at"] for r in rows) < ctx.timers_sleep_until:
        wakeup.mark(session, "timers")


async def start_clock(
    session: AsyncSession, ctx: Context, case: Any, policy: PolicyOut, spec: ClockSpec, start: datetime
) -> None:
    """One clock, written as a batch of new cases writes its clocks (``sla.arrivals``):
    prebuilt statements through the driver."""
    new = new_clock(ctx, case, policy, spec, start)
    inserted = await native.fetch_many(session, insert_clock(session), [new.row])
    if not inserted:
        return
    clock_id = inserted[0][0]  # RETURNING id, case_id, clock
    await native.execute_many(session, INSERT_PLAN, [{**new.plan, "clock_id": clock_id}])
    await add_timers(session, ctx, [{**m, "clock_id": clock_id} for m in new.timers])


#: A clock's timers still to fire, or all of them (a new run): executed with parameters.
DROP_UNFIRED = delete(t.timers).where(t.timers.c.clock_id == bindparam("clock_id"), t.timers.c.fired_at.is_(None))
DROP_EVERY = delete(t.timers).where(t.timers.c.clock_id == bindparam("clock_id"))


async def drop_timers(session: AsyncSession, clock_id: int, *, fired_too: bool = False) -> None:
    """Unplan the clock's timer still to fire (and, for a new run, those that fired).

    A firing round that holds this clock may meanwhile plan its next timer, and this
    delete, begun before that round commits, does not see it. For a stop or a pause
    that is harmless: such a timer is deleted without a word when it comes due, its
    clock no longer running (``sla.firing``). A re-plan must not leave one, so it locks
    the clock first (``plan_timers``)."""
    await native.execute_many(session, DROP_EVERY if fired_too else DROP_UNFIRED, [{"clock_id": clock_id}])


async def fired_keys(session: AsyncSession, clock_ids: Collection[int]) -> dict[int, set[str]]:
    """The timer keys each clock has fired in its run (a new run deletes them)."""
    rows = await session.execute(
        select(t.timers.c.clock_id, t.timers.c.key).where(
            t.timers.c.clock_id.in_(clock_ids), t.timers.c.fired_at.is_not(None)
        )
    )
    fired: dict[int, set[str]] = {}
    for clock_id, key in rows:
        fired.setdefault(clock_id, set()).add(key)
    return fired


async def plan_timers(session: AsyncSession, ctx: Context, clock: Clock, *, new_run: bool = False) -> None:
    """(Re)plan the clock's next timer: the earliest moment of its plan not yet fired (a
    timer that fired keeps its place, once per run), except for a new run, which starts
    with none fired. On SQLite (one writer at a time) the lock is not rendered."""
    # Wait for a firing round that holds the clock, then see the timer it planned (a
    # round locks the clocks it claims; a statement after the lock sees its commit).
    await session.execute(select(t.clocks.c.id).where(t.clocks.c.id == clock.id).with_for_update())
    await drop_timers(session, clock.id, fired_too=new_run)
    fired = set() if new_run else (await fired_keys(session, [clock.id])).get(clock.id, set())
    moments = plan.timer_moments(ctx.calendar(clock.calendar), clock.spec, clock.unit, clock.start, clock.due)
    first = plan.next_moment(moments, fired)
    if first is not None:
        row = {"clock_id": clock.id, "key": first.key, "level": first.level, "due_at": moment_of(first.at)}
        await add_timers(session, ctx, [row])


async def stop_clock(session: AsyncSession, clock: Clock, at: datetime, why: str | None = None) -> Clock:
    """Met if stopped within the limit (a paused clock's time was not running), else breached."""
    on_time = at <= clock.due_at or clock.state == ClockState.paused
    state = ClockState.met if on_time and clock.state != ClockState.breached else ClockState.breached
    stopped = replace(
        clock,
        state=state,
        stopped_at=at,
        breached_at=clock.breached_at or (at if state == ClockState.breached else None),
    )
    if why is not None:
        stopped = stopped.noted({"at": at.isoformat(), "change": f"stopped: {why}"})
    await drop_timers(session, clock.id)
    return await save(session, stopped)


def _counted(ctx: Context, clock: Clock, target: Target, start: datetime, paused_total: int) -> Clock:
    """The clock with its due time, rule and calendar warning counted again (pure)."""
    cal = ctx.calendar(clock.calendar)
    due_epoch = plan.due(cal, epoch_of(start), target, paused_total)
    return replace(
        clock,
        started_at=start,
        due_at=moment_of(due_epoch),
        unit=target.unit,
        amount=target.amount,
        paused_total=paused_total,
        rule=cal.describe(target.unit, target.amount)[:500],
        calendar_warning=calendar_warning(cal, epoch_of(start), due_epoch),
    )


async def restart_clock(session: AsyncSession, ctx: Context, clock: Clock, spec: ClockSpec, at: datetime) -> Clock:
    """A new run from ``at`` on the policy's own target: new material restarts the period
    ("自收到新的投诉材料之日起"), so extensions granted in an earlier run are used up with it
    and are available again (decision 0004)."""
    target = spec.target
    change: dict[str, Any] = {"at": at.isoformat(), "change": "restarted", "run": clock.run + 1}
    if clock.extensions or (clock.unit, clock.amount) != (target.unit, target.amount):
        change["from"] = {"unit": clock.unit, "amount": clock.amount, "extensions": len(clock.extensions)}
        change["to"] = target.model_dump()
    restarted = replace(
        _counted(ctx, clock, target, at, 0),
        state=ClockState.running,
        stopped_at=None,
        breached_at=None,
        run=clock.run + 1,
        paused_at=None,
        pauses=(),
        extensions=(),
        last_level=None,
        spec=spec,
    ).noted(change)
    await plan_timers(session, ctx, restarted, new_run=True)
    return await save(session, restarted)


async def replan(
    session: AsyncSession, ctx: Context, clock: Clock, target: Target, paused_total: int, change: dict[str, Any]
) -> Clock:
    """A new due time for a clock (new target, pause, calendar, policy); its unfired
    timers follow. ``clock`` may carry unsaved changes (a resume, an extension): they
    are saved with the new plan."""
    replanned = _counted(ctx, clock, target, clock.started_at, paused_total).noted(change)
    if replanned.state in (ClockState.running, ClockState.breached):  # a breached clock still escalates
        await plan_timers(session, ctx, replanned)
    return await save(session, replanned)


async def retarget(session: AsyncSession, ctx: Context, clock: Clock, target: Target, why: str, at: datetime) -> Clock:
    if (clock.unit, clock.amount) == (target.unit, target.amount):
        return clock
    change = {
        "at": at.isoformat(),
        "change": why,
        "from": {"unit": clock.unit, "amount": clock.amount},
        "to": target.model_dump(),
    }
    return await replan(session, ctx, clock, target, clock.paused_total, change)


async def pause_clock(session: AsyncSession, clock: Clock, at: datetime, reason: str, by: str) -> Clock:
    entry = {"start": at.isoformat(), "end": None, "reason": reason, "by": by}
    await drop_timers(session, clock.id)
    return await save(session, replace(clock, state=ClockState.paused, paused_at=at, pauses=(*clock.pauses, entry)))


async def resume_clock(session: AsyncSession, ctx: Context, clock: Clock, at: datetime, by: str) -> Clock:
    """Running again; the time paused, in the clock's own measure, moves the due time."""
    assert clock.paused_at is not None, "only a paused clock resumes"
    gone = plan.paused_between(ctx.calendar(clock.calendar), clock.unit, epoch_of(clock.paused_at), epoch_of(at))
    pauses = (*clock.pauses[:-1], {**clock.pauses[-1], "end": at.isoformat(), "resumed_by": by})
    resumed = replace(clock, state=ClockState.running, paused_at=None, pauses=pauses)
    change = {"at": at.isoformat(), "change": "resumed after a pause", "paused_seconds": gone}
    return await replan(session, ctx, resumed, clock.target, clock.paused_total + gone, change)
