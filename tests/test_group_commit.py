"""Concurrent requests' lone final writes committed in groups (``services.group_commit``,
decision 0028), on Postgres through the driver: each write committed once; a clash in
a group costs the others nothing (the group fails, each writes alone, only the clashing
one gets its ``IntegrityError``); a request cancelled while it waits is not written and
the line moves on. intake's own tests (concurrent retries of one case included) and the
fault tests run the same path through the API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Table, select, text
from sqlalchemy.exc import IntegrityError

from services import deferred
from services.database import Database, utcnow, write_ahead
from services.registry import load_spec
from tests.support.inprocess import running
from tests.support.postgres import create_database, drop_database


def outbox_row(event_id: str) -> dict[str, Any]:
    return {"event_id": event_id, "topic": "case.created", "key": "k", "value": "{}", "created_at": utcnow()}


@pytest.fixture
def postgres_url() -> Iterator[str]:
    name, url = create_database()
    try:
        yield url
    finally:
        drop_database(name)


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


async def line_reaches(db: Database, count: int) -> None:
    async with asyncio.timeout(10):
        while len(db.group_commit._line) < count:  # noqa: SLF001 - the writes waiting their turn
            await asyncio.sleep(0.005)


async def test_concurrent_final_writes_commit_in_groups_each_once(postgres_url: str, tmp_path: Path) -> None:
    async with running(load_spec("intake-svc"), tmp_path, postgres_url) as intake:
        db, outbox = intake.runtime.db, intake.runtime.tables.outbox
        ids = [f"w-{i}" for i in range(15)]
        async with leader_held(db, outbox):
            tasks = [asyncio.create_task(final_write(db, outbox, i)) for i in ids]
            await line_reaches(db, len(ids) - 1)
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
            tasks = [asyncio.create_task(final_write(db, outbox, i)) for i in ids]
            await line_reaches(db, len(ids) - 1)
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert [type(r) for r in results] == [IntegrityError if i == "dup" else type(None) for i in ids]
        assert db.group_commit.failed_groups == 1
        assert sorted(await written(db, outbox)) == sorted(["dup", *(i for i in ids if i != "dup")])


async def test_a_write_cancelled_while_it_waits_is_not_written_and_the_line_moves_on(
    postgres_url: str, tmp_path: Path
) -> None:
    async with intake_on(postgres_url, tmp_path) as (db, outbox):
        async with leader_held(db, outbox):
            tasks = [asyncio.create_task(final_write(db, outbox, f"q-{i}")) for i in range(8)]
            await line_reaches(db, 7)
            tasks[3].cancel()
            await asyncio.sleep(0.05)
        done = await asyncio.gather(*tasks, return_exceptions=True)
        assert [type(d) for d in done] == [asyncio.CancelledError if i == 3 else type(None) for i in range(8)]
        assert sorted(await written(db, outbox)) == sorted(f"q-{i}" for i in range(8) if i != 3)
        await asyncio.wait_for(final_write(db, outbox, "after"), timeout=10)  # nobody holds the line
        assert (await written(db, outbox))[-1] == "after"
