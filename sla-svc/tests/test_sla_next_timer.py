"""Only each clock's next timer is stored (decision 0026): the chain fires the moments
the plan has, in order, at their times; a stop that waits on a firing round removes
the timer that round planned; a timer left to a stopped clock says nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

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
    planned_at = epoch_of(utcnow())
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
    assert epoch_of(utcnow()) >= planned_at
    assert all(f for _, _, _, f in await timers_of(sla, case))  # the chain has ended
    said = await overdue_events(sla, case)
    assert [level for _, level in said].count("breach") == len(loaded)
    assert len(said) == len(expected)  # each fired at its moment: no warning was past its clock's due time


@pytest.mark.parametrize("claimed", ["a breach long past", "a warning"])
async def test_a_stop_waiting_on_a_firing_round_removes_the_timer_that_round_planned(
    sla: InProcess, claimed: str
) -> None:
    """The stop waits on its clock's row, which the round holds: its claim locks it (and
    so does the breached clock's update, and the new timer's foreign-key check), so the
    stop deletes the timer the round planned once the round commits."""
    if sla.runtime.db.engine.dialect.name != "postgresql":
        pytest.skip("row locks: SQLite has one writer at a time")
    received = Case(sla).created.received_at - (timedelta(days=30) if claimed == "a breach long past" else timedelta(0))
    case = await Case(sla, received_at=received).create()
    await case.transfer()
    ctx = state_of(sla.runtime).context
    first_due = min(d for _, _, d, _ in await timers_of(sla, case))
    now = max(utcnow(), first_due)
    async with sla.runtime.db.session() as firing:
        # One timer claimed: its clock's next timer is planned, uncommitted.
        assert await fire_due_timers(firing, ctx, now, 1, timedelta(seconds=60)) == 1
        closing = asyncio.create_task(case.act("close", status="closed", at=now))
        await asyncio.sleep(0.5)
        assert not closing.done()  # the stop waits for the round's lock on its clock
        await firing.commit()
    await closing
    assert [(c, k) for c, k, _, fired in await timers_of(sla, case) if not fired] == []
    assert {c["state"] for c in (await case.clocks()).values()} <= {"met", "breached"}
    assert len(await overdue_events(sla, case)) == 1


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
