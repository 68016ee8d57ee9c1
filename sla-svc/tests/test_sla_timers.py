"""Clocks start once per case, and each timer fires once, even with two replicas."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from services.database import Database
from shared.enums import CaseKind, CaseStatus, CaseTier, Channel, LineOfBusiness
from shared.events import CaseCreated
from sla import clocks
from sla import tables as t
from sla.service import SPEC
from tests.support.inprocess import running


def created(days_ago: int) -> CaseCreated:
    return CaseCreated(
        case_no="GD-SZ-20260101-00001",
        kind=CaseKind.complaint,
        tier=CaseTier.general,
        category=None,
        channel=Channel.letter,
        branch_code="GD-SZ",
        line_of_business=LineOfBusiness.individual_life,
        status=CaseStatus.accepted,
        received_at=datetime.now(UTC) - timedelta(days=days_ago),
    )


async def fire_round(db: Database) -> int:
    async with db.session() as session:
        fired = await clocks.fire_due_timers(session, datetime.now(UTC), 1000, timedelta(seconds=60))
        await asyncio.sleep(0.05)  # hold the claimed rows while the other replica tries
        await session.commit()
        return fired


async def test_two_replicas_fire_each_timer_once(backend: tuple[Path, str | None]) -> None:
    var_dir, url = backend
    async with running(SPEC, var_dir, url) as sla:
        db = sla.runtime.db
        calendar = sla.runtime.extras["calendar"]
        async with db.session() as session:
            for i in range(40):
                case = created(days_ago=30 if i % 2 == 0 else 0)  # half overdue, half not yet
                await clocks.start_closing_clock(session, calendar, uuid.uuid4(), case)
            # Starting a clock twice for the same case changes nothing.
            case_id = uuid.uuid4()
            await clocks.start_closing_clock(session, calendar, case_id, created(30))
            await clocks.start_closing_clock(session, calendar, case_id, created(30))
            await session.commit()
        # The service's own timer worker is a third replica racing these two.
        results = await asyncio.gather(fire_round(db), fire_round(db))
        await asyncio.sleep(1)
        async with db.session() as session:
            fired = await session.scalar(
                select(func.count()).select_from(t.timers).where(t.timers.c.fired_at.is_not(None))
            )
            events = await session.scalar(
                select(func.count()).select_from(t.runtime.outbox).where(t.runtime.outbox.c.topic == "case.overdue")
            )
            clock_count = await session.scalar(select(func.count()).select_from(t.clocks))
        assert clock_count == 41
        assert fired == 21 and events == 21 and sum(results) <= 21, (results, fired, events)


async def test_a_breach_due_at_once_waits_briefly_for_the_owner(tmp_path: Path) -> None:
    from shared.enums import TransferKind
    from shared.events import CaseTransferred

    async with running(SPEC, tmp_path, None, owner_grace_seconds=3600, timer_poll_seconds=3600) as sla:
        db, calendar = sla.runtime.db, sla.runtime.extras["calendar"]
        waiting, orphan = uuid.uuid4(), uuid.uuid4()
        async with db.session() as session:
            await clocks.start_closing_clock(session, calendar, waiting, created(30))
            await clocks.start_closing_clock(session, calendar, orphan, created(30))
            await session.commit()

        async def fire(grace: timedelta) -> int:
            async with db.session() as session:
                fired = await clocks.fire_due_timers(session, datetime.now(UTC), 100, timedelta(seconds=60), grace)
                await session.commit()
                return fired

        assert await fire(timedelta(hours=1)) == 0  # nobody to tell yet: wait
        transfer = CaseTransferred(
            transfer_kind=TransferKind.assign,
            branch_code="GD-SZ",
            from_unit=None,
            to_unit="GD-SZ.claims",
            from_assignee=None,
            to_assignee="u-sz-cl-1",
            owner="u-sz-cs-2",
            reason="rule",
        )
        async with db.session() as session:
            await clocks.record_parties(session, waiting, transfer)
            await session.commit()
        assert await fire(timedelta(hours=1)) == 1  # the owner is known: fires
        assert await fire(timedelta(0)) == 1  # the grace is over: fires without one
        async with db.session() as session:
            events = (await session.execute(select(t.runtime.outbox.c.key, t.runtime.outbox.c.value))).all()
        owners = {row.key: json.loads(row.value)["payload"]["owner"] for row in events}
        assert owners == {str(waiting): "u-sz-cs-2", str(orphan): None}
