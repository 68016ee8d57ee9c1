"""Workers are woken by the commits that give them work (services.wakeup): at once in
the committing process, and through Postgres NOTIFY in another process on the same
schema (a replica), which is what lets the polls be long and an idle service quiet."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from services import wakeup
from services.database import Database


@pytest.fixture
async def replicas(postgres_url: str) -> AsyncIterator[tuple[Database, Database]]:
    """Two processes' worth of one service's database (two engines, two listeners)."""
    a, b = Database(postgres_url, "intake", pool_size=2), Database(postgres_url, "intake", pool_size=2)
    a.wakeups.start()
    b.wakeups.start()
    for db in (a, b):  # both listening before anything is sent
        for _ in range(100):
            if db.wakeups._conn is not None:
                break
            await asyncio.sleep(0.05)
    yield a, b
    await a.dispose()
    await b.dispose()


async def _write(db: Database, name: str, *, commit: bool = True) -> None:
    async with db.session() as session:
        await session.execute(text("SELECT 1"))
        wakeup.mark(session, name)
        if commit:
            await session.commit()
        else:
            await session.rollback()


async def test_a_commit_wakes_its_own_process_at_once_and_a_replica_soon(replicas: tuple[Database, Database]) -> None:
    a, b = replicas
    here, there, other = a.wakeups.signal("outbox"), b.wakeups.signal("outbox"), b.wakeups.signal("timers")
    await _write(a, "outbox")
    assert await here.wait(0)  # set by the commit hook itself, no round trip
    assert await there.wait(5), "the replica was not notified"
    assert not await other.wait(0.3), "another worker's signal was set"


async def test_a_rolled_back_write_wakes_nobody(replicas: tuple[Database, Database]) -> None:
    a, b = replicas
    await _write(a, "outbox", commit=False)
    assert not await a.wakeups.signal("outbox").wait(0.3)
    assert not await b.wakeups.signal("outbox").wait(0.3)
    await _write(a, "timers")  # the next commit of the session class carries no stale mark
    assert not await a.wakeups.signal("outbox").wait(0.3)


async def test_timers_and_deliveries_wake_only_the_committing_process(replicas: tuple[Database, Database]) -> None:
    """Whichever replica looks claims them, so the committing one's own worker does."""
    a, b = replicas
    await _write(a, "timers")
    assert await a.wakeups.signal("timers").wait(0)
    await _write(a, "outbox")  # sent after the timers' commit: once it arrives, that one would have
    assert await b.wakeups.signal("outbox").wait(5)
    assert not await b.wakeups.signal("timers").wait(0)


async def test_on_sqlite_the_signal_is_local(tmp_path: object) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/w.db", "intake")
    db.wakeups.start()  # nothing to listen on: one process per file
    try:
        await _write(db, "outbox")
        assert await db.wakeups.signal("outbox").wait(0)
    finally:
        await db.dispose()
