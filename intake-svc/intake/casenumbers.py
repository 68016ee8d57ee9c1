"""Case numbers (``<branch>-<yyyymmdd>-<nnnnn>``) without a hot row (issue 14).

Every case of one branch and day used to take the next number from one counter row
inside the case's own transaction, so all of them queued on that row's lock until
each committed. Now each process reserves a block of numbers per (branch, day) in a
short transaction of its own and hands them out from memory: one counter update per
``block`` cases, and no lock held while a case is being written.

Decision (docs/decisions/0003-intake-rules.md): numbers are unique and, within one
process, increasing; they may have gaps (a block's unused numbers when the process
stops, a number taken by a request that then failed) and, with several replicas,
they are not in arrival order across replicas. A case number is a reference people
quote and search, not an accounting sequence; no source rule asks for it to be
gapless, and the received time is what orders cases.

A block's size follows the pace of its branch and day: a block used up within a
second is followed by one twice as large (up to ``most``), one that lasted more than
ten seconds by one half as large (down to ``block``). A quiet branch keeps small
blocks and so small gaps at a stop; a busy one reserves about once a second
instead of every ``block`` cases (each reservation is a transaction of its own: at
20 to a block they were 2.8% of a new case's instructions, ``bench.instructions``).
A stop then loses at most about a second's numbers of that branch.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from intake import tables as t
from services.database import Database, upsert


@dataclass
class Block:
    """The numbers one process holds for a branch and day: ``next`` to ``last``; the
    size it was reserved with, and when."""

    next: int = 1
    last: int = 0
    size: int = 0
    reserved_at: float = 0.0


class CaseNumbers:
    """On Postgres, blocks reserved through a one-connection handle of its own: a
    request already holds a pooled connection when it needs a number, and must never
    wait on the pool for a second. On SQLite, which has one writer at a time anyway, a
    reservation on another connection could wait for the very transaction that asked
    for it, so there each number is taken in the case's own transaction, as before."""

    #: Seconds: a block used up sooner than ``fast`` is followed by a larger one; one
    #: that lasted longer than ``slow`` by a smaller one.
    fast: float = 1.0
    slow: float = 10.0

    def __init__(self, db: Database, block: int, most: int | None = None) -> None:
        self.in_transaction = db.is_sqlite
        self.db = db if self.in_transaction else Database(db.url, db.schema, pool_size=1)
        self.block = max(block, 1)
        self.most = max(most if most is not None else self.block, self.block)
        self._blocks: dict[tuple[str, str], Block] = {}  # (branch, day) -> its block
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    async def next(self, session: AsyncSession, branch_code: str, local_received: datetime) -> str:
        day = local_received.strftime("%Y%m%d")
        if self.in_transaction:
            return f"{branch_code}-{day}-{await _take(session, branch_code, day, 1):05d}"
        key = (branch_code, day)
        async with self._locks.setdefault(key, asyncio.Lock()):
            held = self._blocks.setdefault(key, Block())
            if held.next > held.last:
                now = time.monotonic()
                size = self._next_size(held, now)
                held.last = await self._reserve(branch_code, day, size)
                held.next, held.size, held.reserved_at = held.last - size + 1, size, now
            number = held.next
            held.next += 1
        return f"{branch_code}-{day}-{number:05d}"

    def _next_size(self, used: Block, now: float) -> int:
        """The size of the block after ``used``, by how long ``used`` lasted."""
        if not used.size:
            return self.block
        lasted = now - used.reserved_at
        if lasted < self.fast:
            return min(used.size * 2, self.most)
        if lasted > self.slow:
            return max(used.size // 2, self.block)
        return used.size

    async def _reserve(self, branch_code: str, day: str, size: int) -> int:
        """The last number of a new block, committed at once (a few microseconds of lock)."""
        async with self.db.session() as session:
            last = await _take(session, branch_code, day, size)
            await session.commit()
        return last

    async def close(self) -> None:
        if not self.in_transaction:
            await self.db.dispose()


async def _take(session: AsyncSession, branch_code: str, day: str, count: int) -> int:
    """Move the (branch, day) counter on by ``count``; returns its new last number."""
    stmt = upsert(session, t.case_counters).values(branch_code=branch_code, day=day, last=count)
    stmt = stmt.on_conflict_do_update(
        index_elements=["branch_code", "day"], set_={"last": t.case_counters.c.last + count}
    ).returning(t.case_counters.c.last)
    return int((await session.execute(stmt)).scalar_one())
