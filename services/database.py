"""Async SQLAlchemy per service: its own Postgres schema, or its own SQLite file.

Engines are built by ``Database`` at start-up, never at import. Sessions are
committed only at the edge (a request handler, a consumer, a worker loop), never
in domain code: that is what lets a state change and its outbox row commit
together.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import CursorResult, DateTime, Executable, Table, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator

from services import deferred, json_text
from services.group_commit import GroupCommit
from services.wakeup import Wakeups

log = logging.getLogger(__name__)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on Postgres and SQLite alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def resolve_url(database_url: str | None, var_dir: Path, service: str) -> str:
    """The URL a service connects to: the shared Postgres, or its own SQLite file."""
    if database_url:
        return database_url
    var_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite+aiosqlite:///{(var_dir / f'{service}.db').resolve()}"


class Database:
    """One engine and session factory for one service's schema."""

    def __init__(
        self,
        url: str,
        schema: str,
        pool_size: int = 20,
        lock_wait_seconds: float = 10.0,
        pool_overflow: int = 0,
    ) -> None:
        self.url = url
        self.schema = schema
        self.is_sqlite = make_url(url).get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {}
        if self.is_sqlite:
            # One file per service; the schema name is mapped away (SQLite has none).
            kwargs["execution_options"] = {"schema_translate_map": {schema: None}}
            # SQLite's busy timeout: a writer waits this long for another's lock, then
            # "database is locked" (an OperationalError: 503 with Retry-After).
            kwargs["connect_args"] = {"timeout": lock_wait_seconds}
        else:
            # No pre-ping: it cost a round trip (SELECT 1) on every checkout, a tenth of
            # intake's time. A connection that died with the server is invalidated on its
            # first failed use, and that request is answered 503 (services.errors).
            # Connections are kept (``pool_size``), not opened and closed with the load:
            # with as many overflow connections as pooled ones, intake at 300 cases/s
            # opened 27-134 new connections in 20 s, each a new Postgres backend, and
            # its p99 at 200/s was 228-244 ms against 44-91 ms with 20 kept (decision 0021).
            kwargs.update(pool_size=pool_size, max_overflow=pool_overflow, pool_recycle=1800)
            # Each backend says whose it is (pg_stat_activity, the bench's CPU per service).
            kwargs["connect_args"] = {"server_settings": {"application_name": f"{schema}-svc"}}
        self.engine: AsyncEngine = create_async_engine(url, json_serializer=json_text.dumps, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        # A Session class of our own, so commit hooks stay on this database's sessions.
        self._session_class = type(f"{schema.title()}Session", (Session,), {"database": self})
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False, sync_session_class=self._session_class)
        dsn = None if self.is_sqlite else make_url(url).set(drivername="postgresql").render_as_string(False)
        self.wakeups = Wakeups(schema, dsn)
        #: Concurrent requests' lone final writes committed together (``write_ahead``).
        self.group_commit = GroupCommit()
        event.listen(self._session_class, "after_commit", self.wakeups.committed)
        event.listen(self._session_class, "after_commit", deferred.end)
        event.listen(self._session_class, "do_orm_execute", deferred.refuse_write_after_final)
        event.listen(self._session_class, "after_rollback", self.wakeups.discard)
        self._before_commit_hooks: list[Callable[[Session], None]] = []
        self._after_rollback_hooks: list[Callable[[Session], None]] = [deferred.forget]
        event.listen(self._session_class, "before_commit", self._before_commit)
        event.listen(self._session_class, "after_soft_rollback", self._after_rollback)

    def before_commit(self, callback: Callable[[Session], None]) -> None:
        """Call ``callback(session)`` just before each commit of this database's sessions
        (before the deferred rows are written, so a hook may defer rows too)."""
        self._before_commit_hooks.append(callback)

    def after_rollback(self, callback: Callable[[Session], None]) -> None:
        """Call ``callback(session)`` after each rollback of this database's sessions
        (``after_soft_rollback``: also one that reached no database), so that a hook's
        record of what it wrote ahead is undone with the rows (``write_ahead``)."""
        self._after_rollback_hooks.append(callback)

    def run_before_commit_hooks(self, session: Session) -> None:
        """The hooks, which only defer rows: by the commit, or ahead of it (``write_ahead``)."""
        for hook in self._before_commit_hooks:
            hook(session)

    def _before_commit(self, session: Session) -> None:
        self.run_before_commit_hooks(session)
        deferred.write(session)

    def _after_rollback(self, session: Session, *_: Any) -> None:
        for hook in self._after_rollback_hooks:
            hook(session)
        deferred.end(session)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session the caller must commit; anything uncommitted is rolled back."""
        async with self.sessions() as session:
            yield session

    async def commit(self, session: AsyncSession) -> None:
        """Commit ``session``. Where its final write already committed by itself
        (``write_ahead(final=True)``, ``deferred.Committed``) and nothing is pending in
        it, there is nothing left to send: only what a commit does after it (the
        wake-ups) is done, without SQLAlchemy's commit, which cost a new case 2.7% of
        its instructions for no statement (``bench.instructions``). The session is
        then closed as usual (its empty transaction ends with no round trip)."""
        sync = session.sync_session
        # Nothing can be deferred after such a write (``deferred.defer`` refuses it); an
        # ORM object added since would still need the commit's flush.
        if sync.info.get(deferred.Committed) and not (sync.new or sync.dirty or sync.deleted):
            self.wakeups.committed(sync)
            return
        await session.commit()

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def wait_until_up(self, seconds: float) -> None:
        """Wait for the database at start-up instead of crashing on the first try."""
        deadline = asyncio.get_running_loop().time() + seconds
        while True:
            try:
                await self.ping()
                return
            except Exception as exc:  # noqa: BLE001 - any failure means "not yet"
                if asyncio.get_running_loop().time() > deadline:
                    raise
                log.warning("database not reachable yet", extra={"error": type(exc).__name__})
                await asyncio.sleep(1)

    async def dispose(self) -> None:
        await self.wakeups.stop()
        await self.engine.dispose()


async def write_ahead(session: AsyncSession, *, final: bool = False) -> None:
    """What the session's commit would write first, written now: the before-commit hooks
    (the audit row) and the deferred rows, in one statement on Postgres. For a caller that
    must see a constraint those rows break where it can still roll back and answer
    otherwise (intake's concurrent retry of one case), not inside the commit. Anything
    deferred later is written by the commit as usual; a rollback undoes both.

    ``final``: the caller writes nothing more in this transaction. Where that statement
    is also the transaction's first, it commits by itself (no ``BEGIN``/``COMMIT`` round
    trips, decision 0021): a later rollback no longer undoes it, and a later write in the
    session is refused (``deferred.Committed``). Such lone writes of concurrent requests
    are committed in groups (``services.group_commit``, decision 0028)."""
    sync = session.sync_session
    database = getattr(type(sync), "database", None)
    if not isinstance(database, Database):
        raise TypeError("write_ahead needs a session of a services.database.Database")
    database.run_before_commit_hooks(sync)
    await deferred.write_now(session, database.group_commit, final=final)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def insert_ignoring_conflicts(session: AsyncSession, table: Table, index_elements: list[str]) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING`` in the session's dialect (used for dedup)."""
    dialect = session.bind.dialect.name if session.bind else "postgresql"
    module = sqlite if dialect == "sqlite" else postgresql
    return module.insert(table).on_conflict_do_nothing(index_elements=index_elements)


