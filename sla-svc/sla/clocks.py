"""Clocks driven by events: one clock per case per clock of its policy.

Each event of a case (``created``, ``assigned``, ``transferred:<kind>``,
``updated:<action>``) is logged, then applied to the policy's clocks: it may start
a clock, stop it (met, or breached if late), restart it (a reopen), or re-target
it (a transfer to another department). A reclassification re-plans the case under
its new policy: clocks the new policy also has keep running with its targets,
the others are cancelled, and new ones start from the logged events. Pauses and
extensions come from the API. Every change keeps its history on the clock.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from services import wakeup
from services.database import insert_ignoring_conflicts, prebuilt, upsert, utcnow
from services.errors import DomainError
from shared.enums import CaseStatus, ClockState
from shared.events import CaseCreated, CaseTransferred, CaseUpdated
from shared.sla import ClockSpec, ExtendIn, PauseIn, PolicyOut, ResumeIn, Target
from sla import calendars as cals
from sla import plan, policies
from sla import tables as t
from sla.calendar import WorkCalendar

OPEN_STATES = (ClockState.running, ClockState.paused, ClockState.breached)
INSERT_EVENT = t.case_events.insert()
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

    def policy(self, policy_id: str) -> PolicyOut:
        return next((p for p in self.policies if p.id == policy_id), self.policies[-1])


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _dt(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def calendar_warning(cal: WorkCalendar, start: int, due_epoch: int) -> str | None:
    """The visible flag of a clock counted on a year with no schedule, or a provisional one."""
    unknown = cal.unknown_years(_dt(start), _dt(due_epoch))
    if unknown:
        return f"no holiday schedule loaded for {', '.join(map(str, unknown))}: counted on weekends only"
    provisional = cal.provisional_between(_dt(start), _dt(due_epoch))
    if provisional:
        return (
            f"provisional for {', '.join(map(str, provisional))}: counted on the statutory holidays only; "
            "the State Council's notice of bridging days and make-up working days is not loaded yet"
        )
    return None


def case_row(ctx: Context, case_id: uuid.UUID, case: CaseCreated) -> dict[str, Any]:
    """The ``sla.cases`` row of a new case: its policy and calendar chosen once, here."""
    policy = policies.matching(ctx.policies, case)
    cal = cals.for_branch(ctx.calendars, case.branch_code, ctx.default_calendar)
    return {
        "case_id": case_id,
        "kind": case.kind,
        "tier": case.tier,
        "category": case.category,
        "channel": case.channel,
        "branch_code": case.branch_code,
        "agent_code": case.agent_code,
        "status": case.status,
        "received_at": case.received_at,
        "policy": policy.id,
        "calendar": cal.name,
    }


def insert_case(session: AsyncSession) -> Any:
    return prebuilt(
        session,
        "sla.cases",
        lambda s: insert_ignoring_conflicts(s, t.cases, ["case_id"]).returning(t.cases.c.case_id),
    )


async def on_created(session: AsyncSession, ctx: Context, case_id: uuid.UUID, case: CaseCreated) -> None:
    if (await session.execute(insert_case(session), case_row(ctx, case_id, case))).first() is None:
        return  # seen before
    await _log(session, case_id, "created", case.received_at)
    await replay(session, ctx, case_id)


def transfer_names(event: CaseTransferred) -> list[str]:
    """The clock events a transfer is: its kind, and ``assigned`` when someone has it."""
    return [f"transferred:{event.transfer_kind}"] + (["assigned"] if event.to_assignee else [])


def parties(case_id: uuid.UUID, event: CaseTransferred) -> dict[str, Any]:
    """Who has the case after a transfer (``sla.case_parties``), for alerts and reports."""
    return {
        "case_id": case_id,
        "unit": event.to_unit,
        "assignee": event.to_assignee,
        "owner": event.owner,
        "updated_at": utcnow(),
    }


def upsert_parties(session: AsyncSession) -> Any:
    """One statement for one transfer or, executed with a list, for a batch in order."""

    def build(s: AsyncSession) -> Any:
        stmt = upsert(s, t.case_parties)
        kept = ("unit", "assignee", "owner", "updated_at")
        return stmt.on_conflict_do_update(index_elements=["case_id"], set_={name: stmt.excluded[name] for name in kept})

    return prebuilt(session, "sla.case_parties", build)


async def on_updated(session: AsyncSession, ctx: Context, case_id: uuid.UUID, event: CaseUpdated, at: datetime) -> None:
    case = await case_of(session, case_id)
    if case is not None:
        await session.execute(
            t.cases.update()
            .where(t.cases.c.case_id == case_id)
            .values(
                kind=event.kind,
                tier=event.tier,
                category=event.category,
                status=event.status,
                agent_code=event.agent_code,
            )
        )
        if event.action in ("reclassify", "escalate-to-complaint"):
            await replan_policy(
                session, ctx, case_id, at, f"{event.action}: {event.kind}/{event.tier}/{event.category}"
            )
    name = f"updated:{event.action}"
    if event.action == "start-appraisal" and event.details.get("complainant_informed") is not True:
        name += " (complainant not informed: not a pause)"  # logged, never matches pause_on
    await _apply_events(session, ctx, case_id, [name], at)
    if event.status == CaseStatus.closed and case is not None:
        await stop_all(session, case_id, at, f"the case was closed ({event.action})")


async def stop_all(session: AsyncSession, case_id: uuid.UUID, at: datetime, why: str) -> None:
    """Closing a case stops every clock still open: met if within its limit (a paused
    clock's time was not running), breached if it had already run out."""
    for clock in (await session.execute(_clock_query(case_id))).all():
        if clock.stopped_at is not None or clock.state == "cancelled":
            continue
        await _stop(session, clock, at)
        await session.execute(
            t.clock_plans.update()
            .where(t.clock_plans.c.clock_id == clock.id)
            .values(changes=[*clock.changes, {"at": at.isoformat(), "change": f"stopped: {why}"}])
        )


async def _log(session: AsyncSession, case_id: uuid.UUID, event: str, at: datetime) -> None:
    await session.execute(INSERT_EVENT, {"case_id": case_id, "event": event, "at": at})


async def case_of(session: AsyncSession, case_id: uuid.UUID) -> Row[Any] | None:
    return (await session.execute(select(t.cases).where(t.cases.c.case_id == case_id))).first()


async def _apply_events(
    session: AsyncSession, ctx: Context, case_id: uuid.UUID, names: list[str], at: datetime
) -> None:
    for name in names:
        await _log(session, case_id, name, at)
    case = await case_of(session, case_id)
    if case is None:
        return  # replayed when the case arrives
    for name in names:
        await apply_event(session, ctx, case, name, at)


async def replay(session: AsyncSession, ctx: Context, case_id: uuid.UUID, only: set[str] | None = None) -> None:
    """Apply the logged events in time order (after the case arrives, or a new policy)."""
    case = await case_of(session, case_id)
    assert case is not None
    logged = (
        await session.execute(
            select(t.case_events)
            .where(t.case_events.c.case_id == case_id)
            .order_by(t.case_events.c.at, t.case_events.c.id)
        )
    ).all()
    for row in logged:
        await apply_event(session, ctx, case, row.event, row.at, only)


async def apply_event(
    session: AsyncSession, ctx: Context, case: Row[Any], name: str, at: datetime, only: set[str] | None = None
) -> None:
    policy = ctx.policy(case.policy)
    existing = {c.clock: c for c in (await session.execute(_clock_query(case.case_id))).all()}
    for spec in policies.applicable(policy, case):
        if only is not None and spec.name not in only:
            continue
        clock = existing.get(spec.name)
        if clock is not None and clock.state != "cancelled":
            if name in spec.stop and clock.stopped_at is None:
                await _stop(session, clock, at)
            elif name in spec.restart_on and clock.stopped_at is not None and clock.state != "cancelled":
                await _restart(session, ctx, case, clock, spec, at)
            elif name == "transferred:transfer" and spec.after_transfer and clock.stopped_at is None:
                await retarget(session, ctx, clock, spec.after_transfer, "transferred to another department", at)
            elif name in spec.pause_on and clock.state == ClockState.running:
                await _pause(session, clock, at, name.removeprefix("updated:"), "intake-svc")
            elif name in spec.resume_on and clock.state == ClockState.paused:
                await _resume(session, ctx, clock, at, "intake-svc")
        elif clock is None and name in spec.start:
            start = case.received_at if name == "created" else at
            await _start(session, ctx, case, policy, spec, start)


def _clock_query(case_id: uuid.UUID) -> Any:
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
    due_epoch = plan.due(cal, _epoch(start), spec.target, 0)
    row = {
        "case_id": case.case_id,
        "clock": spec.name,
        "policy": policy.id,
        "branch_code": case.branch_code,
        "kind": case.kind,
        "tier": case.tier,
        "state": ClockState.running,
        "started_at": start,
        "due_at": _dt(due_epoch),
        "rule": cal.describe(spec.target.unit, spec.target.amount)[:500],
        "calendar_warning": calendar_warning(cal, _epoch(start), due_epoch),
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
        {"key": m.key, "level": m.level, "due_at": _dt(m.at)}
        for m in plan.timer_moments(cal, spec, spec.target.unit, _epoch(start), due_epoch)
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


async def _start(
    session: AsyncSession, ctx: Context, case: Row[Any], policy: PolicyOut, spec: ClockSpec, start: datetime
) -> None:
    new = new_clock(ctx, case, policy, spec, start)
    inserted = (await session.execute(insert_clock(session), new.row)).first()
    if inserted is None:
        return
    await session.execute(INSERT_PLAN, {**new.plan, "clock_id": inserted.id})
    await add_timers(session, ctx, [{**m, "clock_id": inserted.id} for m in new.timers])


async def _plan_timers(
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
        {"clock_id": clock_id, "key": m.key, "level": m.level, "due_at": _dt(m.at)}
        for m in plan.timer_moments(cal, spec, unit, start, due_at)
    ]
    await add_timers(session, ctx, rows)


async def _stop(session: AsyncSession, clock: Row[Any], at: datetime) -> None:
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


async def _restart(
    session: AsyncSession, ctx: Context, case: Row[Any], clock: Row[Any], spec: ClockSpec, at: datetime
) -> None:
    """A new run from ``at`` on the policy's own target: new material restarts the period
    ("自收到新的投诉材料之日起"), so extensions granted in an earlier run are used up with it
    and are available again (decision 0004)."""
    cal = ctx.calendar(clock.calendar)
    target = spec.target
    due_epoch = plan.due(cal, _epoch(at), target, 0)
    await session.execute(
        t.clocks.update()
        .where(t.clocks.c.id == clock.id)
        .values(
            state=ClockState.running,
            started_at=at,
            due_at=_dt(due_epoch),
            stopped_at=None,
            breached_at=None,
            rule=cal.describe(target.unit, target.amount)[:500],
            calendar_warning=calendar_warning(cal, _epoch(at), due_epoch),
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
    await _plan_timers(session, ctx, cal, clock.id, spec, target.unit, _epoch(at), due_epoch)


async def replan(
    session: AsyncSession, ctx: Context, clock: Row[Any], target: Target, paused_total: int, change: dict[str, Any]
) -> None:
    """A new due time for a clock (new target, pause, calendar); its unfired timers follow."""
    cal = ctx.calendar(clock.calendar)
    start = _epoch(clock.started_at)
    due_epoch = plan.due(cal, start, target, paused_total)
    await session.execute(
        t.clocks.update()
        .where(t.clocks.c.id == clock.id)
        .values(
            due_at=_dt(due_epoch),
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
        await _plan_timers(session, ctx, cal, clock.id, spec, target.unit, start, due_epoch)


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


async def replan_policy(session: AsyncSession, ctx: Context, case_id: uuid.UUID, at: datetime, why: str) -> None:
    case = await case_of(session, case_id)
    assert case is not None
    new = policies.matching(ctx.policies, case)
    if new.id == case.policy:
        return
    await session.execute(t.cases.update().where(t.cases.c.case_id == case_id).values(policy=new.id))
    specs = {s.name: s for s in policies.applicable(new, case)}
    for clock in (await session.execute(_clock_query(case_id))).all():
        if clock.stopped_at is not None or clock.state == "cancelled":
            continue
        spec = specs.get(clock.clock)
        if spec is None:
            await session.execute(
                t.clocks.update().where(t.clocks.c.id == clock.id).values(state="cancelled", stopped_at=at)
            )
            await session.execute(
                delete(t.timers).where(t.timers.c.clock_id == clock.id, t.timers.c.fired_at.is_(None))
            )
            continue
        await session.execute(
            t.clocks.update().where(t.clocks.c.id == clock.id).values(policy=new.id, tier=case.tier, kind=case.kind)
        )
        await session.execute(
            t.clock_plans.update().where(t.clock_plans.c.clock_id == clock.id).values(spec=spec.model_dump(mode="json"))
        )
        clock = (await session.execute(_clock_query(case_id).where(t.clocks.c.id == clock.id))).one()
        change = {
            "at": at.isoformat(),
            "change": f"re-planned under policy {new.id} ({why})",
            "from": {"unit": clock.unit, "amount": clock.amount},
            "to": spec.target.model_dump(),
        }
        await replan(session, ctx, clock, spec.target, clock.paused_total, change)
    have = {c.clock for c in (await session.execute(_clock_query(case_id))).all()}
    await replay(session, ctx, case_id, only=set(specs) - have)


async def _clock(session: AsyncSession, case_id: uuid.UUID, name: str) -> Row[Any]:
    clock = (
        await session.execute(_clock_query(case_id).where(t.clocks.c.clock == name).with_for_update(of=t.clocks))
    ).first()
    if clock is None:
        raise DomainError(404, "no such clock on this case")
    return clock


async def pause(session: AsyncSession, ctx: Context, case_id: uuid.UUID, name: str, body: PauseIn) -> None:
    """External appraisal, testing or assessment: the time is not counted."""
    clock = await _clock(session, case_id, name)
    if clock.state != ClockState.running:
        raise DomainError(409, f"only a running clock can be paused; this one is {clock.state}")
    await _pause(session, clock, utcnow(), body.reason, body.by)


async def _pause(session: AsyncSession, clock: Row[Any], at: datetime, reason: str, by: str) -> None:
    entry = {"start": at.isoformat(), "end": None, "reason": reason, "by": by}
    await session.execute(t.clocks.update().where(t.clocks.c.id == clock.id).values(state=ClockState.paused))
    await session.execute(
        t.clock_plans.update()
        .where(t.clock_plans.c.clock_id == clock.id)
        .values(paused_at=at, pauses=[*clock.pauses, entry])
    )
    await session.execute(delete(t.timers).where(t.timers.c.clock_id == clock.id, t.timers.c.fired_at.is_(None)))


async def resume(session: AsyncSession, ctx: Context, case_id: uuid.UUID, name: str, body: ResumeIn) -> None:
    clock = await _clock(session, case_id, name)
    if clock.state != ClockState.paused:
        raise DomainError(409, f"only a paused clock can be resumed; this one is {clock.state}")
    await _resume(session, ctx, clock, utcnow(), body.by)


async def _resume(session: AsyncSession, ctx: Context, clock: Row[Any], at: datetime, by: str) -> None:
    cal = ctx.calendar(clock.calendar)
    gone = plan.paused_between(cal, clock.unit, _epoch(clock.paused_at), _epoch(at))
    pauses = [*clock.pauses[:-1], {**clock.pauses[-1], "end": at.isoformat(), "resumed_by": by}]
    await session.execute(t.clocks.update().where(t.clocks.c.id == clock.id).values(state=ClockState.running))
    await session.execute(
        t.clock_plans.update().where(t.clock_plans.c.clock_id == clock.id).values(paused_at=None, pauses=pauses)
    )
    clock = (await session.execute(_clock_query(clock.case_id).where(t.clocks.c.id == clock.id))).one()
    change = {"at": at.isoformat(), "change": "resumed after a pause", "paused_seconds": gone}
    await replan(session, ctx, clock, Target(unit=clock.unit, amount=clock.amount), clock.paused_total + gone, change)


async def extend(session: AsyncSession, ctx: Context, case_id: uuid.UUID, name: str, body: ExtendIn) -> None:
    """A complex case: the next target the policy allows (15 -> 30 -> 60 calendar days)."""
    clock = await _clock(session, case_id, name)
    spec = ClockSpec.model_validate(clock.spec)
    done = len(clock.extensions)
    if done >= len(spec.extensions):
        raise DomainError(409, f"{name} allows {len(spec.extensions)} extension(s); none left")
    if clock.stopped_at is not None:
        raise DomainError(409, "the clock has stopped")
    if done >= 1 and not body.complainant_informed:
        raise DomainError(
            422,
            [
                {
                    "loc": ["body", "complainant_informed"],
                    "field": "complainant_informed",
                    "msg": "a further extension requires the complainant to be informed",
                }
            ],
        )
    target = spec.extensions[done]
    now = utcnow()
    entry = {
        "at": now.isoformat(),
        "approved_by": body.approved_by,
        "reason": body.reason,
        "complainant_informed": body.complainant_informed,
        "to": target.model_dump(),
    }
    await session.execute(
        t.clock_plans.update().where(t.clock_plans.c.clock_id == clock.id).values(extensions=[*clock.extensions, entry])
    )
    if clock.state == ClockState.breached:
        await session.execute(
            t.clocks.update().where(t.clocks.c.id == clock.id).values(state=ClockState.running, breached_at=None)
        )
    clock = await _clock(session, case_id, name)
    change = {
        "at": now.isoformat(),
        "change": f"extended by {body.approved_by}: {body.reason}",
        "to": target.model_dump(),
    }
    await replan(session, ctx, clock, target, clock.paused_total, change)
