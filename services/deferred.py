"""Rows that nothing reads before the transaction commits (the outbox, a case's history,
the audit log), written at commit in one statement instead of one round trip each.

Accepting a case used to cost five statements: the case, its outbox row, its history
row and its audit row, each a round trip of its own; the write path's CPU was a third
in those round trips (issue 14's profile). ``defer`` keeps the rows on the session;
the ``before_commit`` hook (``services.database.Database``) writes them: on Postgres,
when every table has only a few rows, all of them in one ``INSERT`` with the others
as data-modifying CTEs (``WITH a AS (INSERT ...), b AS (INSERT ...) INSERT ...``);
otherwise (SQLite, or a batch of hundreds) each table's rows in one ``executemany``.
Either way each table's rows go in the order they were deferred (the relay publishes
the outbox in id order), a rollback forgets them, and a row that cannot be written
fails the commit, as it would have failed the statement.

Only for rows that are read after commit, never by the transaction that writes them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from operator import itemgetter
from typing import Any

from sqlalchemy import Table, bindparam, insert, text
from sqlalchemy.dialects.postgresql.base import PGDialect
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session

from services import native
from services.group_commit import GroupCommit

#: A table with more deferred rows than this is written with ``executemany``: a
#: multi-row VALUES list grows the statement (and its parameters) with every row.
CTE_MAX_ROWS = 20


@dataclass
class Deferred:
    """A session's deferred rows, per table in the order first deferred; every row of a
    table has the same columns (one VALUES list)."""

    groups: dict[Table, list[dict[str, Any]]] = field(default_factory=dict)


def _of(session: Session) -> Deferred:
    found = session.info.get(Deferred)
    if found is None:
        found = session.info[Deferred] = Deferred()
    assert isinstance(found, Deferred)
    return found


class Committed:
    """``session.info`` key: the transaction's last write committed by itself
    (``write_now(final=True)``); writing more in it is a programming error."""


def defer(session: AsyncSession | Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` into ``table`` when the session commits."""
    sync = session.sync_session if isinstance(session, AsyncSession) else session
    if sync.info.get(Committed):
        raise RuntimeError(f"{table.name}: deferred after the transaction's final write committed by itself")
    if sync.get_transaction() is None:
        sync.begin()  # no statement yet: begun now, so that a rollback ends it (and forgets)
    kept = _of(sync).groups.setdefault(table, [])
    for row in rows:
        if kept and row.keys() != kept[0].keys():
            raise ValueError(f"deferred rows of {table.name} must name the same columns")
        kept.append(row)


def write(session: Session) -> None:
    """The ``before_commit`` hook: every deferred row, then nothing is left deferred."""
    _write_groups(session, _take(session))


async def write_now(session: AsyncSession, group: GroupCommit, *, final: bool = False) -> None:
    """The deferred rows, written now on the session's connection (``write_ahead``): on
    Postgres through the driver (``services.native``: the combined statement's
    parameters cost more CPU through ``session.execute``), otherwise as the commit
    would write them. ``final``: the caller writes nothing more in this transaction;
    on Postgres, if this is also its first statement, it commits by itself
    (``native.execute``'s ``alone``), with other requests' final writes arriving
    meanwhile (``group``, ``services.group_commit``), and the session refuses further
    writes."""
    sync = session.sync_session
    groups = _take(sync)
    shape = _shape(sync, groups)
    if shape is None:
        await session.run_sync(_write_groups, groups)
        return
    statement = _native(shape, sync.get_bind().dialect)
    if final:
        committed = await group.write(session, statement, _params(groups, shape))
    else:
        _, committed = await native.execute(session, statement, _params(groups, shape), alone=final)
    if committed:
        sync.info[Committed] = True


Groups = list[tuple[Table, list[dict[str, Any]]]]
Shape = tuple[tuple[Table, int, tuple[str, ...]], ...]


def _write_groups(session: Session, groups: Groups) -> None:
    shape = _shape(session, groups)
    if shape is not None:
        session.execute(_combined(shape), _params(groups, shape))
        return
    for table, rows in groups:
        session.execute(insert(table), rows)


