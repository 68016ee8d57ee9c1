"""Reference data changed in one replica reaches the others (``services.reference``):
sla's calendars and policies, routing's organisation, notify's subscriptions;
two in-process replicas of a service on one database; a change made through the first
is in the second's memory within seconds, without a restart. Before the stamps, sla's
second replica kept its old calendars and policies until it restarted."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from notify.service import SPEC as NOTIFY
from notify.state import state_of as notify_state
from routing.service import SPEC as ROUTING
from routing.state import state_of as routing_state
from services.reference import Versioned, bump
from sla.service import SPEC as SLA
from sla.state import state_of as sla_state
from tests.support.inprocess import running


async def _until(check: Callable[[], Awaitable[bool]], seconds: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "the other replica did not take the change"
        await asyncio.sleep(0.1)


async def test_a_policy_changed_in_one_sla_replica_reaches_the_other(backend: tuple[Path, str | None]) -> None:
    var_dir, url = backend
    async with (
        running(SLA, var_dir, url, timer_worker=False) as first,
        running(SLA, var_dir, url, timer_worker=False) as second,
    ):
        listed = {p["id"]: p for p in (await first.client.get("/v1/policies")).json()}
        general = listed["general-complaint"]
        assert "letters-only" not in {p.id for p in sla_state(second.runtime).context.policies}
        body = {**general, "priority": 1, "match": {**general["match"], "channels": ["letter"]}}
        body.pop("id", None)
        assert (await first.client.put("/v1/policies/letters-only", json=body)).status_code == 200

        async def in_use() -> bool:  # as a batch, a timer round or a request takes them
            async with second.runtime.db.session() as session:
                ctx = await sla_state(second.runtime).context_in(session)
            return "letters-only" in {p.id for p in ctx.policies}

        await _until(in_use)
        before = sla_state(second.runtime).reference.reloads
        await asyncio.sleep(2.5)  # nothing changed since: the stamp is read again, nothing reloaded
        assert await in_use() and sla_state(second.runtime).reference.reloads == before


async def test_a_rule_changed_in_one_routing_replica_reaches_the_other(backend: tuple[Path, str | None]) -> None:
    var_dir, url = backend
    quiet = {"queue_drain_seconds": 3600}
    async with running(ROUTING, var_dir, url, **quiet) as first, running(ROUTING, var_dir, url, **quiet) as second:
        team = (await first.client.get("/v1/org")).json()["units"][0]["team"]
        rule = {"priority": 0, "team": team, "description": "every case to one team"}
        assert (await first.client.put("/v1/rules/r-everything", json=rule)).status_code == 200

        async def arrived() -> bool:
            async with second.runtime.db.session() as session:
                org = await routing_state(second.runtime).org.get(session)
            return any(r.id == "r-everything" for r in org.rules)

        await _until(arrived, seconds=3.0)  # checked every second; it was reloaded every 5 s


async def test_a_check_before_this_process_commits_its_change_keeps_the_newer_copy(
    backend: tuple[Path, str | None],
) -> None:
    """A copy reloaded inside the writing transaction is ahead of the committed stamp
    until that commit: a check in between (sla's watcher, another task) must not put
    the older copy back."""
    var_dir, url = backend
    async with running(SLA, var_dir, url, timer_worker=False) as sla:
        loads = 0

        async def load(_: object) -> int:
            nonlocal loads
            loads += 1
            return loads

        db = sla.runtime.db
        copy = Versioned(sla.runtime.tables, "test data", load, check_seconds=0.0)
        async with db.session() as session:
            assert await copy.get(session) == 1
        async with db.session() as writer:
            assert await copy.changed(writer) == 2  # stamped in the open transaction, reloaded here
            async with db.session() as other:
                assert not await copy.fresh(other)  # the committed stamp is older: kept
            assert copy.value == 2
            await writer.commit()
        async with db.session() as session:
            assert not await copy.fresh(session)  # the stamp it was loaded at, now committed
            await bump(session, sla.runtime.tables, "test data")
            await session.commit()
        async with db.session() as session:
            assert await copy.get(session) == 3  # another writer's change: reloaded
        async with db.session() as writer:
            assert await copy.changed(writer) == 4
            await writer.rollback()  # what copy 4 saw never committed
        async with db.session() as session:
            assert await copy.get(session) == 5  # so it is reloaded at its next use


async def test_a_subscription_made_in_one_notify_replica_reaches_the_others_fan_out(
    backend: tuple[Path, str | None],
) -> None:
    var_dir, url = backend
    async with running(NOTIFY, var_dir, url) as first, running(NOTIFY, var_dir, url) as second:
        async with second.runtime.db.session() as session:  # loaded before the change
            before = {s.id for s in await notify_state(second.runtime).subscriptions.get(session)}
        async with first.runtime.db.session() as session:  # here too
            assert {s.id for s in await notify_state(first.runtime).subscriptions.get(session)} == before
        body = {"channel": "webhook", "target": "https://example.test/hook", "events": ["case.overdue"]}
        made = await first.client.post("/v1/subscriptions", json={**body, "secret": "s" * 32})
        assert made.status_code == 201, made.text
        new_id = uuid.UUID(made.json()["id"])
        assert new_id not in before
        # In the process that made it, the fan-out has it at once: the copy was reloaded
        # in the creating transaction (an event fanned out right after the answer used to
        # miss the new subscription for up to a second: CI's webhook test caught it).
        async with first.runtime.db.session() as session:
            assert new_id in {s.id for s in await notify_state(first.runtime).subscriptions.get(session)}

        async def arrived() -> bool:
            async with second.runtime.db.session() as session:
                active = await notify_state(second.runtime).subscriptions.get(session)
            return new_id in {s.id for s in active}

        await _until(arrived, seconds=3.0)
