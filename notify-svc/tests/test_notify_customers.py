"""Customers: an SMS when their complaint is registered (case number, and the date
sla-svc promises) and on closure; an opt-out is respected; their phone number is
read from intake-svc when sending and never kept, logged or shown by notify."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from intake.service import SPEC as INTAKE
from notify import tables as t
from shared.events import Envelope
from sla.service import SPEC as SLA
from tests.support.cases import complaint
from tests.support.inprocess import InProcess, serving
from tests.support.intake import act, new_case
from tests.support.receiver import SmtpReceiver, WebhookReceiver
from tests.support.wait import until

from .conftest import CaseEvents, start_notify

PHONE = "13812345678"


async def envelopes(service: InProcess, topic: str, case_id: str) -> list[Envelope]:
    return [Envelope.model_validate(e) for e in await service.emitted(topic) if e["case_id"] == case_id]


async def test_acknowledgement_and_closure_notice_and_opt_out(
    tmp_path: Path,
    backend: tuple[Path, str | None],
    routing: InProcess,
    smtp: SmtpReceiver,
    capfd: pytest.CaptureFixture[str],
) -> None:
    gateway = WebhookReceiver(reply={"code": "OK"}).start()
    try:
        async with (
            serving(INTAKE, tmp_path / "intake", None) as intake,
            serving(SLA, tmp_path / "sla", None, timer_worker=False) as sla,
        ):
            peers = {"intake_url": intake.url, "sla_url": sla.url, "sms_gateway_url": f"{gateway.base}/sms"}
            async with await start_notify(backend, routing, smtp, **peers) as notify:
                case = await new_case(intake, complaint(customer={"name": "张三", "phone": PHONE}))
                await act(intake, case["id"], "register")
                [created] = await envelopes(intake, "case.created", case["id"])
                [registered] = await envelopes(intake, "case.updated", case["id"])
                assert await sla.feeder().apply(created)  # sla-svc starts the case's clocks
                for envelope in (created, registered):
                    assert await notify.feeder().apply(envelope)

                async def texts() -> list[Any]:
                    return [r.json() for r in gateway.requests]

                [ack] = await until(texts, what="acknowledgement SMS")
                clocks = (await sla.client.get(f"/v1/cases/{case['id']}/sla")).json()["clocks"]
                closure = next(c for c in clocks if c["clock"] == "closure")
                promised = closure["due_at"][:10]  # 17:30 Beijing time: same date in UTC
                assert ack["to"] == PHONE
                assert case["case_no"] in ack["text"] and promised in ack["text"], ack["text"]

                # The customer asks for no more texts; the closure notice is suppressed.
                assert (await notify.client.post("/v1/opt-outs", json={"phone": PHONE})).status_code == 204
                closing = CaseEvents()
                closing.id = created.case_id
                assert await notify.feeder().apply(closing.updated("close", "closed"))

                async def suppressed() -> list[Any]:
                    rows = (await notify.client.get("/v1/deliveries", params={"status": "suppressed"})).json()
                    return [d for d in rows if d["event_type"] == "case.closed"]

                [closed] = await until(suppressed, what="closure notice suppressed")
                assert "asked not to receive SMS" in closed["attempts"][0]["error"]
                assert len(gateway.requests) == 1

                async with notify.runtime.db.session() as session:
                    stored = (await session.execute(select(t.deliveries.c.body, t.deliveries.c.facts))).all()
                    hashes = (await session.execute(select(t.opt_outs.c.phone_hash))).scalars().all()
                assert PHONE not in repr(stored) and hashes and PHONE not in hashes[0]
    finally:
        gateway.stop()
    out, err = capfd.readouterr()
    lines = [line for line in (out + err).splitlines() if line.startswith("{")]
    notify_logs = [line for line in lines if json.loads(line)["service"] == "notify-svc"]
    assert any("delivery attempt" in json.loads(line)["msg"] for line in notify_logs)
    assert not [line for line in notify_logs if PHONE in line]
