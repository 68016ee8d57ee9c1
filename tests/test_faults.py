"""Nothing lost: the broker away, a service killed mid-stream, an event delivered
twice, a poison message, a webhook target that fails. Real processes, real
Postgres, real broker."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections import Counter

import httpx
import pytest
from aiokafka import AIOKafkaProducer, ConsumerRecord

from conftest import System
from services.dead_letters import dead_letter_headers
from services.registry import SERVICES
from shared.events import Topics
from tests.support.cases import complaint, inquiry
from tests.support.receiver import WebhookReceiver
from tests.support.wait import eventually

pytestmark = pytest.mark.stack


def post_case(system: System, body: dict) -> str:
    response = httpx.post(f"{system.stack.url('intake-svc')}/v1/cases", json=body, timeout=15, headers=system.headers())
    assert response.status_code == 201, response.text
    return response.json()["id"]  # type: ignore[no-any-return]


def assignment(system: System, case_id: str) -> dict | None:
    response = httpx.get(
        f"{system.stack.url('routing-svc')}/v1/cases/{case_id}/assignment", timeout=10, headers=system.headers()
    )
    return response.json() if response.status_code == 200 else None


#: How a case is first routed: an assignment, or a work order to a branch (a hotline inquiry).
FIRST_ROUTING = ("assign", "work_order")


def assert_assigned_once(system: System, case_ids: list[str], timeout: float = 60) -> None:
    """Every case has exactly one first assignment, in routing and on the bus."""
    for case_id in case_ids:
        found = eventually(lambda c=case_id: assignment(system, c), timeout=timeout, what=f"assignment of {case_id}")
        assert len(found["history"]) == 1 and found["history"][0]["kind"] in FIRST_ROUTING
        key = case_id.encode()
        system.tap.wait_for(lambda s, k=key: s.topic == Topics.case_transferred and s.key == k, timeout=timeout)
    assigns = Counter(
        e["case_id"]
        for e in {
            s.json()["event_id"]: s.json() for s in system.tap.matching(lambda s: s.topic == Topics.case_transferred)
        }.values()
        if e["payload"]["transfer_kind"] in FIRST_ROUTING
    )
    assert all(assigns[c] == 1 for c in case_ids), assigns


def produce(
    bootstrap: str, topic: str, key: bytes, value: bytes, headers: list[tuple[str, bytes]] | None = None
) -> None:
    async def _send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
        await producer.start()
        try:
            await producer.send_and_wait(topic, key=key, value=value, headers=headers)
        finally:
            await producer.stop()

    asyncio.run(_send())


def test_broker_outage_intake_keeps_accepting_and_catches_up(pg_system: System) -> None:
    system = pg_system
    assert system.stack.broker is not None
    system.stack.broker.freeze()
    try:
        eventually(lambda: not system.readyz("intake-svc")["broker"]["up"], timeout=20, what="broker reported down")
        case_ids = []
        backlogs = []
        for _ in range(5):
            case_ids.append(post_case(system, inquiry()))
            ready = system.readyz("intake-svc")
            assert ready["status"] == "degraded"  # degraded, not unready: the outbox holds the events
            backlogs.append(ready["outbox_backlog"])
        assert backlogs == sorted(backlogs) and backlogs[-1] >= 5, backlogs
        assert httpx.get(f"{system.stack.url('intake-svc')}/readyz", timeout=10).status_code == 200
    finally:
        system.stack.broker.thaw()
    eventually(lambda: system.readyz("intake-svc")["outbox_backlog"] == 0, timeout=60, what="outbox drained")
    for case_id in case_ids:
        system.tap.wait_for(lambda s, k=case_id.encode(): s.topic == Topics.case_created and s.key == k, timeout=60)
    assert_assigned_once(system, case_ids)
    eventually(lambda: system.readyz("intake-svc")["broker"]["up"], timeout=20, what="broker reported up")


def test_service_killed_mid_stream_catches_up(pg_system: System) -> None:
    system = pg_system
    before = [post_case(system, inquiry()) for _ in range(5)]
    system.stack.kill("routing-svc")
    during = [post_case(system, inquiry()) for _ in range(5)]
    system.stack.start_service("routing-svc")
    system.stack.wait_ready("routing-svc")
    after = [post_case(system, inquiry()) for _ in range(3)]
    assert_assigned_once(system, before + during + after, timeout=90)


def test_event_delivered_twice_has_effect_once(pg_system: System) -> None:
    system = pg_system
    case_id = post_case(system, complaint(days_ago=30))
    key = case_id.encode()
    [original] = system.tap.wait_for(lambda s: s.topic == Topics.case_created and s.key == key)
    assert_assigned_once(system, [case_id])
    # Wait until every alert of the case is out (the last one: the closure's second escalation).
    system.tap.wait_for(
        lambda s: s.topic == Topics.case_overdue and s.key == key and b"escalation-2" in (s.value or b"")
    )
    eventually(lambda: system.readyz("sla-svc")["outbox_backlog"] == 0, what="sla outbox drained")
    sla_url = f"{system.stack.url('sla-svc')}/v1/cases/{case_id}/sla"
    clocks_before = [
        (c["clock"], c["started_at"], c["due_at"])
        for c in httpx.get(sla_url, timeout=10, headers=system.headers()).json()["clocks"]
    ]
    alerts_before = {
        s.json()["event_id"] for s in system.tap.matching(lambda s: s.topic == Topics.case_overdue and s.key == key)
    }
    dup_routing = system.readyz("routing-svc")["consumer"]["duplicates"]
    dup_sla = system.readyz("sla-svc")["consumer"]["duplicates"]

    assert original.value is not None
    produce(system.stack.bootstrap or "", Topics.case_created, key, original.value)

    eventually(
        lambda: system.readyz("routing-svc")["consumer"]["duplicates"] == dup_routing + 1, what="routing skipped it"
    )
    eventually(lambda: system.readyz("sla-svc")["consumer"]["duplicates"] == dup_sla + 1, what="sla skipped it")
    assert_assigned_once(system, [case_id])
    clocks = [
        (c["clock"], c["started_at"], c["due_at"])
        for c in httpx.get(sla_url, timeout=10, headers=system.headers()).json()["clocks"]
    ]
    assert clocks == clocks_before
    time.sleep(1.5)  # a few timer rounds: nothing fires again
    alerts = {
        s.json()["event_id"] for s in system.tap.matching(lambda s: s.topic == Topics.case_overdue and s.key == key)
    }
    assert alerts == alerts_before  # every alert fired once


def test_poison_message_is_dead_lettered_and_the_next_is_processed(pg_system: System) -> None:
    system = pg_system
    poison_key = f"poison-{uuid.uuid4()}".encode()
    produce(system.stack.bootstrap or "", Topics.case_created, poison_key, b'{"not": "an envelope"')
    for group in ("routing-svc", "sla-svc"):
        [dead] = system.tap.wait_for(lambda s, g=group: s.topic == Topics.dead_letter(g) and s.key == poison_key)
        assert dead.value == b'{"not": "an envelope"'
        assert dead.headers["original-topic"] == b"case.created"
        assert dead.headers["dead-letter-reason"].startswith(b"invalid event")
    # Valid JSON, wrong schema: dead-lettered too, with the field named.
    wrong_key = f"wrong-{uuid.uuid4()}".encode()
    produce(system.stack.bootstrap or "", Topics.case_created, wrong_key, b'{"event_id": "x", "type": "case.created"}')
    [dead] = system.tap.wait_for(lambda s: s.topic == Topics.dead_letter("routing-svc") and s.key == wrong_key)
    assert b"event_id" in dead.headers["dead-letter-reason"]
    # The consumer keeps going.
    assert_assigned_once(system, [post_case(system, inquiry())])


def test_webhook_retried_until_delivered(pg_system: System) -> None:
    system = pg_system
    secret = "another-receiver-secret"
    receiver = WebhookReceiver(secret=secret, fail_first=2).start()
    try:
        notify = system.stack.url("notify-svc")
        created = httpx.post(
            f"{notify}/v1/subscriptions",
            json={
                "channel": "webhook",
                "target": receiver.url,
                "events": ["case.overdue"],
                "branch_code": "BJ",
                "secret": secret,
            },
            timeout=10,
            headers=system.headers(),
        )
        assert created.status_code == 201
        case_id = post_case(system, complaint(days_ago=40, branch_code="BJ", category="product"))
        key = case_id.encode()
        system.tap.wait_for(
            lambda s: s.topic == Topics.case_overdue and s.key == key and b"escalation-2" in (s.value or b"")
        )
        alerts = len(system.tap.events(Topics.case_overdue, case_id))

        def all_delivered() -> list | None:
            params = {"case_id": case_id, "subscription_id": created.json()["id"]}  # not the built-in chain's
            rows = httpx.get(f"{notify}/v1/deliveries", params=params, timeout=10, headers=system.headers()).json()
            return rows if len(rows) == alerts and all(d["status"] == "delivered" for d in rows) else None

        rows = eventually(all_delivered, timeout=60, what="every alert delivered after retries")
        attempts = [a["status_code"] for d in rows for a in d["attempts"]]
        assert attempts.count(500) == 2 and attempts.count(200) == len(rows)  # two failures, each retried
        for d in rows:
            codes = [a["status_code"] for a in d["attempts"]]
            assert codes[-1] == 200 and set(codes[:-1]) <= {500}
        assert all(r.signature_ok for r in receiver.requests)
        assert len({r.headers["x-event-id"] for r in receiver.requests}) == len(rows)
    finally:
        receiver.stop()


def test_two_sla_replicas_fire_each_timer_once(pg_system: System) -> None:
    system = pg_system
    system.stack.start_service("sla-svc", replica="sla-svc#2")
    try:
        system.stack.wait_ready("sla-svc#2")
        cases = [post_case(system, complaint(days_ago=35, category="service_attitude")) for _ in range(6)]
        for case_id in cases:
            key = case_id.encode()
            system.tap.wait_for(
                lambda s, k=key: s.topic == Topics.case_overdue and s.key == k and b"escalation-2" in (s.value or b""),
                timeout=90,
            )
        time.sleep(2)  # more rounds of both replicas: nothing fires again
        for case_id in cases:
            alerts = [
                s.json()
                for s in system.tap.matching(
                    lambda s, k=case_id.encode(): s.topic == Topics.case_overdue and s.key == k
                )
            ]
            unique = {
                a["event_id"]: a for a in alerts
            }.values()  # a re-published batch repeats an event id, never a new alert
            fired = Counter((a["payload"]["clock"], a["payload"]["level"]) for a in unique)
            # Each timer once: a clock has two warnings, one breach, one alert per escalation level.
            assert all(n <= (2 if level == "warning" else 1) for (_, level), n in fired.items()), fired
            assert fired[("closure", "breach")] == fired[("regulatory", "breach")] == 1
    finally:
        system.stack.stop_service("sla-svc#2")


def operate(system: System, *args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m services.operate`` as an operator runs it, pointed at this system."""
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": system.stack.bootstrap or "", "KAFKA_ENABLE_IDEMPOTENCE": "false"}
    env.update({f"{s.removesuffix('-svc').upper()}_URL": system.stack.url(s) for s in SERVICES})
    if token:
        env["OPS_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "services.operate", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_an_operator_replays_what_was_parked_and_sees_the_case_everywhere(pg_system: System) -> None:
    """A case.created that routing parked (its handler failed: the bug is fixed since)
    is listed, replayed onto case.created as it was first sent, and applied once; the
    position moves past it; the case is then seen by every service; health reports."""
    system = pg_system
    first = post_case(system, complaint())
    system.tap.wait_for(lambda s: s.topic == Topics.case_created and s.key == first.encode())
    template = system.tap.events(Topics.case_created, first)[0]
    case_id = str(uuid.uuid4())
    lost = {**template, "event_id": str(uuid.uuid4()), "case_id": case_id}
    lost["payload"] = {**template["payload"], "case_no": f"TEST-{case_id[:8]}"}
    record = ConsumerRecord(
        Topics.case_created, 0, 41, 0, 0, case_id.encode(), b"", None, 0, 0, [("producer", b"intake-svc")]
    )
    headers = dead_letter_headers(record, "handler failed: KeyError (fixed in 1.4.2)", "routing-svc")
    produce(
        system.stack.bootstrap or "",
        Topics.dead_letter("routing-svc"),
        case_id.encode(),
        json.dumps(lost).encode(),
        headers,
    )

    listed = operate(system, "dead-letters", "routing-svc")
    assert listed.returncode == 0 and lost["event_id"] in listed.stdout and "fixed in 1.4.2" in listed.stdout
    dry = operate(system, "replay", "routing-svc", "--dry-run", "--event-id", lost["event_id"])
    assert "would replay" in dry.stdout and assignment(system, case_id) is None
    done = operate(system, "replay", "routing-svc", "--event-id", lost["event_id"])
    assert done.returncode == 0 and "1 replayed" in done.stdout, done.stdout + done.stderr
    found = eventually(lambda: assignment(system, case_id), what="the replayed case assigned")
    [again] = system.tap.wait_for(lambda s: s.topic == Topics.case_created and s.key == case_id.encode())
    assert again.headers["producer"] == b"intake-svc" and again.headers["replayed-from"].startswith(b"routing-svc.")
    assert lost["event_id"] in operate(system, "dead-letters", "routing-svc").stdout  # one by id: still listed

    # Everything parked (other tests' poison messages too, which are parked again), then
    # the position moves past them; the event sent a second time is skipped by its id.
    skipped = system.readyz("routing-svc")["consumer"]["duplicates"]
    everything = operate(system, "replay", "routing-svc")
    assert everything.returncode == 0 and lost["event_id"] in everything.stdout, everything.stderr
    assert lost["event_id"] not in operate(system, "dead-letters", "routing-svc").stdout
    eventually(
        lambda: system.readyz("routing-svc")["consumer"]["duplicates"] > skipped or None, what="the second one skipped"
    )
    assert len(system.tap.matching(lambda s: s.topic == Topics.case_created and s.key == case_id.encode())) == 2
    assert len(assignment(system, case_id)["history"]) == 1  # type: ignore[index]

    shown = operate(system, "case", case_id, "--json", token=system.headers()["Authorization"].split()[1])
    seen = json.loads(shown.stdout)
    assert seen[f"routing-svc /v1/cases/{case_id}/assignment"]["unit"] == found["unit"]
    assert "clocks" in seen[f"sla-svc /v1/cases/{case_id}/sla"]
    assert seen[f"intake-svc /v1/cases/{case_id}"]["refused"] == 404  # intake never had it: the event was made here

    readable = operate(system, "case", case_id, token=system.headers()["Authorization"].split()[1]).stdout
    assert f"unit={found['unit']}" in readable and "closure" in readable
    well = operate(system, "health")
    parked = [s for s in SERVICES if (system.readyz(s).get("consumer") or {}).get("dead_lettered")]
    assert well.returncode == (1 if parked else 0), well.stdout
    assert all(s in well.stdout for s in SERVICES)