_PREBUILT: dict[tuple[str, str], Any] = {}


def prebuilt(session: AsyncSession, name: str, build: Callable[[AsyncSession], Any]) -> Any:
    """A statement built once per dialect, then executed with parameters: SQLAlchemy
    compiles it once and reuses it, where ``insert(...).values(...)`` per row builds and
    coerces a new statement every time (a tenth of a consumer's time, profiled)."""
    dialect = session.bind.dialect.name if session.bind else "postgresql"
    stmt = _PREBUILT.get((dialect, name))
    if stmt is None:
        stmt = _PREBUILT[(dialect, name)] = build(session)
    return stmt


async def changed_rows(session: AsyncSession, statement: Executable) -> int:
    """How many rows an UPDATE or DELETE changed: the one place that reads ``rowcount``
    (``execute`` is typed as returning a ``Result``; a DML statement's is a ``CursorResult``)."""
    result = await session.execute(statement)
    return int(cast(CursorResult[Any], result).rowcount or 0)


def upsert(session: AsyncSession, table: Table) -> Any:
    """A dialect ``insert`` that offers ``on_conflict_do_update`` on both back-ends."""
    dialect = session.bind.dialect.name if session.bind else "postgresql"
    return (sqlite if dialect == "sqlite" else postgresql).insert(table)
