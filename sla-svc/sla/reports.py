"""What sla-svc shows: a case's clocks explained, what is overdue or due soon, and
timeliness figures for managers (DOMAIN.md section 7)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth import Principal, ScopedCase, scope_clause
from services.database import utcnow
from services.figures import hours_between, month_of, share
from shared.enums import ClockState
from shared.org import subtree_clause
from shared.sla import CaseSla, ClockView, DueItem, PauseOut, TimelinessRow
from sla import plan
from sla import tables as t
from sla.clock import Clock, epoch_of
from sla.clocks import Context


def _view(ctx: Context, c: Clock, now: datetime) -> ClockView:
    """A clock explained: its times, what is used and left in its own measure, and why."""
    cal = ctx.calendar(c.calendar)
    tz = cal.tz
    until = epoch_of(c.stopped_at or c.paused_at or now)

    def m(epoch: int) -> int:
        return plan.measure(cal, c.unit, epoch)

    used = m(until) - m(c.start) - c.paused_total
    # Seconds in one of the target's units: a working day is this calendar's business hours.
    per_unit = {"working_days": cal.tables.day_seconds, "calendar_days": 86400}.get(c.unit, 3600)
    left = m(c.due) - m(until)
    paused = f"; {c.paused_total // 60} minute(s) paused (not counted)" if c.paused_total else ""
    extended = (
        f"; extended {len(c.extensions)} time(s), last by {c.extensions[-1]['approved_by']}" if c.extensions else ""
    )
    explanation = (
        f"Started {c.started_at.astimezone(tz):%Y-%m-%d %H:%M} ({tz.key}); counted {c.rule}{paused}{extended}: "
        f"due {c.due_at.astimezone(tz):%Y-%m-%d %H:%M}."
    )
    if c.spec.basis == "company practice":
        explanation += " This limit is company practice, not a source rule"
        explanation += f" ({c.spec.source})." if c.spec.source else "."
    elif c.spec.source:
        explanation += f" Source: {c.spec.source}."
    if c.calendar_warning:
        explanation += f" Warning: {c.calendar_warning}."
    return ClockView(
        clock=c.name,
        policy=c.policy,
        state=c.state,
        started_at=c.started_at,
        due_at=c.due_at,
        stopped_at=c.stopped_at,
        breached_at=c.breached_at,
        target=c.target,
        calendar=c.calendar,
        used_seconds=used,
        left_seconds=left,
        used_in_unit=round(used / per_unit, 1),
        left_in_unit=round(left / per_unit, 1),
        timezone=tz.key,
        pauses=[PauseOut(**{k: p.get(k) for k in ("start", "end", "reason", "by")}) for p in c.pauses],
        extensions=[dict(e) for e in c.extensions],
        changes=[dict(e) for e in c.changes],
        last_level=c.last_level,
        rule=c.rule,
        explanation=explanation,
        provisional_years=cal.provisional_between(c.started_at, c.due_at),
        calendar_warning=c.calendar_warning,
        basis=c.spec.basis,
        source=c.spec.source,
    )


async def case_sla(session: AsyncSession, ctx: Context, case_id: uuid.UUID) -> CaseSla | None:
    case = (await session.execute(select(t.cases).where(t.cases.c.case_id == case_id))).first()
    rows = (
        await session.execute(
            select(t.clocks, t.clock_plans)
            .join(t.clock_plans, t.clock_plans.c.clock_id == t.clocks.c.id)
            .where(t.clocks.c.case_id == case_id)
            .order_by(t.clocks.c.started_at, t.clocks.c.id)
        )
    ).all()
    if case is None:
        return None
    now = utcnow()
    return CaseSla(
        case_id=case_id,
        branch_code=case.branch_code,
        policy=case.policy,
        clocks=[_view(ctx, Clock.of(r), now) for r in rows],
    )


async def _items(
    session: AsyncSession,
    where: list[Any],
    branch: str | None,
    team: str | None,
    level: str | None,
    order: Any,
    limit: int,
) -> list[DueItem]:
    query = (
        select(
            t.clocks,
            t.cases.c.case_no,
            t.clock_plans.c.last_level,
            t.case_parties.c.owner,
            t.case_parties.c.assignee,
            t.case_parties.c.unit,
        )
        .join(t.clock_plans, t.clock_plans.c.clock_id == t.clocks.c.id)
        .outerjoin(t.cases, t.cases.c.case_id == t.clocks.c.case_id)
        .outerjoin(t.case_parties, t.case_parties.c.case_id == t.clocks.c.case_id)
        .where(*where)
        .order_by(order)
        .limit(limit)
    )
    if branch:
        query = query.where(subtree_clause(t.clocks.c.branch_code, branch))
    if team:
        query = query.where(t.case_parties.c.unit == team)
    if level:
        query = query.where(t.clock_plans.c.last_level == level)
    return [DueItem.model_validate(r, from_attributes=True) for r in (await session.execute(query)).all()]


def scope_of(who: Principal) -> Any:
    """The caller's branch subtree, or the cases they hold (services.auth)."""
    return scope_clause(who, t.clocks.c.branch_code, t.case_parties.c.assignee, t.case_parties.c.owner)


