"""A lost event is never silent (issue 12): real services, real broker, real Postgres.

A producer the consumers have not heard of ("ghost-svc") says on
``platform.watermarks`` that it published three ``case.created`` events, and none
of them arrives. Every service that reads ``case.created`` reports the hole in its
``/readyz`` and notify-svc tells ops, once per hole, on a webhook. When the three
events do arrive (as a replay would bring them) the hole closes everywhere.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from conftest import System, start_system, stop_system
from services.streams import stream_headers
from shared.events import CaseCreated, Topics, Watermarks, encode, new_event
from tests.support.receiver import WebhookReceiver
from tests.support.wait import eventually

pytestmark = pytest.mark.stack

READERS = ("routing-svc", "sla-svc", "notify-svc")  # the consumers of case.created
GAP_ENV = {"STREAM_GAP_GRACE_SECONDS": "2", "STREAM_CHECK_SECONDS": "0.5", "GAP_WATCH_SECONDS": "0.5"}


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory, monkeypatch_module: pytest.MonkeyPatch) -> Iterator[System]:
    for name, value in GAP_ENV.items():
        monkeypatch_module.setenv(name, value)
    started, db_name = start_system(tmp_path_factory.mktemp("gaps"), "postgres")
    yield started
    stop_system(started, db_name)


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def ghost_case(n: int) -> bytes:
    payload = CaseCreated(
        case_no=f"GH-{n:06d}",
        kind="inquiry",
        tier=None,
        category=None,
        channel="hotline",
        branch_code="GD-SZ",
        line_of_business="individual_life",
        status="accepted",
        received_at=datetime.now(UTC),
    )
    return encode(new_event(payload, case_id=uuid.uuid4(), producer="ghost-svc"))


def publish(bootstrap: str, messages: list[tuple[str, bytes, list[tuple[str, bytes]]]]) -> None:
    async def _send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
        await producer.start()
        try:
            for topic, value, headers in messages:
                await producer.send_and_wait(topic, value=value, key=b"ghost-svc", headers=headers)
        finally:
            await producer.stop()

    asyncio.run(_send())


def gaps(system: System, service: str) -> list[dict]:
    return [g for g in system.readyz(service)["consumer"]["event_gaps"] if g["producer"] == "ghost-svc"]


def subscribe(system: System, receiver: WebhookReceiver, event: str) -> None:
    """A signed webhook for one ops alert, as ops would set it up."""
    subscribed = httpx.post(
        f"{system.stack.url('notify-svc')}/v1/subscriptions",
        json={"channel": "webhook", "target": receiver.url, "events": [event], "secret": receiver.secret},
        headers=system.headers(),
        timeout=10,
    )
    assert subscribed.status_code == 201, subscribed.text


def test_lost_events_are_reported_and_alerted_once_then_cleared(system: System) -> None:
    receiver = WebhookReceiver(secret="ops-webhook-secret-0001").start()
    try:
        notify = system.stack.url("notify-svc")
        subscribe(system, receiver, "ops.event_gap")
        # Ops alerts have no case, so nobody can be found from one.
        refused = httpx.post(
            f"{notify}/v1/subscriptions",
            json={"channel": "email", "recipients": ["head_office"], "events": ["ops.event_gap"]},
            headers=system.headers(),
            timeout=10,
        )
        assert refused.status_code == 422 and "target" in refused.text

        said = Watermarks(producer="ghost-svc", at=datetime.now(UTC), sequences={Topics.case_created: 3})
        publish(system.stack.bootstrap or "", [(Topics.watermarks, said.model_dump_json().encode(), [])])

        for service in READERS:
            [gap] = eventually(lambda s=service: gaps(system, s), timeout=30, what=f"{service} reports the gap")
            assert (gap["topic"], gap["through"], gap["announced"], gap["missing"]) == (Topics.case_created, 0, 3, 3)
            assert system.readyz(service)["status"] == "degraded"

        def alerted() -> set[str]:
            found = {r.json()["payload"]["service"] for r in receiver.requests if r.json()["type"] == "ops.event_gap"}
            return found if found >= set(READERS) else set()

        eventually(alerted, timeout=30, what="ops told of each service's gap")
        assert all(r.signature_ok for r in receiver.requests)
        time.sleep(3)  # several more watch rounds: the same hole is not told again
        per_service = [r.json()["payload"]["service"] for r in receiver.requests]
        assert sorted(per_service) == sorted(READERS), per_service

        # The three events arrive after all: nothing is missing any more.
        publish(
            system.stack.bootstrap or "",
            [(Topics.case_created, ghost_case(n), stream_headers("ghost-svc", n)) for n in (1, 2, 3)],
        )
        for service in READERS:
            eventually(lambda s=service: not gaps(system, s), timeout=30, what=f"{service} gap closed")
        eventually(lambda: system.readyz("routing-svc")["status"] == "ready", timeout=10, what="ready again")
    finally:
        receiver.stop()


def test_every_ops_alert_a_service_reports_is_told_once(system: System) -> None:
    """sla-svc reports a coming year without its holiday notice (from 1 November, or the
    current year while the pinned calendar package lacks it); ops hear of each once."""
    receiver = WebhookReceiver(secret="ops-webhook-secret-0002").start()
    try:
        subscribe(system, receiver, "ops.calendar_notice")
        reported = {a["key"] for a in system.readyz("sla-svc")["ops_alerts"] if a["alert"] == "ops.calendar_notice"}
        if not reported:
            pytest.skip("no year lacks its notice on this date")
        told = lambda: {r.json()["payload"]["key"] for r in receiver.requests}  # noqa: E731
        eventually(lambda: told() >= reported, timeout=30, what="each calendar alert told")
        time.sleep(2)
        keys = [r.json()["payload"]["key"] for r in receiver.requests]
        assert sorted(keys) == sorted(set(keys)) and set(keys) == reported
        assert all(r.json()["type"] == "ops.calendar_notice" for r in receiver.requests)
    finally:
        receiver.stop()
