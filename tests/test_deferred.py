"""Rows deferred to the commit (``services.deferred``): written with it, in each table's
order, on both paths (one combined statement, and ``executemany`` for many rows);
forgotten on rollback; and a row that cannot be written fails the whole commit. Written
ahead of the commit (``write_ahead``; on Postgres through the driver, ``services.native``),
they are in the transaction, go with its rollback, and a clash is an ``IntegrityError``."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, MetaData, String, Table, Uuid, bindparam, select
from sqlalchemy.exc import IntegrityError

from intake import tables as t
from services import deferred, native, wakeup
from services.database import insert_ignoring_conflicts, utcnow, write_ahead
from services.registry import load_spec
from tests.support.inprocess import running


def outbox_rows(tag: str, count: int) -> list[dict[str, Any]]:
    return [
        {"event_id": f"{tag}-{i}", "topic": "case.created", "key": "k", "value": "{}", "created_at": utcnow()}
        for i in range(count)
    ]


def history_row(case_id: uuid.UUID, action: str) -> dict[str, Any]:
    return {"case_id": case_id, "action": action, "source": "intake-svc", "details": {"n": 1}, "at": utcnow()}


@pytest.mark.parametrize("count", [3, deferred.CTE_MAX_ROWS + 5])
async def test_deferred_rows_are_written_with_the_commit_in_order(backend: tuple[Path, str | None], count: int) -> None:
    var_dir, url = backend
    async with running(load_spec("intake-svc"), var_dir, url) as intake:
        db, outbox = intake.runtime.db, intake.runtime.tables.outbox
        case_id = uuid.uuid4()
        rows = outbox_rows(f"n{count}", count)
        async with db.session() as session:
            deferred.defer(session, outbox, rows[:1])
            deferred.defer(session, t.case_actions, [history_row(case_id, "first")])
            # The same columns in another order: each value still goes to its column.
            deferred.defer(session, outbox, [dict(reversed(row.items())) for row in rows[1:]])
            deferred.defer(session, t.case_actions, [dict(reversed(history_row(case_id, "second").items()))])
            assert await session.scalar(select(outbox.c.id).limit(1)) is None  # nothing before the commit
            await session.commit()
        async with db.session() as session:
            written = (await session.scalars(select(outbox.c.event_id).order_by(outbox.c.id))).all()
            actions = (await session.execute(select(t.case_actions).order_by(t.case_actions.c.id))).all()
        assert written == [r["event_id"] for r in rows]
        assert [(a.action, a.details) for a in actions] == [("first", {"n": 1}), ("second", {"n": 1})]
        assert {a.case_id for a in actions} == {case_id}


async def test_a_rollback_forgets_and_a_bad_row_fails_the_commit(backend: tuple[Path, str | None]) -> None:
    var_dir, url = backend
    async with running(load_spec("intake-svc"), var_dir, url) as intake:
        db, outbox = intake.runtime.db, intake.runtime.tables.outbox
        async with db.session() as session:
            deferred.defer(session, outbox, outbox_rows("gone", 2))
            await session.rollback()
            deferred.defer(session, outbox, outbox_rows("kept", 1))
            await session.commit()  # the same session, later: only what it deferred since
        async with db.session() as session:
            deferred.defer(session, t.case_actions, [history_row(uuid.uuid4(), "with a duplicate")])
            deferred.defer(session, outbox, outbox_rows("kept", 1))  # event_id is unique
            with pytest.raises(IntegrityError):
                await session.commit()
        async with db.session() as session:
            assert (await session.scalars(select(outbox.c.event_id))).all() == ["kept-0"]
            assert (await session.scalars(select(t.case_actions.c.action))).all() == []
        with pytest.raises(ValueError, match="same columns"):
            async with db.session() as session:
                deferred.defer(session, outbox, outbox_rows("a", 1))
                deferred.defer(session, outbox, [{"event_id": "b", "topic": "x"}])


async def test_rows_written_ahead_are_in_the_transaction_and_a_clash_hides_its_values(
    backend: tuple[Path, str | None],
) -> None:
    var_dir, url = backend
    async with running(load_spec("intake-svc"), var_dir, url) as intake:
        db, outbox = intake.runtime.db, intake.runtime.tables.outbox
        async with db.session() as session:
            deferred.defer(session, outbox, outbox_rows("ahead", 2))
            await write_ahead(session)
            seen = (await session.scalars(select(outbox.c.event_id).order_by(outbox.c.id))).all()
            assert seen == ["ahead-0", "ahead-1"]  # written, inside the transaction
            await session.rollback()
        async with db.session() as session:
            assert (await session.scalars(select(outbox.c.event_id))).all() == []  # gone with it
            deferred.defer(session, outbox, outbox_rows("twice", 1))
            await session.commit()
        async with db.session() as session:
            again = [{**outbox_rows("twice", 1)[0], "value": '{"phone": "13812345678"}'}]
            deferred.defer(session, outbox, again)
            with pytest.raises(IntegrityError) as raised:
                await write_ahead(session)
        if url:  # the driver path: a customer's data stays out of the error (and the logs)
            assert "13812345678" not in str(raised.value)


async def test_a_final_write_alone_commits_by_itself_and_refuses_more(backend: tuple[Path, str | None]) -> None:
    """``write_ahead(final=True)``: on Postgres, as the transaction's only statement it
    commits by itself (no BEGIN/COMMIT, decision 0021), so a rollback no longer undoes it
    and a further write in the session is refused; after a read it is an ordinary write
    ahead, undone by a rollback. On SQLite ``final`` changes nothing."""
    var_dir, url = backend
    async with running(load_spec("intake-svc"), var_dir, url) as intake:
        db, outbox = intake.runtime.db, intake.runtime.tables.outbox

        async def event_ids() -> list[str]:
            async with db.session() as other:
                return list((await other.scalars(select(outbox.c.event_id).order_by(outbox.c.id))).all())

        async with db.session() as session:
            deferred.defer(session, outbox, outbox_rows("alone", 1))
            await write_ahead(session, final=True)
            if url:
                assert await event_ids() == ["alone-0"]  # committed: another session sees it
                with pytest.raises(RuntimeError, match="final write"):
                    deferred.defer(session, outbox, outbox_rows("more", 1))
                with pytest.raises(RuntimeError, match="final write"):
                    await session.execute(outbox.insert().values(outbox_rows("more", 1)[0]))
            await session.rollback()
            assert await event_ids() == (["alone-0"] if url else [])
            deferred.defer(session, outbox, outbox_rows("next", 1))  # the next transaction is unmarked
            await session.commit()
        async with db.session() as session:
            await session.scalar(select(outbox.c.id).limit(1))  # a read first: the write joins its transaction
            deferred.defer(session, outbox, outbox_rows("after-read", 1))
            await write_ahead(session, final=True)
            assert await event_ids() == (["alone-0", "next-0"] if url else ["next-0"])  # not yet committed
            await session.rollback()
        assert await event_ids() == (["alone-0", "next-0"] if url else ["next-0"])


async def test_a_read_first_begins_no_transaction_so_the_final_write_is_still_alone(
    backend: tuple[Path, str | None],
) -> None:
    """``services.native.first``: a prebuilt read, its literals carried by the statement
    (the topic here); on Postgres it begins no transaction, so a final write after it
    still commits by itself (intake's repeat and idempotency probes, decision 0021)."""
    var_dir, url = backend
    async with running(load_spec("intake-svc"), var_dir, url) as intake:
        db, outbox = intake.runtime.db, intake.runtime.tables.outbox
        probe = select(outbox.c.event_id, outbox.c.id).where(
            outbox.c.topic == "case.created", outbox.c.event_id == bindparam("event_id")
        )
        async with db.session() as session:
            deferred.defer(session, outbox, outbox_rows("seen", 1))
            deferred.defer(session, outbox, [{**outbox_rows("other", 1)[0], "topic": "case.updated"}])
            await session.commit()
        async with db.session() as session:
            found = await native.first(session, probe, {"event_id": "seen-0"})
            assert found is not None and found[0] == "seen-0"
            assert await native.first(session, probe, {"event_id": "other-0"}) is None  # the literal topic applies
            assert await native.first(session, probe, {"event_id": "missing"}) is None
            deferred.defer(session, outbox, outbox_rows("after-probes", 1))
            await write_ahead(session, final=True)
            await session.rollback()
        async with db.session() as session:
            kept = (await session.scalars(select(outbox.c.event_id).order_by(outbox.c.id))).all()
        assert kept == (["seen-0", "other-0", "after-probes-0"] if url else ["seen-0", "other-0"])


async def test_the_commit_after_a_final_write_wakes_the_relay_and_sends_nothing(
    backend: tuple[Path, str | None],
) -> None:
    """``Database.commit`` (the request's commit, ``services.deps.get_session``): where the
    final write committed by itself, SQLAlchemy's commit is skipped, but what a commit
    does after it is not: the relay is woken at once, and the row stays written. On
    SQLite (no lone write) it is an ordinary commit, with the same outcome."""
    var_dir, url = backend
    async with running(load_spec("intake-svc"), var_dir, url) as intake:
        db, outbox = intake.runtime.db, intake.runtime.tables.outbox
        relay = db.wakeups.signal("outbox")
        async with db.session() as session:
            publish_rows = outbox_rows("woken", 1)
            deferred.defer(session, outbox, publish_rows)
            wakeup.mark(session, "outbox")
            await write_ahead(session, final=True)
            assert bool(session.sync_session.info.get(deferred.Committed)) == bool(url)
            relay.clear()
            await db.commit(session)
            assert relay._event.is_set()  # noqa: SLF001 - woken by this commit, before any other task ran
        async with db.session() as session:
            assert (await session.scalars(select(outbox.c.event_id))).all() == ["woken-0"]


async def test_many_rows_through_the_driver_are_written_and_a_clash_hides_its_values(
    backend: tuple[Path, str | None],
) -> None:
    """``services.native.execute_many`` and ``fetch_many``, the consumers' bulk writes: every row written in
    the session's transaction (undone by its rollback); a row the table refuses is
    SQLAlchemy's ``IntegrityError`` (on Postgres without the values); on Postgres a column the rows
    leave out that SQLAlchemy would fill from a Python-side default is refused before
    anything is sent (SQLite goes through ``session.execute``, which fills it)."""
    var_dir, url = backend
    async with running(load_spec("intake-svc"), var_dir, url) as intake:
        db, outbox = intake.runtime.db, intake.runtime.tables.outbox
        async with db.session() as session:
            await native.execute_many(session, outbox.insert(), outbox_rows("many", 30))
            await session.rollback()
        async with db.session() as session:
            await native.execute_many(session, outbox.insert(), outbox_rows("many", 30))
            await session.commit()
        async with db.session() as session:
            ids = (await session.scalars(select(outbox.c.event_id).order_by(outbox.c.id))).all()
        assert ids == [f"many-{i}" for i in range(30)]
        async with db.session() as session:  # RETURNING: only the rows taken; a conflict returns nothing
            claim = insert_ignoring_conflicts(session, outbox, ["event_id"]).returning(outbox.c.event_id)
            rows = [*outbox_rows("many", 2), *outbox_rows("claimed", 3), outbox_rows("claimed", 1)[0]]
            taken = await native.fetch_many(session, claim, rows)
            await session.commit()
        assert [row[0] for row in taken] == ["claimed-0", "claimed-1", "claimed-2"]
        async with db.session() as session:
            clash = [{**row, "key": "13812345678"} for row in outbox_rows("many", 2)]  # event ids already there
            with pytest.raises(IntegrityError) as raised:
                await native.execute_many(session, outbox.insert(), clash)
            if url:  # the driver path hides them (SQLite's is session.execute's, as everywhere else there)
                assert "13812345678" not in str(raised.value)
        if url:
            with_default = Table(
                "case_actions",
                MetaData(schema="intake"),
                Column("case_id", Uuid),
                Column("action", String(64), default="noted"),
            )
            async with db.session() as session:
                with pytest.raises(NotImplementedError, match="action"):
                    await native.execute_many(session, with_default.insert(), [{"case_id": uuid.uuid4()}])
