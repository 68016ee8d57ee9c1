"""Clocks and their timers: plain functions over a session the caller commits.

The walking skeleton runs one clock per case, ``closing``: an inquiry or a
grievance within 1 working day, a complaint within 10 working days, counted from
``received_at`` (DOMAIN.md section 4). Its breach timer fires once, even with
several replicas (``FOR UPDATE SKIP LOCKED`` on Postgres) and even if it was due
while the service was down (it fires at once, marked late).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import Row, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.database import insert_ignoring_conflicts, upsert, utcnow
from services.logging import correlation_id
from services.outbox import enqueue
from shared.api import CaseSlaOut, ClockOut, OverdueOut
from shared.enums import CaseKind, ClockState, OverdueLevel
from shared.events import CaseCreated, CaseOverdue, CaseTransferred, new_event
from sla import tables as t
from sla.calendar import WorkCalendar

PRODUCER = "sla-svc"
CLOSING = "closing"
#: Working days to close a case, by kind (DOMAIN.md section 4).
CLOSING_LIMITS = {CaseKind.inquiry: 1, CaseKind.grievance: 1, CaseKind.complaint: 10}


async def start_closing_clock(
    session: AsyncSession, calendar: WorkCalendar, case_id: uuid.UUID, case: CaseCreated
) -> None:
    """Start the case's closing clock and its breach timer; a second call changes nothing."""
    limit = CLOSING_LIMITS[case.kind]
    due_at = calendar.add_working_days(case.received_at, limit)
    unknown = calendar.unknown_years(case.received_at, due_at)
    warning = (
        f"no official holiday schedule loaded for {', '.join(map(str, unknown))}: counted on weekends only"
        if unknown
        else None
    )
    inserted = await session.execute(
        insert_ignoring_conflicts(session, t.clocks, ["case_id", "clock"])
        .values(
            case_id=case_id,
            clock=CLOSING,
            policy=f"default.{case.kind}",
            branch_code=case.branch_code,
            kind=case.kind,
            tier=case.tier,
            state=ClockState.running,
            started_at=case.received_at,
            due_at=due_at,
            rule=calendar.describe_working_days(limit),
            calendar_warning=warning,
            created_at=utcnow(),
        )
        .returning(t.clocks.c.id)
    )
    clock_id = inserted.scalar_one_or_none()
    if clock_id is not None:
        await session.execute(t.timers.insert().values(clock_id=clock_id, level=OverdueLevel.breach, due_at=due_at))


async def record_parties(session: AsyncSession, case_id: uuid.UUID, transfer: CaseTransferred) -> None:
    """Remember who to tell: the current assignee and the owner (first responder)."""
    values = {
        "unit": transfer.to_unit,
        "assignee": transfer.to_assignee,
        "owner": transfer.owner,
        "updated_at": utcnow(),
    }
    stmt = upsert(session, t.case_parties).values(case_id=case_id, **values)
    await session.execute(stmt.on_conflict_do_update(index_elements=["case_id"], set_=values))


async def fire_due_timers(
    session: AsyncSession, now: datetime, batch: int, late_tolerance: timedelta, owner_grace: timedelta = timedelta(0)
) -> int:
    """Fire every timer due by ``now``: mark it, breach its clock, stage ``case.overdue``.

    A timer whose case has no known owner yet waits until ``owner_grace`` after its clock
    started (the transfer event is on another topic and may come a moment later)."""
    parties_known = exists().where(t.case_parties.c.case_id == t.clocks.c.case_id)
    due = (
        await session.execute(
            select(t.timers.c.id, t.timers.c.level, t.timers.c.clock_id)
            .join(t.clocks, t.clocks.c.id == t.timers.c.clock_id)
            .where(
                t.timers.c.fired_at.is_(None),
                t.timers.c.due_at <= now,
                or_(parties_known, t.clocks.c.created_at.is_(None), t.clocks.c.created_at <= now - owner_grace),
            )
            .order_by(t.timers.c.due_at)
            .limit(batch)
            .with_for_update(skip_locked=True, of=t.timers)
        )
    ).all()
    fired = 0
    for timer in due:
        # The conditional claim is what guarantees "once" where row locks are absent (SQLite).
        claimed = await session.execute(
            t.timers.update().where(t.timers.c.id == timer.id, t.timers.c.fired_at.is_(None)).values(fired_at=now)
        )
        if claimed.rowcount != 1:
            continue
        fired += 1
        clock = (await session.execute(select(t.clocks).where(t.clocks.c.id == timer.clock_id))).one()
        parties = (
            await session.execute(select(t.case_parties).where(t.case_parties.c.case_id == clock.case_id))
        ).first()
        if timer.level == OverdueLevel.breach:
            await session.execute(
                t.clocks.update().where(t.clocks.c.id == clock.id).values(state=ClockState.breached, breached_at=now)
            )
        late = now - clock.due_at
        payload = CaseOverdue(
            level=OverdueLevel(timer.level),
            clock=clock.clock,
            policy=clock.policy,
            branch_code=clock.branch_code,
            kind=clock.kind,
            tier=clock.tier,
            started_at=clock.started_at,
            due_at=clock.due_at,
            late_by_seconds=max(int(late.total_seconds()), 0),
            fired_late=late > late_tolerance,
            owner=parties.owner if parties else None,
            assignee=parties.assignee if parties else None,
        )
        event = new_event(
            payload, case_id=clock.case_id, producer=PRODUCER, correlation_id=correlation_id.get(), occurred_at=now
        )
        await enqueue(session, t.runtime, event)
    return fired


def _clock_out(row: Row) -> ClockOut:  # type: ignore[type-arg]
    rule = row.rule if not row.calendar_warning else f"{row.rule} (warning: {row.calendar_warning})"
    return ClockOut(
        clock=row.clock,
        policy=row.policy,
        state=row.state,
        started_at=row.started_at,
        due_at=row.due_at,
        stopped_at=row.stopped_at,
        breached_at=row.breached_at,
        rule=rule,
    )


async def case_sla(session: AsyncSession, case_id: uuid.UUID) -> CaseSlaOut | None:
    rows = (await session.execute(select(t.clocks).where(t.clocks.c.case_id == case_id).order_by(t.clocks.c.id))).all()
    if not rows:
        return None
    return CaseSlaOut(case_id=case_id, branch_code=rows[0].branch_code, clocks=[_clock_out(r) for r in rows])


async def overdue(session: AsyncSession, branch_code: str | None, limit: int) -> list[OverdueOut]:
    query = (
        select(t.clocks, t.case_parties.c.owner, t.case_parties.c.assignee)
        .outerjoin(t.case_parties, t.case_parties.c.case_id == t.clocks.c.case_id)
        .where(t.clocks.c.state == ClockState.breached)
        .order_by(t.clocks.c.breached_at.desc())
        .limit(limit)
    )
    if branch_code:
        query = query.where(t.clocks.c.branch_code == branch_code)
    return [
        OverdueOut(
            case_id=r.case_id,
            branch_code=r.branch_code,
            clock=r.clock,
            policy=r.policy,
            due_at=r.due_at,
            breached_at=r.breached_at,
            owner=r.owner,
            assignee=r.assignee,
        )
        for r in (await session.execute(query)).all()
    ]
