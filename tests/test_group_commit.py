"""Concurrent requests' lone final writes committed in groups (``services.group_commit``,
decision 0028), on Postgres through the driver: each write committed once; a clash in
a group costs the others nothing (the group fails, each writes alone, only the clashing
one gets its ``IntegrityError``); a request cancelled while it waits is not written and
the line moves on. intake's own tests (concurrent retries of one case included) and the
fault tests run the same path through the API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Table, select, text
from sqlalchemy.exc import IntegrityError

from services import deferred
from services.database import Database, utcnow, write_ahead
from services.registry import load_spec
from tests.support.inprocess import running


def outbox_row(event_id: str) -> dict[str, Any]:
    return {"event_id": event_id, "topic": "case.created", "key": "k", "value": "{}", "created_at": utcnow()}


@asynccontextmanager
async def intake_on(url: str, var_dir: Path) -> AsyncIterator[tuple[Database, Table]]:
    async with running(load_spec("intake-svc"), var_dir, url) as intake:
        yield intake.runtime.db, intake.runtime.tables.outbox


async def final_write(db: Database, outbox: Table, event_id: str) -> None:
    """A request's only write: one outbox row, committed by itself or in a group."""
    async with db.session() as session:
        deferred.defer(session, outbox, [outbox_row(event_id)])
        await write_ahead(session, final=True)
        await session.commit()


async def written(db: Database, outbox: Table) -> list[str]:
    async with db.session() as session:
        return list((await session.scalars(select(outbox.c.event_id).order_by(outbox.c.id))).all())


@asynccontextmanager
async def leader_held(db: Database, outbox: Table) -> AsyncIterator[None]:
    """Inserts into the outbox blocked (a lock another session holds) until leaving: the
    first write waits in Postgres while the others stand in line behind it."""
    async with db.session() as blocker:
        await blocker.execute(text(f"LOCK TABLE {outbox.schema}.{outbox.name} IN SHARE MODE"))
        try:
            yield
        finally:
            await blocker.rollback()


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(10):
        while not condition():
            await asyncio.sleep(0.005)


async def started(db: Database, outbox: Table, ids: list[str], *, in_order: bool = False) -> list[asyncio.Task[None]]:
    """A final write for each of ``ids``: the first leads (held in Postgres by
    ``leader_held``), the others stand in line behind it, in ``ids``' order if
    ``in_order`` (otherwise in the order they get a connection from the pool)."""
    groups = db.group_commit
    tasks = [asyncio.create_task(final_write(db, outbox, ids[0]))]
    await until(lambda: groups._writing)  # noqa: SLF001
    for n, event_id in enumerate(ids[1:], start=1):
        tasks.append(asyncio.create_task(final_write(db, outbox, event_id)))
        if in_order:
            await until(lambda n=n: len(groups._line) >= n)  # type: ignore[misc]  # noqa: SLF001
    await until(lambda: len(groups._line) >= len(ids) - 1)  # noqa: SLF001
    return tasks


async def test_concurrent_final_writes_commit_in_groups_each_once(postgres_url: str, tmp_path: Path) -> None:
    async with running(load_spec("intake-svc"), tmp_path, postgres_url) as intake:
        db, outbox = intake.runtime.db, intake.runtime.tables.outbox
        ids = [f"w-{i}" for i in range(15)]
        async with leader_held(db, outbox):
            tasks = await started(db, outbox, ids)
        await asyncio.gather(*tasks)
        assert sorted(await written(db, outbox)) == sorted(ids)
        groups = db.group_commit
        # The first wrote alone; the fourteen behind it, in one group.
        assert (groups.groups, groups.grouped_writes, groups.failed_groups) == (1, len(ids) - 1, 0)
        await asyncio.gather(*(final_write(db, outbox, f"more-{i}") for i in range(10)))
        assert len(await written(db, outbox)) == len(ids) + 10
        scraped = (await intake.client.get("/metrics", headers={"Authorization": ""})).text
        reported = {s.name: s.value for f in text_string_to_metric_families(scraped) for s in f.samples}
        assert reported["db_group_commits_total"] == groups.groups >= 1
        assert reported["db_group_commit_writes_total"] == groups.grouped_writes >= len(ids) - 1
        assert reported["db_group_commit_failures_total"] == 0


async def test_a_clash_in_a_group_fails_only_the_clashing_write(postgres_url: str, tmp_path: Path) -> None:
    async with intake_on(postgres_url, tmp_path) as (db, outbox):
        await final_write(db, outbox, "dup")
        ids = [f"c-{i}" for i in range(12)]
        ids[5] = "dup"  # event_id is unique: this one clashes, inside the group behind the first
        async with leader_held(db, outbox):
            tasks = await started(db, outbox, ids)
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert [type(r) for r in results] == [IntegrityError if i == "dup" else type(None) for i in ids]
        assert db.group_commit.failed_groups == 1
        assert sorted(await written(db, outbox)) == sorted(["dup", *(i for i in ids if i != "dup")])


async def test_a_write_cancelled_while_it_waits_is_not_written_and_the_line_moves_on(
    postgres_url: str, tmp_path: Path
) -> None:
    async with intake_on(postgres_url, tmp_path) as (db, outbox):
        async with leader_held(db, outbox):
            tasks = await started(db, outbox, [f"q-{i}" for i in range(8)])
            tasks[3].cancel()
            await asyncio.sleep(0.05)
        done = await asyncio.gather(*tasks, return_exceptions=True)
        assert [type(d) for d in done] == [asyncio.CancelledError if i == 3 else type(None) for i in range(8)]
        assert sorted(await written(db, outbox)) == sorted(f"q-{i}" for i in range(8) if i != 3)
        await asyncio.wait_for(final_write(db, outbox, "after"), timeout=10)  # nobody holds the line
        assert (await written(db, outbox))[-1] == "after"


async def test_a_write_cancelled_as_its_turn_to_lead_comes_hands_the_lead_on(postgres_url: str, tmp_path: Path) -> None:
    """The one handed the lead is cancelled before it runs (cancelled from inside the
    hand-over, the only moment that can be reached on purpose): the next one leads."""
    async with intake_on(postgres_url, tmp_path) as (db, outbox):
        groups = db.group_commit
        groups.max_writes = 1  # the first writes alone; the lead then passes to the next in line
        tasks: list[asyncio.Task[None]] = []
        hand_over = groups._hand_over  # noqa: SLF001
        cancelled: list[int] = []

        def hand_over_then_cancel() -> None:
            hand_over()
            if not cancelled and len(tasks) > 1:
                cancelled.append(1)
                tasks[1].cancel()  # its turn to lead has just been set; it has not run yet

        groups._hand_over = hand_over_then_cancel  # type: ignore[method-assign]  # noqa: SLF001
        async with leader_held(db, outbox):
            tasks.extend(await started(db, outbox, [f"h-{i}" for i in range(3)], in_order=True))
        async with asyncio.timeout(10):  # without the hand-over, h-2 would wait for ever
            done = await asyncio.gather(*tasks, return_exceptions=True)
        assert [type(d) for d in done] == [type(None), asyncio.CancelledError, type(None)]
        assert sorted(await written(db, outbox)) == ["h-0", "h-2"]
        await asyncio.wait_for(final_write(db, outbox, "after"), timeout=10)  # nobody holds the line
