"""Reference data kept in memory, invalidated by a version stamp.

Some data is read on every event but changes a few times a year: routing's
organisation (rules, units, branches, designated receivers), sla's calendars and
policies. Each service keeps it in memory. Before, routing reloaded its organisation
every 5 seconds whatever happened (four queries), and sla reloaded calendars and
policies only in the process that took the change: a second replica kept the old
ones until it restarted.

Now a change bumps a stamp (``bump``, in the ``reference_versions`` runtime table,
in the same transaction as the change) and every process compares its copy's stamp
with the table's (``Versioned.fresh``): one primary-key read at most every
``check_seconds``, and a reload only when the stamp moved. A missed bump still
cannot leave a copy stale for long: it is reloaded after ``max_age_seconds`` anyway.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.database import upsert, utcnow
from services.tables import RuntimeTables

T = TypeVar("T")


async def bump(session: AsyncSession, tables: RuntimeTables, name: str) -> None:
    """The reference data ``name`` changed in this transaction: every copy reloads."""
    versions = tables.reference_versions
    stmt = upsert(session, versions).values(name=name, version=1, changed_at=utcnow())
    stmt = stmt.on_conflict_do_update(
        index_elements=["name"], set_={"version": versions.c.version + 1, "changed_at": utcnow()}
    )
    await session.execute(stmt)


async def version_of(session: AsyncSession, tables: RuntimeTables, name: str) -> int:
    versions = tables.reference_versions
    found = await session.scalar(select(versions.c.version).where(versions.c.name == name))
    return int(found or 0)


class Versioned(Generic[T]):
    """One piece of reference data in memory, with the stamp it was loaded at."""

    def __init__(
        self,
        tables: RuntimeTables,
        name: str,
        load: Callable[[AsyncSession], Awaitable[T]],
        *,
        check_seconds: float = 1.0,
        max_age_seconds: float = 300.0,
    ) -> None:
        self.tables, self.name, self.load = tables, name, load
        self.check_seconds, self.max_age_seconds = check_seconds, max_age_seconds
        self._value: T | None = None
        self._version = -1
        self._loaded = self._checked = 0.0
        self.reloads = 0

    async def get(self, session: AsyncSession) -> T:
        """The copy, reloaded first if its stamp moved (checked at most every ``check_seconds``)."""
        now = time.monotonic()
        if self._value is None or now - self._checked >= self.check_seconds:
            await self.fresh(session)
        assert self._value is not None
        return self._value

    async def fresh(self, session: AsyncSession) -> bool:
        """Compare the stamp now and reload if it moved (or the copy is too old); True if reloaded."""
        now = time.monotonic()
        self._checked = now
        version = await version_of(session, self.tables, self.name)
        # Only a newer stamp reloads: this process's own change is loaded (``changed``)
        # inside the writing transaction, at a stamp the others see only once it commits;
        # a check meanwhile must not put the older copy back. (Should that transaction
        # then roll back, ``max_age_seconds`` bounds how long its copy stays.)
        if self._value is not None and version <= self._version and now - self._loaded < self.max_age_seconds:
            return False
        await self._load_at(session, version)
        return True

    async def _load_at(self, session: AsyncSession, version: int) -> None:
        """Replace the copy whole: a reader never sees it missing or half-loaded."""
        self._value = await self.load(session)
        self._version, self._loaded = version, time.monotonic()
        self.reloads += 1

    @property
    def value(self) -> T:
        """The copy as last loaded (``get`` or ``fresh`` first)."""
        assert self._value is not None, f"{self.name} not loaded yet"
        return self._value

    async def changed(self, session: AsyncSession) -> T:
        """This process changed it, in ``session``'s transaction: stamped for every other
        copy, and reloaded here from what the transaction now sees. Should that
        transaction roll back, the copy is reloaded at its next use (it would otherwise
        hold what never committed: a subscription that a delivery cannot refer to)."""
        await bump(session, self.tables, self.name)
        await self._load_at(session, await version_of(session, self.tables, self.name))
        event.listen(session.sync_session, "after_soft_rollback", self._rolled_back, once=True)
        return self.value

    def _rolled_back(self, *_: object) -> None:
        self._version, self._loaded, self._checked = -1, 0.0, 0.0
