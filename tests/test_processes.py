"""One service on several processes of one host, sharing its port (``REUSE_PORT``):
intake on two processes behind one address, on Postgres with the real broker.

Both processes take requests (the kernel spreads the connections), every case gets
its own case number, and every event leaves through the outbox although only one
relay at a time may publish: a relay that finds the publish lock held looks again
shortly (``services.relay.LOCK_RETRY_SECONDS``) instead of waiting for its poll,
which here is ten minutes away.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from conftest import FAST_ENV
from services.dev.stack import Stack, dev_secrets
from services.relay import publish_lock_key
from tests.support.cases import complaint, inquiry
from tests.support.inprocess import token
from tests.support.postgres import create_database, drop_database
from tests.support.wait import until

pytestmark = pytest.mark.stack

CASES = 60


@pytest.fixture
def two_intakes(tmp_path: Path) -> Iterator[tuple[Stack, str]]:
    name, url = create_database()
    env = {**FAST_ENV, "OUTBOX_POLL_SECONDS": "600"}  # what is published was woken or retried
    stack = Stack(var_dir=tmp_path, database_url=url, env=env, processes_of={"intake-svc": 2})
    try:
        stack.start(only=("intake-svc",))
        yield stack, url.replace("postgresql+asyncpg://", "postgresql://")
    finally:
        stack.stop()
        drop_database(name)


async def _all_published(db: asyncpg.Connection, seconds: float) -> int:
    """Waits up to ``seconds`` for the outbox to empty; returns what is left unpublished."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        left = int(await db.fetchval("SELECT count(*) FROM intake.outbox WHERE published_at IS NULL"))
        if left == 0 or asyncio.get_running_loop().time() > deadline:
            return left
        await asyncio.sleep(0.05)


def _served(stack: Stack, name: str) -> int:
    lines = (stack.var_dir / f"{name}.log").read_text().splitlines()
    records = [json.loads(line) for line in lines if line.startswith("{")]
    return sum(1 for r in records if r.get("logger") == "request" and r.get("status") == 201)


async def test_two_processes_share_one_port_and_publish_everything(two_intakes: tuple[Stack, str]) -> None:
    stack, dsn = two_intakes
    assert stack.ports["intake-svc"] == stack.ports["intake-svc#2"]
    key = dev_secrets(stack.var_dir)["DEV_ISSUER_KEY"]
    headers = {"Authorization": f"Bearer {token(sub='processes-test', key=key)}", "Connection": "close"}
    limits = httpx.Limits(max_keepalive_connections=0)  # a new connection each: the kernel picks a process
    async with httpx.AsyncClient(base_url=stack.url("intake-svc"), headers=headers, limits=limits) as client:

        async def post(i: int) -> str:
            body = complaint() if i % 3 == 0 else inquiry()
            body.pop("source_ref", None)
            answer = await client.post("/v1/cases", json=body, timeout=10)
            assert answer.status_code == 201, answer.text
            return str(answer.json()["case_no"])

        numbers = await asyncio.gather(*(post(i) for i in range(CASES)))
        assert len(set(numbers)) == CASES  # each process numbers from blocks of its own

        async def all_logged() -> dict[str, int] | None:
            # The edge middleware logs a request after its response has gone out
            # (services.middleware): reading the logs at once counted 59 of 60 once in CI.
            shares = {name: _served(stack, name) for name in ("intake-svc", "intake-svc#2")}
            return shares if sum(shares.values()) >= CASES else None

        shares = await until(all_logged, timeout=5, what="a request log line for every case")
        assert sum(shares.values()) == CASES and all(shares.values()), shares
        scraped = (await client.get("/metrics", headers={"Authorization": ""})).text
        frozen = re.search(r"^gc_frozen_objects (\S+)$", scraped, re.MULTILINE)
        assert frozen and float(frozen.group(1)) > 50_000  # start-up frozen (services.collector)

        db = await asyncpg.connect(dsn)
        try:
            assert await _all_published(db, 10) == 0
            # Someone else publishing (the lock held here): the relays woken by these
            # commits find it taken, and publish once it is free, not at their poll.
            await db.execute("SELECT pg_advisory_lock($1)", publish_lock_key("intake"))
            await asyncio.gather(*(post(i) for i in range(4)))
            assert await _all_published(db, 0.5) == 4
            await db.execute("SELECT pg_advisory_unlock($1)", publish_lock_key("intake"))
            assert await _all_published(db, 5) == 0
        finally:
            await db.close()
