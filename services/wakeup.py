"""Wake a worker when its work arrives, instead of polling the database for it.

A write that gives a worker something to do marks its session with the worker's name:
``wakeup.mark(session, "outbox")`` (the relay), ``"timers"`` (sla's timer worker),
``"deliveries"`` (notify's delivery worker). When that session commits:

- the signal of that name is set in this process at once (a commit hook);
- for the relay, on Postgres, a ``NOTIFY <schema>_outbox`` tells the other processes
  of the same service (replicas behind one schema), whose listening connection sets
  their own signal. Only the replica holding the relay's advisory lock publishes, so
  without this a replica's events would wait for that relay's next poll.

A worker clears its signal before it looks for work and waits on it after, with a
timeout that is only a safety net (a row written by hand, a notification lost while
the listening connection was down). So the polls can be seconds long, and an idle
service does almost nothing (issue 14: under 0.5% of a core at rest).

The notifying connection is the listening one; notifications a process sent itself
are skipped (it has already woken). ``NOTIFY`` is sent after the commit, outside the
write's transaction, and coalesced: one round trip for however many commits came
meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

_KEY = "wake"
RECONNECT_SECONDS = 5.0
#: After a NOTIFY, commits during this long share the next one (a busy intake commits
#: hundreds of times a second; a replica's relay hears of them at most this much later).
NOTIFY_COALESCE_SECONDS = 0.02
#: The workers woken across processes too. Only one replica's relay publishes (it holds
#: the advisory lock), so the others' commits must reach it; timers and deliveries are
#: claimed by whichever replica looks, and the committing process's own worker does.
CROSS_PROCESS = ("outbox",)


def mark(session: AsyncSession | Session, name: str) -> None:
    """Wake the worker called ``name`` once this session commits."""
    sync = session.sync_session if isinstance(session, AsyncSession) else session
    sync.info.setdefault(_KEY, set()).add(name)


class Signal:
    """An ``asyncio.Event`` a worker clears before its round and waits on after it."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def set(self) -> None:
        self._event.set()

    def clear(self) -> None:
        self._event.clear()

    async def wait(self, timeout: float) -> bool:
        """True when woken, False when the safety-net timeout ran out."""
        if self._event.is_set():
            return True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout)
            return True
        return False


class Wakeups:
    """The signals of one service's database; ``start`` listens on Postgres."""

    def __init__(self, schema: str, dsn: str | None) -> None:
        self.schema, self.dsn = schema, dsn  # dsn None: SQLite, one process, local signals only
        self.signals: dict[str, Signal] = {}
        self._pending: set[str] = set()
        self._conn: Any = None
        self._flush: asyncio.Task[None] | None = None
        self._task: asyncio.Task[None] | None = None

    def signal(self, name: str) -> Signal:
        return self.signals.setdefault(name, Signal())

    def channel(self, name: str) -> str:
        return f"{self.schema}_{name}"

    def committed(self, session: Session) -> None:
        """The commit hook: wake here at once, and the other processes soon."""
        names = session.info.pop(_KEY, None)
        if not names:
            return
        for name in names:
            self.signal(name).set()
        names = {n for n in names if n in CROSS_PROCESS}
        if names and self._conn is not None:
            self._pending.update(names)
            if self._flush is None or self._flush.done():
                self._flush = asyncio.get_running_loop().create_task(self._notify())

    def discard(self, session: Session) -> None:
        """A rolled-back session wakes nobody."""
        session.info.pop(_KEY, None)

    async def _notify(self) -> None:
        while self._pending and self._conn is not None:
            names, self._pending = self._pending, set()
            try:
                await self._conn.execute("; ".join(f"NOTIFY {self.channel(n)}" for n in sorted(names)))
            except Exception as exc:  # noqa: BLE001 - the others' safety poll covers it
                log.warning("could not notify other processes", extra={"error": type(exc).__name__})
                return
            await asyncio.sleep(NOTIFY_COALESCE_SECONDS)

    def start(self) -> None:
        if self.dsn is not None and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._listen(), name="wakeups")

    async def _listen(self) -> None:
        """Keep one connection listening on every channel; reconnect when it drops."""
        assert self.dsn is not None
        while True:
            lost = asyncio.Event()
            try:
                conn = await asyncpg.connect(self.dsn)
                own = conn.get_server_pid()
                conn.add_termination_listener(lambda _c, lost=lost: lost.set())
                for name in CROSS_PROCESS:
                    await conn.add_listener(self.channel(name), self._listener(name, own))
                self._conn = conn
                await lost.wait()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - database away: the polls cover; retry
                log.info("wake-up listener not connected", extra={"error": type(exc).__name__})
            finally:
                conn_now, self._conn = self._conn, None
                if conn_now is not None and not conn_now.is_closed():
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(conn_now.close(), 2)
            await asyncio.sleep(RECONNECT_SECONDS)

    def _listener(self, name: str, own: int) -> Any:
        def woken(_conn: Any, pid: int, _channel: str, _payload: str) -> None:
            if pid != own:  # our own NOTIFY: this process woke at its commit
                self.signal(name).set()

        return woken

    async def stop(self) -> None:
        for task in (self._task, self._flush):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._task = self._flush = None