def _take(session: Session) -> Groups:
    found: Deferred | None = session.info.pop(Deferred, None)
    return list(found.groups.items()) if found is not None else []


def _shape(session: Session, groups: Groups) -> Shape | None:
    """The shape of one combined statement for ``groups``, when they fit one (Postgres, a
    few rows per table); ``None``: one ``executemany`` per table."""
    if not groups or session.get_bind().dialect.name != "postgresql":
        return None
    if any(len(rows) > CTE_MAX_ROWS for _, rows in groups):
        return None
    return tuple((table, len(rows), tuple(rows[0])) for table, rows in groups)


def _params(groups: Groups, shape: Shape) -> dict[str, Any]:
    """The combined statement's parameters, ``d<group>_<row>_<column>``: their names made
    once per shape (``_keys``), not formatted per value (that was 3.3% of a new case's
    instructions, ``bench.instructions``)."""
    params: dict[str, Any] = {}
    for (_, rows), (pick, keys) in zip(groups, _keys(shape), strict=True):
        for row, row_keys in zip(rows, keys, strict=True):
            params.update(zip(row_keys, pick(row), strict=True))
    return params


@cache
def _keys(shape: Shape) -> tuple[tuple[Callable[[dict[str, Any]], tuple[Any, ...]], tuple[tuple[str, ...], ...]], ...]:
    """For each group of a shape: what picks a row's values in the shape's column order,
    and each row's parameter names in that order."""
    found = []
    for g, (_, count, names) in enumerate(shape):
        get = itemgetter(*names)
        pick = get if len(names) > 1 else (lambda row, get=get: (get(row),))
        found.append((pick, tuple(tuple(f"d{g}_{r}_{name}" for name in names) for r in range(count))))
    return tuple(found)


def _statement(shape: Shape) -> Any:
    """One INSERT for every group of a shape (tables, row counts, columns), the others as
    CTEs, with bound parameters named ``d<group>_<row>_<column>``."""
    statements = [
        insert(table).values(
            [{name: bindparam(f"d{g}_{r}_{name}", type_=table.c[name].type) for name in names} for r in range(count)]
        )
        for g, (table, count, names) in enumerate(shape)
    ]
    combined = statements[-1]
    for i, statement in enumerate(statements[:-1]):
        combined = combined.add_cte(statement.cte(f"deferred_{i}"))
    return combined


@cache
def _combined(shape: Shape) -> Any:
    """The combined statement for ``session.execute``, built and compiled once per shape,
    not per commit (building it per commit cost more CPU than the round trips it saved,
    measured). SQLAlchemy compiles a DML-in-CTE statement anew on every execution (no
    cache key): compiled here once, it is kept as text with the same typed parameters.
    (Without the ``::TYPE`` casts after each parameter, which ``text`` cannot parse;
    Postgres infers each parameter's type from the column it is inserted into.)"""
    compiled = _statement(shape).compile(dialect=PGDialect(paramstyle="named"))  # type: ignore[no-untyped-call]  # (SQLAlchemy leaves it untyped)
    sql = re.sub(r"(:d\d+_\d+_\w+?)::[A-Z][A-Z ]*(\[\])?", r"\1", str(compiled))
    return text(sql).bindparams(*compiled.binds.values())


@cache
def _native(shape: Shape, dialect: Dialect) -> native.NativeStatement:
    """The combined statement compiled for the engine's own dialect, for the driver."""
    return native.NativeStatement.compile(_statement(shape), dialect)


def forget(session: Session, *_: Any) -> None:
    """After a rollback (``after_soft_rollback``, so also one that reached no database):
    what was deferred in it is not written."""
    session.info.pop(Deferred, None)


def refuse_write_after_final(state: ORMExecuteState) -> None:
    """``do_orm_execute``: a write through the session after its final write committed by
    itself would run in a transaction of its own, apart from the rest: refused."""
    if (state.is_insert or state.is_update or state.is_delete) and state.session.info.get(Committed):
        raise RuntimeError("a write after the transaction's final write committed by itself")


def end(session: Session, *_: Any) -> None:
    """After a commit or rollback (the last hook): the next transaction starts unmarked."""
    session.info.pop(Committed, None)
