"""The database stopped and started again under a running service (issue 17): every
request meanwhile is answered 503 with ``Retry-After`` and a body that says why, never
500; once the database is back, the service answers as before without a restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

from intake.service import SPEC as INTAKE
from tests.support.cases import complaint
from tests.support.inprocess import running
from tests.support.own_postgres import OwnPostgres


async def test_a_stopped_database_is_503_never_500_and_the_service_comes_back(
    own_postgres: OwnPostgres, tmp_path: Path
) -> None:
    async with running(INTAKE, tmp_path, own_postgres.url) as intake:
        assert (await intake.client.post("/v1/cases", json=complaint())).status_code == 201
        own_postgres.stop("fast")
        statuses = []
        for body in (complaint(), complaint()):
            answer = await intake.client.post("/v1/cases", json=body)
            statuses.append(answer.status_code)
            assert answer.status_code == 503, answer.text
            assert answer.headers["Retry-After"].isdigit()
            assert "database" in answer.json()["detail"]
        listed = await intake.client.get("/v1/cases")
        assert listed.status_code == 503 and listed.headers["Retry-After"]
        ready = await intake.client.get("/readyz")
        assert ready.status_code == 503
        own_postgres.start()
        answered = []
        for _ in range(20):
            answer = await intake.client.post("/v1/cases", json=complaint())
            answered.append(answer.status_code)
            if answer.status_code == 201:
                break
            await asyncio.sleep(0.5)
        assert answered[-1] == 201 and set(answered) <= {201, 503}, answered
        assert (await intake.client.get("/v1/cases")).status_code == 200


def test_a_consumer_waits_out_a_restarting_database_instead_of_dead_lettering() -> None:
    """Postgres's "terminating connection due to administrator command" (57P01), as
    SQLAlchemy wraps it: transient for the consumers (retried, never parked as poison)
    and 503 for the API, by the one classification both use."""
    from sqlalchemy.exc import DBAPIError

    from services.dead_letters import is_transient
    from services.errors import database_unavailable

    class AdminShutdownError(Exception):  # asyncpg's, by name and SQLSTATE
        sqlstate = "57P01"

    wrapped = DBAPIError("SELECT 1", {}, AdminShutdownError("terminating connection due to administrator command"))
    assert not wrapped.connection_invalidated
    assert database_unavailable(wrapped) and is_transient(wrapped)
    broken = DBAPIError("SELECT 1", {}, ValueError("invalid input syntax for type uuid"))
    assert not database_unavailable(broken) and not is_transient(broken)  # a real poison event stays one


async def test_a_locked_sqlite_database_is_a_bounded_wait_then_503_and_nothing_stored(tmp_path: Path) -> None:
    """The embedded default: another writer holds SQLite's lock (a long transaction, a
    backup tool). A request waits ``DB_LOCK_WAIT_SECONDS`` for it, then is answered 503
    with ``Retry-After``, having stored nothing; once the lock is released, the same
    request (the same ``source_ref``) makes its case, once."""
    import sqlite3
    import time

    async with running(INTAKE, tmp_path, None, db_lock_wait_seconds=1.0) as intake:
        body = complaint(source_ref="locked-0001")
        holder = sqlite3.connect(tmp_path / "intake-svc.db", isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")  # the write lock, as any other writer takes it
            started = time.monotonic()
            answer = await asyncio.wait_for(intake.client.post("/v1/cases", json=body), 20)
            waited = time.monotonic() - started
            assert answer.status_code == 503, answer.text
            assert answer.headers["Retry-After"].isdigit()
            assert "database" in answer.json()["detail"]
            assert waited >= 1.0  # it did wait for the lock before giving up
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert (await intake.client.get("/v1/cases")).json()["items"] == []  # nothing half-stored
        retried = await intake.client.post("/v1/cases", json=body)
        assert retried.status_code == 201, retried.text
        again = await intake.client.post("/v1/cases", json=body)
        assert again.json()["id"] == retried.json()["id"]
        assert len((await intake.client.get("/v1/cases")).json()["items"]) == 1


async def test_a_connection_the_server_ended_but_did_not_close_is_503_then_replaced(
    own_postgres: OwnPostgres, tmp_path: Path
) -> None:
    """The server ends its connections (a restart's "terminating connection", 57P01)
    and the driver reads that last message before it sees the socket close: its
    protocol is then out of step, and the next statement fails with asyncpg's
    ``InternalClientError`` ("another operation is in progress"), after which asyncpg
    closes the connection. A request that meets it is answered 503, never 500, on both
    ways to the driver: a list (SQLAlchemy's execution) and a new case
    (``services.native``, which answered 500 before it marked the error as a lost
    connection: CI's restart scenario, once in 790 requests). Then the requests are
    served on fresh connections. The proxy keeps the close from arriving at all, which
    makes the moment last. No broker here, so no relay takes a connection first."""
    import asyncpg

    from tests.support.proxy import TcpProxy

    async def pool_filled() -> None:  # requests at once: the pool holds several connections
        answers = await asyncio.gather(*(intake.client.post("/v1/cases", json=complaint()) for _ in range(6)))
        assert [a.status_code for a in answers] == [201] * 6

    async def end_connections() -> None:
        admin = await asyncpg.connect(own_postgres.url.replace("+asyncpg", ""))
        try:
            ended = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'intake-svc'"
            )
        finally:
            await admin.close()
        assert ended >= 3
        await asyncio.sleep(0.5)  # the last message is read; the close never comes

    proxy = TcpProxy(own_postgres.port).start()
    try:
        url = own_postgres.url.replace(f":{own_postgres.port}/", f":{proxy.port}/")
        async with running(INTAKE, tmp_path, url) as intake:
            try:
                await pool_filled()
                proxy.hold()
                await end_connections()
                listed = await asyncio.wait_for(intake.client.get("/v1/cases"), 20)
                assert listed.status_code == 503, listed.text
                await asyncio.wait_for(pool_filled(), 20)
                await end_connections()
                made = await asyncio.wait_for(intake.client.post("/v1/cases", json=complaint()), 20)
                assert made.status_code == 503, made.text  # 500 before the mend in services.native
                await asyncio.wait_for(pool_filled(), 20)
                assert (await intake.client.get("/v1/cases")).status_code == 200
            finally:
                proxy.cut()  # the connections still held, closed at last (else a close waits for ever)
    finally:
        proxy.stop()
