"""Firing due timers: set-based, so one round can fire thousands at once.

A round claims due timers with one conditional ``UPDATE ... WHERE fired_at IS NULL``
over rows locked with ``FOR UPDATE SKIP LOCKED`` (Postgres), so several replicas
never fire one twice, and SQLite (no row locks) is just as safe. A timer whose case
has no known owner yet waits until ``owner_grace`` after its clock started: the
transfer event is on another topic and may come a moment later. A warning whose
clock is already past due when its timer is claimed (after downtime) is dropped,
not sent late: it is no longer true, and the breach says what is.

Only each clock's next timer is stored (decision 0026): a fired timer's clock gets
its next one in the same transaction (``plan.next_moment``), and if that one is due
too (after downtime) the round claims it as well, so one round still fires every
moment a clock has missed, in order. The claim locks the timers' clocks too, so a
re-plan waits for the round and then replaces the timer it planned
(``clocks.plan_timers`` locks the clock first). A stop or a pause does not wait: a
timer planned here for a clock that was stopping or pausing meanwhile is deleted
without a word when it comes due, as is any timer whose clock is no longer running or
breached.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.outbox import Outgoing, publish_many
from shared.enums import ClockState, OverdueLevel
from shared.events import CaseOverdue
from shared.sla import ClockSpec
from sla import plan
from sla import tables as t
from sla.clock import epoch_of, moment_of
from sla.clocks import Context, fired_keys, insert_timers

#: The states in which a clock's timers fire (a breached clock still escalates).
TIMED = (ClockState.running, ClockState.breached)


async def fire_due_timers(
    session: AsyncSession,
    ctx: Context,
    now: datetime,
    batch: int,
    late_tolerance: timedelta,
    owner_grace: timedelta = timedelta(0),
    tally: Counter[tuple[str, str, bool]] | None = None,
) -> int:
    """One round: claim up to ``batch`` due timers, mark breached clocks, stage one
    ``case.overdue`` per timer and plan each clock's next timer; again while those are
    due too and the batch has room. How many timers fired."""
    fired = claimed = 0
    while claimed < batch:
        round_claimed, round_fired, next_due_too = await _fire(
            session, ctx, now, batch - claimed, late_tolerance, owner_grace, tally
        )
        claimed, fired = claimed + round_claimed, fired + round_fired
        if not next_due_too:
            break
    return fired


async def _fire(
    session: AsyncSession,
    ctx: Context,
    now: datetime,
    batch: int,
    late_tolerance: timedelta,
    owner_grace: timedelta,
    tally: Counter[tuple[str, str, bool]] | None,
) -> tuple[int, int, bool]:
    """One claim: how many timers it claimed, how many of them fired (the others were
    stale), and whether a next timer it planned is due now. Long on purpose: the claim,
    the clocks it reads and the events and timers it writes are one set-based
    transaction."""
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
        .with_for_update(skip_locked=True, of=[t.timers, t.clocks])
    )
    ids = list(await session.scalars(due_ids))
    if not ids:
        return 0, 0, False
    fired = (
        await session.execute(
            t.timers.update()
            .where(t.timers.c.id.in_(ids), t.timers.c.fired_at.is_(None))
            .values(fired_at=now)
            .returning(t.timers.c.id, t.timers.c.clock_id, t.timers.c.level, t.timers.c.due_at, t.timers.c.key)
        )
    ).all()
    if not fired:
        return 0, 0, False
    clock_ids = {f.clock_id for f in fired}
    rows = (
        await session.execute(
            select(
                t.clocks,
                t.case_parties.c.owner,
                t.case_parties.c.assignee,
                t.clock_plans.c.run,
                t.clock_plans.c.spec,
                t.clock_plans.c.calendar,
                t.clock_plans.c.unit,
            )
            .join(t.clock_plans, t.clock_plans.c.clock_id == t.clocks.c.id)
            .outerjoin(t.case_parties, t.case_parties.c.case_id == t.clocks.c.case_id)
            .where(t.clocks.c.id.in_(clock_ids))
        )
    ).all()
    clocks = {r.id: r for r in rows if r.stopped_at is None and r.state in TIMED}
    stale = [f.id for f in fired if f.clock_id not in clocks]
    if stale:  # left to a clock that stopped or paused: said by nothing, not kept as fired
        await session.execute(delete(t.timers).where(t.timers.c.id.in_(stale)))
    claimed, fired = len(fired), [f for f in fired if f.clock_id in clocks]
    specs = {cid: ClockSpec.model_validate(clock.spec) for cid, clock in clocks.items()}
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
            threshold=plan.threshold(specs[f.clock_id], f.key),
        )
        events.append(Outgoing(payload, clock.case_id, now))
        if tally is not None:  # (clock, level, fired late), for /metrics once committed
            tally[(clock.clock, str(f.level), payload.fired_late)] += 1
    if last_level:
        await session.execute(
            t.clock_plans.update()
            .where(t.clock_plans.c.clock_id == bindparam("cid"))
            .values(last_level=bindparam("lvl")),
            [{"cid": cid, "lvl": level} for cid, level in last_level.items()],
        )
    await publish_many(session, t.runtime, events)
    planned = await _plan_next(session, ctx, clocks, specs, fired)
    return claimed, len(fired), any(p["due_at"] <= now for p in planned)


async def _plan_next(
    session: AsyncSession, ctx: Context, clocks: dict[int, Any], specs: dict[int, ClockSpec], fired: list[Any]
) -> list[dict[str, Any]]:
    """Each fired timer's clock gets its next timer: the first moment of its plan after
    the one that fired (the latest, if several of one clock fired) not fired in this run."""
    after: dict[int, datetime] = {}
    for f in fired:
        after[f.clock_id] = max(f.due_at, after.get(f.clock_id, f.due_at))
    if not after:
        return []
    done = await fired_keys(session, after)
    rows = []
    for clock_id, fired_at_due in after.items():
        clock, spec = clocks[clock_id], specs[clock_id]
        cal = ctx.calendar(clock.calendar)
        moments = plan.timer_moments(cal, spec, clock.unit, epoch_of(clock.started_at), epoch_of(clock.due_at), now=0)
        moment = plan.next_moment(moments, done.get(clock_id, set()), after=epoch_of(fired_at_due))
        if moment is not None:
            rows.append(
                {"clock_id": clock_id, "key": moment.key, "level": moment.level, "due_at": moment_of(moment.at)}
            )
    await insert_timers(session, rows)
    return rows


async def next_due(session: AsyncSession) -> datetime | None:
    """The earliest pending timer (the partial index makes this one index read)."""
    due: datetime | None = await session.scalar(
        select(func.min(t.timers.c.due_at)).where(t.timers.c.fired_at.is_(None))
    )
    return due
