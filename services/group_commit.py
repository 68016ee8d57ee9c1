"""Concurrent requests' lone final writes, committed together (group commit).

A new case is one statement that commits by itself (decision 0021): under load every
case is a transaction of its own, and Postgres pays a commit, and both sides a round
trip, per case. Measured on intake's own statement, replayed on one connection
(decision 0028): one at a time 0.18-0.19 ms of Postgres CPU and 0.09-0.12 ms of
the client's per case; eight to a transaction 0.10-0.11 and 0.05.

How: the first request to arrive while no group is being written writes its own at
once (alone, as before: no wait at low load). Requests that arrive meanwhile wait
in line; when the write ends, the first of them leads the next group: on its own
connection, everything in line (up to ``MAX_WRITES``) in one transaction, each
statement's rows in one pipeline. So a group is what arrived during the last write,
as large as the load makes it, and nobody waits longer than one write for a turn.

All or nothing, then each alone: if a group's transaction fails for any reason (a
concurrent retry's unique key, a lost connection), nothing of it is committed, and
every request in it writes its own again, alone, on its own connection, exactly as
without grouping; so each gets its own answer (the retry its ``IntegrityError``, the
others their case). A request cancelled while it waits in line is not written.
A session that has already begun a transaction (more than one write) is not grouped.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import exc
from sqlalchemy.ext.asyncio import AsyncSession

from services import native

#: The most writes in one group's transaction (its pipeline's rows).
MAX_WRITES = 64


class _Turn(enum.Enum):
    written = "committed in another request's group"
    lead = "lead the next group"
    alone = "the group failed: write alone"


@dataclass
class _Waiting:
    statement: native.NativeStatement
    values: Mapping[str, Any]
    turn: asyncio.Future[_Turn] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class GroupCommit:
    """One per engine (its connection pool) and event loop: ``services.database.Database``."""

    def __init__(self, max_writes: int = MAX_WRITES) -> None:
        self.max_writes = max_writes
        self._line: list[_Waiting] = []
        self._writing = False
        #: Groups committed and the writes in them (more than one each).
        self.groups = 0
        self.grouped_writes = 0
        #: Groups whose transaction failed, so that each of their writes went alone.
        self.failed_groups = 0

    async def write(self, session: AsyncSession, statement: native.NativeStatement, values: Mapping[str, Any]) -> bool:
        """Write ``statement`` as the session's last: committed by itself or with a group
        (True), or, where the session has begun a transaction, in it (False: the
        session's commit commits it)."""
        if await native.begun(session):
            return await self._alone(session, statement, values)
        me = _Waiting(statement, values)
        self._line.append(me)
        if self._writing:
            try:
                turn = await me.turn
            except asyncio.CancelledError:
                if me.turn.done() and not me.turn.cancelled() and me.turn.result() is _Turn.lead:
                    self._line.remove(me)  # cancelled as its turn to lead came: the next one leads
                    self._hand_over()
                raise
            if turn is _Turn.written:
                return True
            if turn is _Turn.alone:
                return await self._alone(session, statement, values)
        self._writing = True
        return await self._lead(session, me)

    async def _lead(self, session: AsyncSession, me: _Waiting) -> bool:
        """Write what is in line (``me`` first), hand the next group to whoever waits."""
        group = [w for w in self._line[: self.max_writes] if not w.turn.cancelled()]
        del self._line[: self.max_writes]
        others = [w for w in group if w is not me]
        outcome = _Turn.alone
        try:
            if not others:
                return await self._alone(session, me.statement, me.values)
            await native.run_together(session, [(w.statement, w.values) for w in group])
            outcome = _Turn.written
            self.groups += 1
            self.grouped_writes += len(group)
            return True
        except exc.DBAPIError as error:
            self.failed_groups += bool(others)
            if not others or error.connection_invalidated:
                raise  # this request's connection is gone: 503 (the others write on their own)
        finally:
            for waiting in others:
                if not waiting.turn.done():
                    waiting.turn.set_result(outcome)
            self._hand_over()
        return await self._alone(session, me.statement, me.values)  # the group failed

    def _hand_over(self) -> None:
        while self._line:
            if not self._line[0].turn.cancelled():
                self._line[0].turn.set_result(_Turn.lead)
                return
            self._line.pop(0)
        self._writing = False

    @staticmethod
    async def _alone(session: AsyncSession, statement: native.NativeStatement, values: Mapping[str, Any]) -> bool:
        """The write by itself, as without grouping; in the session's transaction if it
        has begun one (then False: not committed yet)."""
        _, committed = await native.execute(session, statement, values, alone=True)
        return committed
