"""Firing due timers: set-based, so one round can fire thousands at once.

A round claims due timers with one conditional ``UPDATE ... WHERE fired_at IS NULL``
over rows locked with ``FOR UPDATE SKIP LOCKED`` (Postgres), so several replicas
never fire one twice, and SQLite (no row locks) is just as safe. A timer whose case
has no known owner yet waits until ``owner_grace`` after its clock started: the
transfer event is on another topic and may come a moment later. A warning whose
clock is already past due when its timer is claimed (after downtime) is dropped,
not sent late: it is no longer true, and the breach says what is.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import bindparam, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.outbox import Outgoing, publish_many
from shared.enums import ClockState, OverdueLevel
from shared.events import CaseOverdue
from shared.sla import ClockSpec
from sla import plan
from sla import tables as t


async def fire_due_timers(
    session: AsyncSession,
    now: datetime,
    batch: int,
    late_tolerance: timedelta,
    owner_grace: timedelta = timedelta(0),
    tally: Counter[tuple[str, str, bool]] | None = None,
) -> int:
    """One round: claim up to ``batch`` due timers, mark breached clocks, and stage one
    ``case.overdue`` per timer, each table in one statement. Long on purpose: the claim,
    the clocks it reads and the events it writes are one set-based transaction."""
    parties_known = exists().where(t.case_parties.c.case_id == t.clocks.c.case_id)
    due_ids = (
        select(t.timers.c.id)
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
    ids = list(await session.scalars(due_ids))
    if not ids:
        return 0
    fired = (
        await session.execute(
            t.timers.update()
            .where(t.timers.c.id.in_(ids), t.timers.c.fired_at.is_(None))
            .values(fired_at=now)
            .returning(t.timers.c.clock_id, t.timers.c.level, t.timers.c.due_at, t.timers.c.key)
        )
    ).all()
    if not fired:
        return 0
    clock_ids = {f.clock_id for f in fired}
    rows = (
        await session.execute(
            select(
                t.clocks, t.case_parties.c.owner, t.case_parties.c.assignee, t.clock_plans.c.run, t.clock_plans.c.spec
            )
            .join(t.clock_plans, t.clock_plans.c.clock_id == t.clocks.c.id)
            .outerjoin(t.case_parties, t.case_parties.c.case_id == t.clocks.c.case_id)
            .where(t.clocks.c.id.in_(clock_ids))
        )
    ).all()
    clocks = {r.id: r for r in rows}
    breached = [f.clock_id for f in fired if f.level == OverdueLevel.breach]
    if breached:
        await session.execute(
            t.clocks.update()
            .where(t.clocks.c.id.in_(breached), t.clocks.c.state == ClockState.running)
            .values(state=ClockState.breached, breached_at=now)
        )
    events, last_level = [], {}
    for f in sorted(fired, key=lambda f: f.due_at):
        clock = clocks[f.clock_id]
        if f.level == OverdueLevel.warning and now >= clock.due_at:
            continue  # "due soon" after the due time (a round after downtime) is no longer true: dropped
        last_level[f.clock_id] = f.level
        payload = CaseOverdue(
            level=OverdueLevel(f.level),
            clock=clock.clock,
            policy=clock.policy,
            branch_code=clock.branch_code,
            kind=clock.kind,
            tier=clock.tier,
            started_at=clock.started_at,
            due_at=clock.due_at,
            late_by_seconds=max(int((now - clock.due_at).total_seconds()), 0),
            fired_late=now - f.due_at > late_tolerance,
            owner=clock.owner,
            assignee=clock.assignee,
            run=clock.run,
            threshold=plan.threshold(ClockSpec.model_validate(clock.spec), f.key),
        )
        events.append(Outgoing(payload, clock.case_id, now))
        if tally is not None:  # (clock, level, fired late), for /metrics once committed
            tally[(clock.clock, str(f.level), payload.fired_late)] += 1
    await session.execute(
        t.clock_plans.update().where(t.clock_plans.c.clock_id == bindparam("cid")).values(last_level=bindparam("lvl")),
        [{"cid": cid, "lvl": level} for cid, level in last_level.items()],
    )
    await publish_many(session, t.runtime, events)
    return len(fired)


async def next_due(session: AsyncSession) -> datetime | None:
    """The earliest pending timer (the partial index makes this one index read)."""
    due: datetime | None = await session.scalar(
        select(func.min(t.timers.c.due_at)).where(t.timers.c.fired_at.is_(None))
    )
    return due