async def overdue(
    session: AsyncSession, branch: str | None, team: str | None, level: str | None, limit: int, scope: Any = True
) -> list[DueItem]:
    """Breached clocks still running: the case is still open at that stage."""
    where = [t.clocks.c.state == ClockState.breached, t.clocks.c.stopped_at.is_(None), scope]
    return await _items(session, where, branch, team, level, t.clocks.c.due_at, limit)


async def due_soon(
    session: AsyncSession,
    within: timedelta,
    branch: str | None,
    team: str | None,
    level: str | None,
    limit: int,
    scope: Any = True,
) -> list[DueItem]:
    now = utcnow()
    c = t.clocks.c
    where = [c.state == ClockState.running, c.due_at > now, c.due_at <= now + within, scope]
    return await _items(session, where, branch, team, level, t.clocks.c.due_at, limit)


async def timeliness(
    session: AsyncSession,
    group_by: str,
    since: datetime | None,
    until: datetime | None,
    branch: str | None,
    scope: Any = True,
) -> list[TimelinessRow]:
    """Timeliness per group, summed by the database (one ``GROUP BY``): clocks started,
    met, breached (stopped late, or running past due), running, the timeliness rate
    of the finished ones (met / finished) and their average hours from start to stop."""
    c = t.clocks.c
    groups = {
        "branch": c.branch_code,
        "category": t.cases.c.category,
        "team": t.case_parties.c.unit,
        "clock": c.clock,
        "policy": c.policy,
        "month": month_of(session, c.started_at, "UTC"),
    }
    key = func.coalesce(groups[group_by], "-").label("group")
    finished = c.stopped_at.is_not(None)
    met = finished & (c.state == ClockState.met)
    query = (
        select(
            key,
            func.count().label("clocks"),
            func.sum(case((met, 1), else_=0)).label("met"),
            func.sum(case((c.state == ClockState.breached, 1), else_=0)).label("breached"),
            func.sum(case((finished, 0), else_=1)).label("running"),
            func.sum(case((finished, 1), else_=0)).label("finished"),
            func.avg(case((finished, hours_between(session, c.started_at, c.stopped_at)), else_=None)).label("hours"),
        )
        .select_from(t.clocks)
        .join(t.cases, t.cases.c.case_id == c.case_id)
        .outerjoin(t.case_parties, t.case_parties.c.case_id == c.case_id)
        .where(c.state != ClockState.cancelled, scope)
        .group_by(key)
        .order_by(key)
    )
    if since:
        query = query.where(c.started_at >= since)
    if until:
        query = query.where(c.started_at < until)
    if branch:
        query = query.where(subtree_clause(c.branch_code, branch))
    return [
        TimelinessRow(
            group=str(r.group),
            clocks=r.clocks,
            met=r.met,
            breached=r.breached,
            running=r.running,
            timeliness_rate=share(r.met, r.finished),
            average_hours=None if r.hours is None else round(float(r.hours), 2),
        )
        for r in (await session.execute(query)).all()
    ]


async def case_scope(session: AsyncSession, case_id: uuid.UUID) -> ScopedCase | None:
    """The branch, assignee and owner: who may see the case (``ServiceSpec.case_loader``)."""
    row = (
        await session.execute(
            select(t.cases.c.branch_code, t.case_parties.c.assignee, t.case_parties.c.owner)
            .outerjoin(t.case_parties, t.case_parties.c.case_id == t.cases.c.case_id)
            .where(t.cases.c.case_id == case_id)
        )
    ).first()
    return row
