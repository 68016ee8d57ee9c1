"""Delivery rules: retries, dead and resend, the circuit breaker, exactly once across
a restart, digests on the business calendar, templates."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import chinese_calendar
import httpx
import pytest

from notify import tables as t
from notify.digest import DigestPlanner
from notify.peers import Peers
from notify.settings import NotifySettings
from services.database import utcnow
from sla.service import SPEC as SLA
from tests.support.inprocess import InProcess, auth_headers, serving
from tests.support.receiver import SmtpReceiver, WebhookReceiver
from tests.support.wait import until

from .conftest import CaseEvents, deliveries_of, start_notify

CN = ZoneInfo("Asia/Shanghai")


async def webhook_sub(notify: InProcess, url: str, **extra: Any) -> dict[str, Any]:
    body = {"channel": "webhook", "target": url, "events": ["case.overdue"], "secret": "s" * 32, **extra}
    r = await notify.client.post("/v1/subscriptions", json=body)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def delivery(notify: InProcess, sub_id: str, status: str) -> dict[str, Any] | None:
    rows = (await notify.client.get("/v1/deliveries", params={"subscription_id": sub_id, "status": status})).json()
    return rows[0] if rows else None


async def test_retry_then_success_records_every_attempt(notify: InProcess) -> None:
    receiver = WebhookReceiver(secret="s" * 32, fail_first=2).start()
    try:
        sub = await webhook_sub(notify, receiver.url)
        case = CaseEvents()
        await notify.feeder().apply(case.overdue("breach"))
        done = await until(lambda: delivery(notify, sub["id"], "delivered"), what="delivered")
        assert [a["status_code"] for a in done["attempts"]] == [500, 500, 200]
        assert all(a["latency_ms"] >= 0 for a in done["attempts"]) and done["attempts"][0]["error"] == "HTTP 500"
        assert len(receiver.requests) == 3 and all(r.signature_ok for r in receiver.requests)
    finally:
        receiver.stop()


async def test_retry_then_dead_then_manual_resend(
    backend: tuple[Path, str | None], routing: InProcess, smtp: SmtpReceiver
) -> None:
    receiver = WebhookReceiver(secret="s" * 32, fail_first=-1).start()
    try:
        async with await start_notify(backend, routing, smtp, delivery_max_attempts=3) as notify:
            sub = await webhook_sub(notify, receiver.url)
            await notify.feeder().apply(CaseEvents().overdue("breach"))
            dead = await until(lambda: delivery(notify, sub["id"], "dead"), what="dead")
            assert len(dead["attempts"]) == 3 and dead["next_attempt_at"] is None
            receiver.fail_first = 0  # the receiver is fixed
            assert (await notify.client.post(f"/v1/deliveries/{dead['id']}/resend")).status_code == 202
            done = await until(lambda: delivery(notify, sub["id"], "delivered"), what="resent")
            assert [a["status_code"] for a in done["attempts"]] == [500, 500, 500, 200]
            again = await notify.client.post(f"/v1/deliveries/{dead['id']}/resend")
            assert again.status_code == 409  # a delivered one is not sent twice
    finally:
        receiver.stop()


async def test_circuit_opens_for_a_failing_target_without_burning_attempts(
    backend: tuple[Path, str | None], routing: InProcess, smtp: SmtpReceiver
) -> None:
    receiver = WebhookReceiver(secret="s" * 32, fail_first=-1).start()
    settings = dict(breaker_failures=2, breaker_cooldown_seconds=30, delivery_max_attempts=8)
    try:
        async with await start_notify(backend, routing, smtp, **settings) as notify:
            sub = await webhook_sub(notify, receiver.url)
            feeder = notify.feeder()
            for _ in range(6):
                await feeder.apply(CaseEvents().overdue("breach"))

            async def opened() -> dict[str, float]:
                return (await notify.client.get("/v1/circuits")).json()  # type: ignore[no-any-return]

            circuits = await until(opened, what="circuit open")
            assert list(circuits) == [f"webhook:{receiver.base}"] and 0 < circuits[f"webhook:{receiver.base}"] <= 30
            rows = (await notify.client.get("/v1/deliveries", params={"subscription_id": sub["id"]})).json()
            # While open, the receiver is left alone: only the failures that opened it were sent.
            assert len(receiver.requests) <= 2 + 6  # one batch may have been in flight together
            sent_before = len(receiver.requests)
            assert all(d["status"] == "pending" for d in rows)
            await asyncio.sleep(0.5)  # many poll rounds of the worker
            assert len(receiver.requests) == sent_before
    finally:
        receiver.stop()


async def test_exactly_once_across_a_restart(
    backend: tuple[Path, str | None], routing: InProcess, smtp: SmtpReceiver
) -> None:
    receiver = WebhookReceiver(secret="s" * 32).start()
    case = CaseEvents()
    breach = case.overdue("breach")
    try:
        async with await start_notify(backend, routing, smtp) as notify:
            sub = await webhook_sub(notify, receiver.url)
            assert await notify.feeder().apply(breach)
            await until(lambda: delivery(notify, sub["id"], "delivered"), what="delivered")
        async with await start_notify(backend, routing, smtp) as notify:
            assert not await notify.feeder().apply(breach)  # the broker redelivers after the restart
            rows = [r for r in await deliveries_of(notify, case.id) if r.channel == "webhook"]
            assert [r.status for r in rows] == ["delivered"]
        assert [r.headers["x-event-id"] for r in receiver.requests] == [str(breach.event_id)]
    finally:
        receiver.stop()


@pytest.fixture
async def sla(tmp_path: Path) -> Any:
    async with serving(SLA, tmp_path / "sla", None, timer_worker=False) as service:
        yield service


async def test_digest_times_follow_the_official_calendar(sla: InProcess) -> None:
    async with httpx.AsyncClient(timeout=5, headers=auth_headers(["service"])) as client:
        planner = DigestPlanner(Peers(NotifySettings(sla_url=sla.url), client), "09:00,14:00")
        saturday_3am = datetime(2026, 11, 28, 3, 0, tzinfo=CN)
        assert await planner.next_slot("GD-SZ", saturday_3am) == datetime(2026, 11, 30, 9, 0, tzinfo=CN)
        monday_10am = datetime(2026, 11, 30, 10, 0, tzinfo=CN)
        assert await planner.next_slot("GD-SZ", monday_10am) == datetime(2026, 11, 30, 14, 0, tzinfo=CN)
        # National Day: the first slot is on the first official working day after the holiday
        planner._cache.clear()
        holiday = datetime(2026, 10, 1, 3, 0, tzinfo=CN)
        first = next(
            holiday.date() + timedelta(days=i)
            for i in range(1, 15)
            if chinese_calendar.is_workday(holiday.date() + timedelta(days=i))
        )
        assert await planner.next_slot("GD-SZ", holiday) == datetime.combine(first, datetime.min.time(), CN).replace(
            hour=9
        )


async def test_digest_gathers_non_urgent_items_into_one_message_and_major_breach_goes_at_once(
    notify: InProcess, smtp: SmtpReceiver
) -> None:
    r = await notify.client.post(
        "/v1/subscriptions",
        json={
            "channel": "email",
            "target": "gd-ops@insurer.example",
            "events": ["sla.warning", "sla.breach"],
            "mode": "digest",
            "locale": "en",
        },
    )
    sub_id = r.json()["id"]
    feeder = notify.feeder()
    a, b, major = CaseEvents(), CaseEvents(), CaseEvents(tier="major")
    for case in (a, b):
        await feeder.apply(case.created())
        await feeder.apply(case.overdue("warning"))
    await feeder.apply(major.created(major=True))
    await feeder.apply(major.overdue("breach"))

    async def mail_to_ops() -> list[Any]:
        return [m for m in smtp.messages if m["To"] == "gd-ops@insurer.example"]

    [urgent] = await until(mail_to_ops, what="the major breach at once")
    assert urgent["Subject"].startswith("[Overdue]") and major.case_no in urgent["Subject"]
    rows = (await notify.client.get("/v1/deliveries", params={"subscription_id": sub_id})).json()
    # (the breach mail may have arrived before its attempt is recorded: look at modes, not status)
    assert sorted((d["event_type"], d["mode"]) for d in rows) == [
        ("sla.breach", "immediate"),
        ("sla.warning", "digest"),
        ("sla.warning", "digest"),
    ]
    rows = [d for d in rows if d["mode"] == "digest"]
    assert all(d["status"] == "pending" for d in rows)
    slot = datetime.fromisoformat(rows[0]["next_attempt_at"]).astimezone(CN)
    assert slot.strftime("%H:%M") in ("09:00", "11:00", "14:00", "16:00") and slot > utcnow()

    # The digest time comes: both warnings go out in one message.
    async with notify.runtime.db.session() as session:
        await session.execute(
            t.deliveries.update().where(t.deliveries.c.mode == "digest").values(next_attempt_at=utcnow())
        )
        await session.commit()

    async def digest() -> list[Any]:
        return [m for m in await mail_to_ops() if m["Subject"].startswith("[Digest]")]

    [summary] = await until(digest, what="one digest")
    assert summary["Subject"] == "[Digest] 2 reminders"
    assert a.case_no in summary.get_content() and b.case_no in summary.get_content()


async def test_templates_preview_override_and_refusal(notify: InProcess, smtp: SmtpReceiver) -> None:
    preview = await notify.client.post(
        "/v1/templates/preview",
        json={
            "event": "sla.breach",
            "channel": "email",
            "locale": "en",
            "template": {"subject": "{{ case.case_no }} late", "body": "Dear {{ recipient_name }}"},
            "context": {"recipient_name": "Ops"},
        },
    )
    assert preview.json() == {"subject": "TS-20261123-000001 late", "body": "Dear Ops"}
    broken = await notify.client.put("/v1/templates/sla.breach/email/zh-CN", json={"body": "{% for %}"})
    assert broken.status_code == 422 and "template error" in broken.text
    put = await notify.client.put(
        "/v1/templates/sla.breach/email/zh-CN",
        json={"subject": "超时 {{ case.case_no }}", "body": "请处理 {{ level }}"},
    )
    assert put.status_code == 200 and put.json()["customised"] is True
    case = CaseEvents()
    for envelope in (case.created(), case.transferred("GD-SZ.claims", "u-sz-cl-1"), case.overdue("breach")):
        await notify.feeder().apply(envelope)

    async def mails() -> list[Any]:
        return [m for m in smtp.messages if m["Subject"] == f"超时 {case.case_no}"]

    sent = await until(mails, what="mail in the custom wording")
    assert sent[0].get_content().strip() == "请处理 breach"
    assert (await notify.client.delete("/v1/templates/sla.breach/email/zh-CN")).status_code == 204
    back = (await notify.client.get("/v1/templates/sla.breach/email/zh-CN")).json()
    assert back["customised"] is False and back["subject"].startswith("【已超时】")
