"""intake-svc's API in-process, on SQLite and on Postgres: validation, idempotency,
pagination, personal data at rest."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from intake import tables
from intake.service import SPEC
from tests.support.cases import complaint
from tests.support.inprocess import InProcess, running


@pytest.fixture
async def intake(backend: tuple[Path, str | None]) -> AsyncIterator[InProcess]:
    var_dir, url = backend
    async with running(SPEC, var_dir, url) as service:
        yield service


def without(body: dict[str, Any], *path: str) -> dict[str, Any]:
    body = {**body, "customer": dict(body["customer"])}
    target = body
    for part in path[:-1]:
        target = target[part]
    del target[path[-1]]
    return body


BAD_BODIES: list[tuple[str, Any, str]] = [
    ("missing kind", without(complaint(), "kind"), "kind"),
    ("missing customer phone", without(complaint(), "customer", "phone"), "customer.phone"),
    ("wrong type", complaint(complainant_count="ten"), "complainant_count"),
    ("unknown channel", complaint(channel="pigeon"), "channel"),
    ("unknown kind", complaint(kind="praise"), "kind"),
    ("unknown field", complaint(priority="high"), "priority"),
    ("subject too long", complaint(subject="长" * 201), "subject"),
    ("description too long", complaint(description="x" * 5001), "description"),
    ("bad phone", complaint(customer={"name": "张三", "phone": "call me"}), "customer.phone"),
    ("bad branch code", complaint(branch_code="gd sz"), "branch_code"),
    ("tier not of kind", complaint(tier="specialist"), "tier"),
    (
        "received in the future",
        complaint(received_at=(datetime.now(UTC) + timedelta(days=2)).isoformat()),
        "received_at",
    ),
    ("received without offset", complaint(received_at="2026-01-05T10:00:00"), "received_at"),
]


@pytest.mark.parametrize(("label", "body", "field"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
async def test_bad_input_names_the_field_and_stores_nothing(
    intake: InProcess, label: str, body: Any, field: str
) -> None:
    response = await intake.client.post("/v1/cases", json=body)
    assert response.status_code == 422, (label, response.text)
    fields = [e["field"] for e in response.json()["errors"]]
    assert any(f == field or f.startswith(field) for f in fields), (label, fields)
    assert "13812345678" not in response.text  # inputs are not echoed back
    assert await intake.count(tables.cases) == 0
    assert await intake.count(tables.runtime.outbox) == 0


async def test_invalid_json_and_oversized_body(intake: InProcess) -> None:
    response = await intake.client.post(
        "/v1/cases", content=b'{"kind": "complaint",', headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["type"] == "json_invalid"
    huge = complaint(description="x" * 300_000)
    response = await intake.client.post("/v1/cases", json=huge)
    assert response.status_code == 413
    assert await intake.count(tables.cases) == 0
    assert await intake.count(tables.runtime.outbox) == 0


async def test_a_case_and_its_event_are_written_together(intake: InProcess) -> None:
    response = await intake.client.post("/v1/cases", json=complaint())
    assert response.status_code == 201
    assert await intake.count(tables.cases) == 1
    async with intake.runtime.db.session() as session:
        [row] = (await session.execute(select(tables.runtime.outbox))).all()
    assert row.topic == "case.created" and row.key == response.json()["id"] and row.published_at is None


async def test_same_key_with_another_body_is_refused(intake: InProcess) -> None:
    headers = {"Idempotency-Key": "k-1"}
    first = await intake.client.post("/v1/cases", json=complaint(), headers=headers)
    assert first.status_code == 201
    second = await intake.client.post("/v1/cases", json=complaint(subject="另一件事"), headers=headers)
    assert second.status_code == 409
    assert await intake.count(tables.cases) == 1


@pytest.mark.parametrize("by", ["idempotency_key", "source_ref"])
async def test_concurrent_retries_make_one_case(intake: InProcess, by: str) -> None:
    body = complaint()
    if by == "idempotency_key":
        body.pop("source_ref")
    headers = [{"Idempotency-Key": "same-key"} if by == "idempotency_key" else {"Idempotency-Key": str(uuid.uuid4())}]
    responses = await asyncio.gather(
        *(intake.client.post("/v1/cases", json=body, headers=headers[0]) for _ in range(20))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 19 + [201], statuses
    assert len({r.json()["id"] for r in responses}) == 1
    assert await intake.count(tables.cases) == 1
    assert await intake.count(tables.runtime.outbox) == 1
    # Every attempt is audited once with what it was answered, the ones that lost the
    # race at insert too (their audit row was written ahead with the case and rolled back).
    audit = intake.runtime.tables.audit_log
    async with intake.runtime.db.session() as session:
        audited = (await session.execute(select(audit.c.status).where(audit.c.action == "POST /v1/cases"))).scalars()
        assert sorted(audited) == statuses


async def test_list_filters_and_cursor_pages_by_received_time(intake: InProcess) -> None:
    base = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    ids = []
    for i in range(7):
        body = complaint(received_at=(base + timedelta(hours=i)).isoformat())
        ids.append((await intake.client.post("/v1/cases", json=body)).json()["id"])
    await intake.client.post("/v1/cases", json=complaint(branch_code="BJ"))
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 3, "branch_code": "GD-SZ"}
        if cursor:
            params["cursor"] = cursor
        page = (await intake.client.get("/v1/cases", params=params)).json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))
    window = await intake.client.get(
        "/v1/cases",
        params={
            "received_from": (base + timedelta(hours=2)).isoformat(),
            "received_to": (base + timedelta(hours=4)).isoformat(),
        },
    )
    assert [c["id"] for c in window.json()["items"]] == [ids[3], ids[2]]
    assert (await intake.client.get("/v1/cases", params={"cursor": "garbage"})).status_code == 422
    assert (await intake.client.get("/v1/cases", params={"status": "lost"})).status_code == 422


async def test_case_number_is_per_branch_and_local_day(intake: InProcess) -> None:
    # 16:30 UTC on 1 March is 00:30 on 2 March in Shanghai.
    first = (await intake.client.post("/v1/cases", json=complaint(received_at="2026-03-01T16:30:00+00:00"))).json()
    second = (await intake.client.post("/v1/cases", json=complaint(received_at="2026-03-02T08:00:00+08:00"))).json()
    other = (
        await intake.client.post("/v1/cases", json=complaint(branch_code="BJ", received_at="2026-03-02T09:00:00+08:00"))
    ).json()
    assert [first["case_no"], second["case_no"], other["case_no"]] == [
        "GD-SZ-20260302-00001",
        "GD-SZ-20260302-00002",
        "BJ-20260302-00001",
    ]


async def test_personal_data_is_masked_in_responses_and_encrypted_at_rest(intake: InProcess) -> None:
    created = (await intake.client.post("/v1/cases", json=complaint())).json()
    call = {"event": "new_call", "call_id": "CALL-PII", "caller": "13812345678"}
    assert (await intake.client.post("/v1/cti/events", json=call)).status_code == 200
    fetched = (await intake.client.get(f"/v1/cases/{created['id']}")).json()
    assert fetched["customer"]["phone"] == "138****5678"
    assert fetched["customer"]["id_number"] == "11**************34"
    db = intake.runtime.db
    async with db.session() as session:
        prefix = "" if db.is_sqlite else "intake."
        rows = []
        for table in ("cases", "cti_calls", "outbox", "case_actions"):
            rows += (await session.execute(text(f"SELECT * FROM {prefix}{table}"))).all()
    dumped = "\n".join(str(r) for r in rows)
    assert len(rows) >= 4
    assert "13812345678" not in dumped and "110101199003071234" not in dumped
    if db.is_sqlite:
        await db.dispose()  # flush the WAL into the file before reading its bytes
        raw = b"".join(p.read_bytes() for p in Path(db.url.split("///", 1)[1]).parent.glob("intake-svc.db*"))
        assert b"13812345678" not in raw and b"110101199003071234" not in raw
    cipher = intake.runtime.cipher
    async with db.session() as session:
        row = (await session.execute(select(tables.cases.c.phone_enc, tables.cases.c.phone_hash))).one()
    assert cipher.decrypt(row.phone_enc) == "13812345678"
    assert row.phone_hash == cipher.lookup_hash("138 1234 5678")


async def test_major_complaint_detected_at_intake(intake: InProcess) -> None:
    group = (await intake.client.post("/v1/cases", json=complaint(complainant_count=12))).json()
    media = (await intake.client.post("/v1/cases", json=complaint(description="再不处理我就找记者曝光"))).json()
    regulator = (await intake.client.post("/v1/cases", json=complaint(channel="regulator"))).json()
    plain = (await intake.client.post("/v1/cases", json=complaint())).json()
    assert [c["tier"] for c in (group, media, regulator, plain)] == ["major", "major", "major", "general"]
    assert group["major_reasons"] == ["group complaint: 12 complainants"]
    assert "text mentions 记者 (media)" in media["major_reasons"]
    assert regulator["major_reasons"] == ["channel: regulator"]


async def test_unknown_case_is_404(intake: InProcess) -> None:
    assert (await intake.client.get(f"/v1/cases/{uuid.uuid4()}")).status_code == 404
    assert (await intake.client.get("/v1/cases/not-a-uuid")).status_code == 422


async def test_an_audited_write_and_its_record_commit_together(intake: InProcess) -> None:
    """The audit row of a write is in the write's own transaction: a case and its record
    both exist, with the status the client got; a refused write is recorded after it."""
    audit = intake.runtime.tables.audit_log
    body = complaint()
    first = await intake.client.post("/v1/cases", json=body)
    again = await intake.client.post("/v1/cases", json=body)  # the same channel and source_ref
    refused = await intake.client.post("/v1/cases", json={**body, "kind": "nonsense"})
    assert (first.status_code, again.status_code, refused.status_code) == (201, 200, 422)
    async with intake.runtime.db.session() as session:
        rows = (await session.execute(select(audit.c.action, audit.c.status).order_by(audit.c.id))).all()
        outbox = await session.scalar(select(func.count()).select_from(intake.runtime.tables.outbox))
    assert [(r.action, r.status) for r in rows] == [
        ("POST /v1/cases", 201),
        ("POST /v1/cases", 200),
        ("POST /v1/cases", 422),
    ]
    assert outbox == 1
    if not intake.runtime.db.is_sqlite:  # one transaction: Postgres stamps both rows with the same xmin
        async with intake.runtime.db.session() as session:
            case_tx = await session.scalar(text("SELECT xmin::text FROM intake.cases"))
            audit_tx = await session.scalar(text("SELECT xmin::text FROM intake.audit_log WHERE status = 201"))
        assert case_tx == audit_tx


async def test_search_by_phone_id_number_case_number_and_name(intake: InProcess) -> None:
    """A customer's cases are found by phone or ID number (through the keyed hash), by
    case number, policy number or a prefix of the name; neither number is kept in clear
    by the search, in the audit log or anywhere else."""
    first = (await intake.client.post("/v1/cases", json=complaint())).json()
    other = complaint(customer={"name": "王五", "phone": "13700002222", "id_number": "440301198001011234"})
    second = (await intake.client.post("/v1/cases", json=other)).json()

    async def found(**body: Any) -> list[str]:
        answer = await intake.client.post("/v1/cases/search", json=body)
        assert answer.status_code == 200, answer.text
        return [c["id"] for c in answer.json()["items"]]

    assert await found(phone="138 1234 5678") == [first["id"]]
    assert await found(id_number="440301198001011234") == [second["id"]]
    assert await found(case_no=second["case_no"]) == [second["id"]]
    assert await found(customer_name="王") == [second["id"]]
    assert await found(phone="13812345678", kind="inquiry") == []
    assert sorted(await found(limit=5)) == sorted([first["id"], second["id"]])
    assert sorted(await found(open=True)) == sorted([first["id"], second["id"]])
    assert await found(open=False) == []  # nothing closed yet
    assert await found(assignee="nobody-holds-these") == []
    refused = await intake.client.post("/v1/cases/search", json={"phone": "not a phone"})
    assert refused.status_code == 422 and "phone" in refused.text
    async with intake.runtime.db.session() as session:
        audit = intake.runtime.tables.audit_log
        logged = (await session.execute(select(audit).where(audit.c.action == "POST /v1/cases/search"))).all()
        assert len(logged) == 10  # every search, by whom; the numbers searched for are not in it
        assert "13812345678" not in str([tuple(r) for r in logged])


async def test_classify_says_what_accepting_would_decide_and_stores_nothing(intake: InProcess) -> None:
    body = {"kind": "complaint", "channel": "counter", "subject": "理赔拖延", "description": "再不赔付我就找媒体曝光"}
    answer = await intake.client.post("/v1/cases/classify", json=body)
    assert answer.status_code == 200, answer.text
    told = answer.json()
    assert told["major_reasons"] and told["suggested_category"] == "claims"
    made = (
        await intake.client.post(
            "/v1/cases", json=complaint(channel="counter", subject=body["subject"], description=body["description"])
        )
    ).json()
    assert made["major_reasons"] == told["major_reasons"] and made["category"] == told["suggested_category"]
    inquiry_told = (await intake.client.post("/v1/cases/classify", json={**body, "kind": "inquiry"})).json()
    assert inquiry_told["major_reasons"] == []  # only complaints are major
    assert await intake.count(tables.cases) == 1
