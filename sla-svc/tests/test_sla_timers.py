"""Timers fire once: with two replicas racing, after downtime (marked late), and only
once the owner is known (or the grace is over)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, select

from sla import tables as t
from tests.support.inprocess import InProcess

from .conftest import Case, fire, overdue_events


async def test_two_replicas_fire_each_timer_once(sla: InProcess) -> None:
    cases = []
    for i in range(20):
        case = await Case(
            sla, received_at=Case(sla).created.received_at - timedelta(days=30 if i % 2 == 0 else 0)
        ).create()
        await case.transfer()
        cases.append(case)
    results = await asyncio.gather(fire(sla), fire(sla), fire(sla))
    async with sla.runtime.db.session() as session:
        fired = await session.scalar(select(func.count()).select_from(t.timers).where(t.timers.c.fired_at.is_not(None)))
    events = await sla.emitted("case.overdue")
    assert sum(results) == fired == len(events) > 0
    assert {e["case_id"] for e in events} == {str(c.id) for c in cases[::2]}  # only the old ones


async def test_after_downtime_every_missed_timer_fires_at_once_marked_late(sla: InProcess) -> None:
    case = await Case(sla, received_at=Case(sla).created.received_at - timedelta(days=40)).create()
    await case.transfer()
    await fire(sla)
    events = [e["payload"] for e in await sla.emitted("case.overdue")]
    closure = [e["level"] for e in events if e["clock"] == "closure"]
    # In due order, and no "due soon" for a limit long past (issue 13, item 6).
    assert closure == ["breach", "escalation-1", "escalation-2"]
    assert [e["threshold"] for e in events if e["clock"] == "closure"] == [
        None,
        "1 working_days after due",
        "3 working_days after due",
    ]
    assert not [e for e in events if e["level"] == "warning"]
    assert all(e["fired_late"] for e in events)
    assert all(e["owner"] == "u-sz-cs-2" and e["assignee"] == "u-sz-cl-1" for e in events)
    assert await fire(sla) == 0  # none twice


async def test_a_breach_due_at_once_waits_briefly_for_the_owner(sla: InProcess) -> None:
    case = await Case(sla, received_at=Case(sla).created.received_at - timedelta(days=30)).create()
    assert await fire(sla, grace=timedelta(hours=1)) == 0  # nobody to tell yet: wait
    await case.transfer()
    assert await fire(sla, grace=timedelta(hours=1)) > 0
    orphan = await Case(sla, received_at=Case(sla).created.received_at - timedelta(days=30)).create()
    assert await fire(sla, grace=timedelta(0)) > 0  # the grace is over: fires without one
    assert {
        o
        for c, o in [(e["case_id"], e["payload"]["owner"]) for e in await sla.emitted("case.overdue")]
        if c == str(orphan.id)
    } == {None}
    assert ("closure", "breach") in await overdue_events(sla, case)
