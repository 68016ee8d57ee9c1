"""A prebuilt statement run on the session's own asyncpg connection, in its transaction.

Why: intake's new case is one large ``INSERT`` (the case, its outbox, history and audit
rows as data-modifying CTEs, ``services.deferred``) with some seventy parameters.
Through ``session.execute`` writing it cost 0.33-0.40 ms of CPU per case (parameter
dicts, bind processing, the execution context, the greenlet hop); through the driver,
0.28-0.30 ms (three interleaved pairs timed in ``bench.intake_cost``'s process,
decision 0019). Here the statement is compiled once per shape for the session's
dialect, and each call only lines the values up in order, runs the dialect's own bind
processors (so a value is sent exactly as ``session.execute`` would send it) and hands
them to asyncpg's prepared statement, on the same connection and inside the same
transaction as the rest of the session.

What SQLAlchemy's execution path would have done around the call is kept: the
transaction is begun if this is its first statement, the statement goes through the
connection's prepared-statement cache under its execution lock, a driver error comes
out as SQLAlchemy's (``IntegrityError`` for a unique key, so a caller's race handling
is unchanged), and a connection that died is invalidated and the error says so. The error hides the
parameters. ``before_cursor_execute`` listeners do not see these statements.

The consumers' bulk writes take the same path (``execute_many``, ``fetch_many``: the
driver's ``executemany``/``fetchmany``, one prepared single-row statement per row in
one pipeline): through ``session.execute`` a batch's rows cost SQLAlchemy's parameter
building row by row, and a multi-row ``RETURNING`` its "insertmanyvalues" rendering per
batch; 15-21% of a ``case.created`` in sla, routing and notify (``bench.instructions``).

Postgres (asyncpg) only; ``first``, ``execute_many`` and ``fetch_many`` take the
``session.execute`` path themselves on SQLite, other callers keep it. The
adapter's private methods used here (``_execute_mutex``, ``_transaction``,
``_start_transaction``, ``_prepare``) are those of the pinned SQLAlchemy release
(requirements.txt); ``tests/test_deferred.py`` and intake's tests (concurrent retries
of one case included) run this path on Postgres.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Executable, exc
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.util.concurrency import greenlet_spawn


@dataclass(frozen=True)
class NativeStatement:
    """A statement compiled for one dialect: its SQL, each positional parameter's name
    with the bind processor that dialect applies to it, and the values the statement
    itself carries (a literal compared in it, such as ``kind == CaseKind.complaint``)."""

    sql: str
    params: tuple[tuple[str, Callable[[Any], Any] | None], ...]
    constants: Mapping[str, Any]

    @classmethod
    def compile(
        cls, statement: ClauseElement, dialect: Dialect, columns: tuple[str, ...] | None = None
    ) -> NativeStatement:
        """``columns``: for an ``INSERT`` without values, the columns its rows give (as
        ``session.execute`` compiles it for its first row's keys)."""
        compiled = statement.compile(dialect=dialect, column_keys=list(columns) if columns is not None else None)
        assert isinstance(compiled, SQLCompiler)
        if columns is not None and (missing := set(compiled.positiontup or []) - set(columns)):
            # A column SQLAlchemy would fill from a Python-side default: not done here.
            raise NotImplementedError(f"parameters {sorted(missing)} are not in the rows")
        processors = compiled._bind_processors  # noqa: SLF001 - the processors SQLAlchemy itself applies
        params: list[tuple[str, Callable[[Any], Any] | None]] = []
        constants: dict[str, Any] = {}
        for name in compiled.positiontup or []:
            process = processors.get(name)
            if process is not None and not callable(process):
                raise NotImplementedError(f"parameter {name}: tuple-typed parameters are not supported here")
            bind = compiled.binds[name]
            if bind.expanding:
                raise NotImplementedError(f"parameter {name}: IN lists are not supported here")
            if not bind.required:
                constants[name] = bind.effective_value
            params.append((name, process))
        return cls(str(compiled), tuple(params), constants)

    def arguments(self, values: Mapping[str, Any]) -> list[Any]:
        if self.constants:
            values = {**self.constants, **values}
        return [process(values[name]) if process else values[name] for name, process in self.params]


@lru_cache(maxsize=256)
def compiled_once(
    statement: ClauseElement, dialect: Dialect, columns: tuple[str, ...] | None = None
) -> NativeStatement:
    """``statement`` compiled once for ``dialect`` (and, for an ``INSERT`` without values,
    the ``columns`` its rows give): for statements built once and kept (a module
    constant, ``services.database.prebuilt``, or a ``functools.cache``d builder), which
    are the cache's key."""
    return NativeStatement.compile(statement, dialect, columns)


async def first(session: AsyncSession, statement: Executable, values: Mapping[str, Any]) -> Sequence[Any] | None:
    """The first row of a prebuilt read, or None: on Postgres through ``read`` (no
    ``BEGIN`` if it is the transaction's first statement), elsewhere ``session.execute``.
    On Postgres its values are the driver's, without SQLAlchemy's result processing
    (a ``Uuid`` is asyncpg's subclass of ``uuid.UUID``): read plain columns with it."""
    dialect = session.get_bind().dialect
    if dialect.name != "postgresql":
        return (await session.execute(statement, values)).first()
    assert isinstance(statement, ClauseElement)
    rows = await read(session, compiled_once(statement, dialect), values)
    return rows[0] if rows else None


async def execute_many(session: AsyncSession, statement: Executable, rows: Sequence[Mapping[str, Any]]) -> None:
    """A prebuilt ``INSERT`` (or other write) for many rows, in the session's transaction,
    returning nothing: on Postgres through the driver's ``executemany`` (its rows bound
    and sent in one pipeline), elsewhere ``session.execute``. Why: a consumer's batch
    writes tens of rows per table, and ``session.execute`` builds an execution context
    and its parameters row by row in Python (``construct_params`` per row); here each
    row is only lined up and its bind processors run. Every row names the same columns;
    a column the rows leave out must have no Python-side default (refused at compile)."""
    await _many(session, statement, rows, returning=False)


async def fetch_many(
    session: AsyncSession, statement: Executable, rows: Sequence[Mapping[str, Any]]
) -> Sequence[Sequence[Any]]:
    """``execute_many`` for a statement with ``RETURNING``: every row it returned, in
    order. ``session.execute`` renders such an ``INSERT`` as one multi-row ``VALUES``
    statement anew for each batch ("insertmanyvalues"), which was 14% of routing's
    consumer batch (profiled); here one prepared single-row statement runs per row, in
    one pipeline (the driver's ``fetchmany``). An ``ON CONFLICT DO NOTHING`` row that
    conflicts, with a row already there or an earlier one of the same call, returns
    nothing, as in the multi-row statement. Values as in ``first``: the driver's."""
    return await _many(session, statement, rows, returning=True)


async def _many(
    session: AsyncSession, statement: Executable, rows: Sequence[Mapping[str, Any]], *, returning: bool
) -> Sequence[Sequence[Any]]:
    if not rows:
        return []
    dialect = session.get_bind().dialect
    if dialect.name != "postgresql":
        result = await session.execute(statement, list(rows))
        return list(result.all()) if returning else []
    assert isinstance(statement, ClauseElement)
    compiled = compiled_once(statement, dialect, tuple(rows[0]))
    many = [compiled.arguments(row) for row in rows]
    found, _ = await _run(session, compiled, {}, begin=True, many=many, returning=returning)
    return found


async def execute(
    session: AsyncSession, statement: NativeStatement, values: Mapping[str, Any], *, alone: bool = False
) -> tuple[Sequence[Any], bool]:
    """Run ``statement`` with ``values`` in the session's transaction; returns its rows,
    and whether it committed by itself.

    ``alone``: the caller will write nothing more in this transaction. If the statement
    is also the transaction's first, no ``BEGIN`` is sent: Postgres runs a lone
    statement in a transaction of its own, all of it or none, and commits it, so the
    session's commit has nothing left to send (the driver's commit is a no-op with no
    transaction begun). Two round trips fewer for a request whose only write is one
    statement (decision 0021)."""
    return await _run(session, statement, values, begin=not alone)


async def read(session: AsyncSession, statement: NativeStatement, values: Mapping[str, Any]) -> Sequence[Any]:
    """Run a read-only ``statement``: in the session's transaction if one has begun,
    otherwise on its own, without beginning one, so that a write after it may still be
    the transaction's first (``execute``'s ``alone``). Under read committed, the
    isolation every session here runs at, a statement takes a fresh snapshot either way:
    it sees the same rows whether or not a ``BEGIN`` came before it."""
    rows, _ = await _run(session, statement, values, begin=False)
    return rows


async def _run(
    session: AsyncSession,
    statement: NativeStatement,
    values: Mapping[str, Any],
    *,
    begin: bool,
    many: list[list[Any]] | None = None,
    returning: bool = False,
) -> tuple[Sequence[Any], bool]:
    connection, adapter = await _connection_of(session)
    dialect = connection.dialect
    args = statement.arguments(values) if many is None else many
    try:
        async with adapter._execute_mutex:  # noqa: SLF001 - one statement at a time per connection
            outside = adapter._transaction is None  # noqa: SLF001 - nothing has begun one yet
            if outside and begin:
                await adapter._start_transaction()  # noqa: SLF001
            try:
                prepared, _ = await adapter._prepare(
                    statement.sql, getattr(dialect, "_invalidate_schema_cache_asof", 0)
                )
                if many is not None:
                    if returning:
                        return await prepared.fetchmany(many), False
                    await prepared.executemany(many)
                    return [], False
                rows: Sequence[Any] = await prepared.fetch(*args)
                return rows, outside and not begin
            except Exception as error:  # noqa: BLE001 - translated to the DB-API's errors, as SQLAlchemy does
                adapter._handle_exception(error)  # noqa: SLF001 - always raises
                raise
    except adapter.dbapi.Error as error:
        raise await _translated(connection, adapter, statement.sql, args, error) from error


async def begun(session: AsyncSession) -> bool:
    """Whether a transaction has begun on the session's connection (a statement was sent
    in one): if not, a lone write there commits by itself (``execute``'s ``alone``)."""
    _, adapter = await _connection_of(session)
    return adapter._transaction is not None  # noqa: SLF001


async def run_together(session: AsyncSession, writes: Sequence[tuple[NativeStatement, Mapping[str, Any]]]) -> None:
    """``writes`` in one transaction of their own on the session's connection, committed
    together or not at all (``services.group_commit``): ``BEGIN``, each statement's rows
    in one pipeline (the driver's ``executemany``), ``COMMIT``. The session must not have
    begun a transaction there (``begun``); it still has none after. Errors as ``_run``'s."""
    connection, adapter = await _connection_of(session)
    dialect = connection.dialect
    shapes: dict[str, list[list[Any]]] = {}  # by SQL, each statement's rows in the order given
    for statement, values in writes:
        shapes.setdefault(statement.sql, []).append(statement.arguments(values))
    try:
        async with adapter._execute_mutex:  # noqa: SLF001
            if adapter._transaction is not None:  # noqa: SLF001
                raise RuntimeError("run_together in a transaction already begun")
            try:
                async with adapter._connection.transaction():  # noqa: SLF001 - the driver's own, apart from the adapter's
                    for sql, many in shapes.items():
                        prepared, _ = await adapter._prepare(  # noqa: SLF001
                            sql, getattr(dialect, "_invalidate_schema_cache_asof", 0)
                        )
                        await prepared.executemany(many)
            except Exception as error:  # noqa: BLE001 - as in _run
                adapter._handle_exception(error)  # noqa: SLF001 - always raises
                raise
    except adapter.dbapi.Error as error:
        raise await _translated(connection, adapter, "; ".join(shapes), [], error) from error


class _Held:
    """``session.info`` key: the session's connection and its driver adapter, as found for
    the session's current transaction (``_connection_of``)."""


async def _connection_of(session: AsyncSession) -> tuple[AsyncConnection, Any]:
    """The session's connection and its driver adapter, looked up once per transaction,
    in one greenlet hop.

    Each hop costs ~8-13 us before any work (timed; each new greenlet maps a fresh
    16 KiB block for its frames). Through the public API a lookup was two hops
    (``session.connection()``, then ``get_raw_connection()``), and a new case asked two
    to three times (its probe, ``begun``, its write): 2.3 of its 5.7 hops per case,
    counted. A transaction keeps one connection, so the pair is kept on the session for
    as long as that transaction is the session's and its connection is valid; the one
    lookup left is one hop (-0.7% instructions per new case, 2026-12-05)."""
    sync = session.sync_session
    held = sync.info.get(_Held)
    transaction = sync.get_transaction()
    if (
        held is not None
        and transaction is not None  # (a dead reference is None too)
        and transaction is held[0]()
        and transaction.is_active
        and not held[1].invalidated
    ):
        return held[1], held[2]
    # The AsyncConnection is the one ``session.connection()`` would return.
    sync_connection, adapter = await greenlet_spawn(_connection_and_adapter, sync)
    connection = AsyncConnection._retrieve_proxy_for_target(sync_connection)  # noqa: SLF001 - as session.connection() does
    # The transaction weakly: it refers to the session, so a strong reference from the
    # session's ``info`` would make a cycle, and every request's session would wait for
    # the cyclic garbage collector (+5% instructions per new case, counted).
    sync.info[_Held] = (weakref.ref(sync.get_transaction()), connection, adapter)
    return connection, adapter


def _connection_and_adapter(sync: Session) -> tuple[Connection, Any]:
    """The session's connection (beginning its transaction if none is), and the driver
    adapter under it; in the session's greenlet."""
    connection = sync.connection()
    return connection, connection.connection.dbapi_connection


async def _translated(connection: Any, adapter: Any, sql: str, args: Any, error: Exception) -> exc.StatementError:
    """The driver's ``error`` as SQLAlchemy's own path raises it; the connection
    invalidated if it died."""
    dialect = connection.dialect
    # Marked as SQLAlchemy's own path marks it: a request that met a dead connection is
    # answered 503, not 500 (``services.errors.database_unavailable``). Unmarked, a
    # restart's half-closed connection (asyncpg's "another operation is in progress",
    # after which asyncpg closes it) was answered 500: CI, the restart scenario, once.
    lost = dialect.is_disconnect(error, adapter, None)
    if lost:
        await connection.invalidate(error)
    # Parameters hidden: they are a customer's personal data, and errors get logged.
    return exc.DBAPIError.instance(
        sql,
        args,
        error,
        adapter.dbapi.Error,
        hide_parameters=True,
        dialect=dialect,
        connection_invalidated=lost,
    )
