"""Only each clock's next timer is stored (decision 0026): the chain fires the moments
the plan has, in order, at their times; a re-plan waits for a firing round that holds
its clock and replaces the timer the round planned; a timer left to a stopped clock
says nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.database import utcnow
from sla import plan
from sla import tables as t
from sla.clock import clocks_of, epoch_of, moment_of
from sla.firing import fire_due_timers
from sla.state import state_of
from tests.support.inprocess import InProcess

from .conftest import Case, fire, overdue_events


async def timers_of(sla: InProcess, case: Case) -> list[tuple[str, str, datetime, bool]]:
    """(clock, key, due, fired) of every stored timer of the case."""
    async with sla.runtime.db.session() as session:
        rows = await session.execute(
            select(t.clocks.c.clock, t.timers.c.key, t.timers.c.due_at, t.timers.c.fired_at.is_not(None))
            .join(t.clocks, t.clocks.c.id == t.timers.c.clock_id)
            .where(t.clocks.c.case_id == case.id)
            .order_by(t.timers.c.due_at, t.timers.c.id)
        )
        return [(c, k, d.astimezone(UTC), f) for c, k, d, f in rows]


async def test_one_timer_per_clock_and_the_chain_fires_every_planned_moment_in_order(sla: InProcess) -> None:
    case = await Case(sla).create()
    await case.transfer()
    ctx = state_of(sla.runtime).context
    async with sla.runtime.db.session() as session:
        loaded = [clock for clock in await clocks_of(session, case.id) if clock.open]  # the handover has stopped
    # What storing every moment at the start would have stored (warnings still ahead).
    expected = sorted(
        (moment.at, clock.name, moment.key)
        for clock in loaded
        for moment in plan.timer_moments(ctx.calendar(clock.calendar), clock.spec, clock.unit, clock.start, clock.due)
    )
    assert {key for _, _, key in expected} >= {"warning-1", "breach", "escalation-1"}
    stored = await timers_of(sla, case)
    assert sorted(c for c, _, _, _ in stored) == sorted(c.name for c in loaded)  # one per clock
    firsts = {name: min((a, k) for a, n, k in expected if n == name) for name in {c.name for c in loaded}}
    assert {(c, k, epoch_of(d)) for c, k, d, _ in stored} == {(n, k, a) for n, (a, k) in firsts.items()}

    for moment, _, _ in expected:  # fire at each moment in turn: what is due has fired, nothing else
        await fire(sla, at=moment_of(moment))
        fired = [(epoch_of(d), c, k) for c, k, d, f in await timers_of(sla, case) if f]
        assert sorted(fired) == [e for e in expected if e[0] <= moment]
    assert all(f for _, _, _, f in await timers_of(sla, case))  # the chain has ended
    said = await overdue_events(sla, case)
    assert [level for _, level in said].count("breach") == len(loaded)
    assert len(said) == len(expected)  # each fired at its moment: no warning was past its clock's due time


async def old_case_fired(sla: InProcess) -> tuple[Case, AsyncSession]:
    """A case received a month ago, and an open firing round that has claimed the timer
    of each of its clocks that is due (long past: the regulatory clock's and closure's
    breaches) and planned each one's next, uncommitted (the round's batch is just those)."""
    case = await Case(sla, received_at=Case(sla).created.received_at - timedelta(days=30)).create()
    await case.transfer()
    now = utcnow()
    due = [c for c, _, d, _ in await timers_of(sla, case) if d <= now]
    assert "regulatory" in due
    firing = sla.runtime.db.sessions()
    assert await fire_due_timers(firing, state_of(sla.runtime).context, now, len(due), timedelta(seconds=60)) == len(
        due
    )
    return case, firing


async def test_a_replan_waits_for_a_firing_round_and_replaces_the_timer_it_planned(sla: InProcess) -> None:
    """A reclassification re-plans the clocks from the consumer (an API action locks its
    clock anyway): it waits for the round that holds them, then replaces the next timer
    the round planned on the old plan with the next of the new one."""
    if sla.runtime.db.engine.dialect.name != "postgresql":
        pytest.skip("row locks: SQLite has one writer at a time")
    case, firing = await old_case_fired(sla)
    try:
        replanning = asyncio.create_task(case.act("reclassify", tier="major"))
        await asyncio.sleep(0.5)
        assert not replanning.done()  # it waits for the round's lock on the clocks
        await firing.commit()
        await replanning
    finally:
        await firing.close()
    ctx = state_of(sla.runtime).context
    async with sla.runtime.db.session() as session:
        loaded = {c.name: c for c in await clocks_of(session, case.id)}
    stored = await timers_of(sla, case)
    for name in ("closure", "regulatory"):
        clock = loaded[name]
        assert clock.changes and "major" in clock.changes[-1]["change"]  # re-planned
        moments = plan.timer_moments(ctx.calendar(clock.calendar), clock.spec, clock.unit, clock.start, clock.due)
        fired = {k for c, k, _, f in stored if c == name and f}
        expected = plan.next_moment(moments, fired)
        assert expected is not None and fired == {"breach"}
        pending = [(k, epoch_of(d)) for c, k, d, f in stored if c == name and not f]
        assert pending == [(expected.key, expected.at)], name


async def test_a_stop_racing_a_firing_round_says_nothing_more(sla: InProcess) -> None:
    """The stop does not wait for the round; the timer the round planned for the clock
    it stopped is deleted, without an alert, once it comes due."""
    if sla.runtime.db.engine.dialect.name != "postgresql":
        pytest.skip("row locks: SQLite has one writer at a time")
    case, firing = await old_case_fired(sla)
    try:
        closing = asyncio.create_task(case.act("close", status="closed"))
        await asyncio.sleep(0.5)
        await firing.commit()
        await closing
    finally:
        await firing.close()
    said = len(await overdue_events(sla, case))
    assert said == 2  # the two breaches
    await fire(sla, at=utcnow() + timedelta(days=365))
    assert len(await overdue_events(sla, case)) == said
    assert [(c, k) for c, k, _, fired in await timers_of(sla, case) if not fired] == []
    assert {c["state"] for c in (await case.clocks()).values()} <= {"met", "breached"}


async def test_a_timer_left_to_a_stopped_clock_is_dropped_without_a_word(sla: InProcess) -> None:
    case = await Case(sla).create()
    await case.transfer()
    await case.act("close", status="closed")
    async with sla.runtime.db.session() as session:
        clock_id = await session.scalar(select(t.clocks.c.id).where(t.clocks.c.case_id == case.id).limit(1))
        await session.execute(
            t.timers.insert().values(clock_id=clock_id, level="breach", key="breach", due_at=utcnow())
        )
        await session.commit()
    assert await fire(sla, at=utcnow() + timedelta(seconds=1)) == 0
    assert await overdue_events(sla, case) == []
    assert await timers_of(sla, case) == []
