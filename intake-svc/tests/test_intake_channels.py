"""Each channel's intake: letters and referrals, the counter's identity check,
repeat complaints, the case file's notes and attachments."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from intake.service import SPEC
from tests.support.cases import complaint
from tests.support.inprocess import InProcess, running
from tests.support.intake import act, new_case


@pytest.fixture
async def intake(backend: tuple[Path, str | None]) -> AsyncIterator[InProcess]:
    var_dir, url = backend
    async with running(SPEC, var_dir, url) as service:
        yield service


async def test_regulator_referral_keeps_its_receipt_time_and_reference(intake: InProcess) -> None:
    received = "2026-10-09T10:15:00+08:00"
    case = await new_case(
        intake, complaint(channel="regulator", source_ref="粤银保监转〔2026〕118号", received_at=received)
    )
    assert case["source_ref"] == "粤银保监转〔2026〕118号"
    assert datetime.fromisoformat(case["received_at"]) == datetime.fromisoformat(received)
    assert case["tier"] == "major" and case["major_reasons"] == ["channel: regulator"]
    assert case["case_no"].startswith("GD-SZ-20261009-")
    [created] = await intake.emitted("case.created")
    assert datetime.fromisoformat(created["payload"]["received_at"]) == datetime.fromisoformat(received)


async def test_letter_without_a_named_receiver_leaves_it_to_routing(intake: InProcess) -> None:
    letter = await new_case(intake, complaint(channel="letter"))
    counter = await new_case(intake, complaint(channel="counter", received_by="u-sz-cs-2", source_ref=None))
    assert (letter["received_by"], counter["received_by"]) == (None, "u-sz-cs-2")
    events = await intake.emitted("case.created")
    assert [e["payload"]["received_by"] for e in events] == [None, "u-sz-cs-2"]


async def test_policy_details_withheld_until_identity_verified(intake: InProcess) -> None:
    body = complaint(channel="counter")
    body["customer"]["policy_nos"] = ["P2023000777"]
    case = await new_case(intake, body)
    assert case["customer"]["policy_no"] is None and case["customer"]["policy_nos"] == []
    assert case["customer"]["policy_details_withheld"] is True and case["identity"]["verified"] is False
    verified = await act(intake, case["id"], "verify-identity", actor="u-counter-7", document_type="resident_id")
    assert verified["customer"]["policy_no"] == "P2024000123"
    assert verified["customer"]["policy_nos"] == ["P2023000777"]
    identity = verified["identity"]
    assert (identity["verified"], identity["document_type"], identity["verified_by"]) == (
        True,
        "resident_id",
        "u-counter-7",
    )
    at_counter = complaint(channel="counter", identity={"document_type": "passport", "verified_by": "u-counter-7"})
    shown = await new_case(intake, at_counter)
    assert shown["customer"]["policy_no"] == "P2024000123" and shown["customer"]["policy_details_withheld"] is False


async def test_repeat_complaints_are_linked_and_flagged(intake: InProcess) -> None:
    now = datetime.now(UTC)
    first = await new_case(intake, complaint(received_at=(now - timedelta(days=20)).isoformat()))
    again = await new_case(intake, complaint())  # same phone, same policy, 20 days later
    other_policy = complaint()
    other_policy["customer"]["policy_no"] = "P9999"
    unrelated = await new_case(intake, other_policy)
    by_id_number = complaint()
    by_id_number["customer"]["phone"] = "13700000000"  # new phone, same ID number
    same_person = await new_case(intake, by_id_number)
    old = complaint(received_at=(now - timedelta(days=80)).isoformat())
    old["customer"]["policy_no"] = "P-OLD"
    await new_case(intake, old)
    old_again = complaint()
    old_again["customer"]["policy_no"] = "P-OLD"
    too_late = await new_case(intake, old_again)
    assert first["repeat_of"] is None
    assert again["repeat_of"] == first["id"]
    assert unrelated["repeat_of"] is None
    assert same_person["repeat_of"] == again["id"]  # the latest earlier one
    assert too_late["repeat_of"] is None
    repeats = (await intake.client.get("/v1/cases", params={"is_repeat": "true"})).json()["items"]
    assert {c["id"] for c in repeats} == {again["id"], same_person["id"]}


async def test_category_suggested_unless_the_client_names_one(intake: InProcess) -> None:
    suggested = await new_case(
        intake, complaint(category=None, subject="对销售过程不满", description="代理人销售时误导客户")
    )
    given = await new_case(intake, complaint(category="product", description="代理人销售时误导客户"))
    assert (suggested["category"], suggested["category_suggested"]) == ("sales_agent_conduct", True)
    assert (given["category"], given["category_suggested"]) == ("product", False)


async def test_notes_attachments_and_subject_search(intake: InProcess) -> None:
    attachment = {
        "name": "理赔申请书.pdf",
        "content_type": "application/pdf",
        "size_bytes": 48213,
        "sha256": "a" * 64,
        "storage_ref": "s3://case-files/2026/ab12",
    }
    case = await new_case(intake, complaint(attachments=[attachment], received_by="u-sz-cs-1"))
    cid = case["id"]
    noted = await intake.client.post(
        f"/v1/cases/{cid}/notes", json={"author": "u-sz-cs-1", "text": "已电话联系客户，客户同意等待"}
    )
    assert noted.status_code == 201
    more = dict(attachment, name="医院发票.jpg", content_type="image/jpeg", added_by="u-sz-cs-1")
    attached = await intake.client.post(f"/v1/cases/{cid}/attachments", json=more)
    detail = attached.json()
    assert [a["name"] for a in detail["attachments"]] == ["理赔申请书.pdf", "医院发票.jpg"]
    assert detail["attachments"][0]["added_by"] == "u-sz-cs-1"
    assert [n["text"] for n in detail["notes"]] == ["已电话联系客户，客户同意等待"]
    bad = await intake.client.post(f"/v1/cases/{cid}/attachments", json=dict(attachment, sha256="xyz"))
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "sha256"
    history = (await intake.client.get(f"/v1/cases/{cid}/history")).json()
    assert [h["action"] for h in history] == ["accept", "add-note", "add-attachment"]
    found = (await intake.client.get("/v1/cases", params={"q": "理赔款"})).json()["items"]
    assert [c["id"] for c in found] == [cid]
    assert (await intake.client.get("/v1/cases", params={"q": "没有这个词"})).json()["items"] == []
