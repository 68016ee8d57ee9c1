"""Calls from the hotline's phone system: this platform's events and Zammad's push."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from intake.service import SPEC
from tests.support.inprocess import InProcess, running

T0 = datetime(2026, 11, 23, 9, 31, 7, tzinfo=UTC)
WRAP_UP = {
    "kind": "complaint",
    "subject": "理赔进度慢",
    "description": "客户来电反映车险理赔已报案两周仍未定损。",
    "line_of_business": "property_casualty",
    "branch_code": "GD-SZ",
    "customer_name": "王五",
}


@pytest.fixture
async def intake(backend: tuple[Path, str | None]) -> AsyncIterator[InProcess]:
    var_dir, url = backend
    async with running(SPEC, var_dir, url) as service:
        yield service


def recorded_call(call_id: str) -> list[dict[str, Any]]:
    """A call as a contact-centre phone system reports it."""
    return [
        {
            "event": "new_call",
            "call_id": call_id,
            "caller": "13812345678",
            "called": "95519",
            "queue": "个险客服",
            "ivr_path": ["2 保单服务", "3 投诉建议"],
            "at": T0.isoformat(),
        },
        {
            "event": "answered",
            "call_id": call_id,
            "agent_id": "u-ho-cc-1",
            "at": (T0 + timedelta(seconds=24)).isoformat(),
        },
        {
            "event": "hangup",
            "call_id": call_id,
            "cause": "normalClearing",
            "recording_ref": f"rec://2026/11/23/{call_id}.wav",
            "at": (T0 + timedelta(minutes=6)).isoformat(),
            "wrap_up": WRAP_UP,
        },
    ]


async def post(intake: InProcess, body: dict[str, Any], expect: int = 200) -> dict[str, Any]:
    response = await intake.client.post("/v1/cti/events", json=body)
    assert response.status_code == expect, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_answered_and_logged_call_becomes_one_case(intake: InProcess) -> None:
    answers = [await post(intake, e) for e in recorded_call("CALL-0001")]
    assert [a["state"] for a in answers] == ["ringing", "answered", "ended"]
    assert answers[0]["caller"] == "138****5678"
    assert answers[2]["case_created"] is True
    case = (await intake.client.get(f"/v1/cases/{answers[2]['case_id']}")).json()
    assert (case["channel"], case["source_ref"], case["received_by"]) == ("hotline", "CALL-0001", "u-ho-cc-1")
    assert datetime.fromisoformat(case["received_at"]) == T0
    assert case["customer"]["phone"] == "138****5678" and case["category"] == "claims"
    # The phone system resends everything: nothing new.
    replay = [await post(intake, e) for e in recorded_call("CALL-0001")]
    assert replay[2]["case_id"] == answers[2]["case_id"] and replay[2]["case_created"] is False
    assert len(await intake.emitted("case.created")) == 1


async def test_missed_call_is_not_a_case(intake: InProcess) -> None:
    await post(intake, {"event": "new_call", "call_id": "CALL-M", "caller": "13900001111", "at": T0.isoformat()})
    missed = await post(intake, {"event": "hangup", "call_id": "CALL-M", "cause": "noAnswer"})
    assert (missed["state"], missed["case_id"]) == ("missed", None)
    refused = await post(intake, {"event": "hangup", "call_id": "CALL-M", "wrap_up": WRAP_UP}, expect=409)
    assert "missed call" in refused["detail"]
    assert await intake.emitted("case.created") == []


async def test_ivr_message_becomes_a_case_without_an_agent(intake: InProcess) -> None:
    await post(intake, {"event": "new_call", "call_id": "CALL-IVR", "caller": "13900002222"})
    done = await post(intake, {"event": "hangup", "call_id": "CALL-IVR", "ivr_message": True, "wrap_up": WRAP_UP})
    assert done["state"] == "ended" and done["case_created"] is True
    case = (await intake.client.get(f"/v1/cases/{done['case_id']}")).json()
    assert case["received_by"] is None


async def test_agent_logs_the_call_from_the_desktop(intake: InProcess) -> None:
    for e in recorded_call("CALL-D")[:2]:
        await post(intake, e)
    ended = await post(intake, {"event": "hangup", "call_id": "CALL-D", "cause": "normalClearing"})
    assert (ended["state"], ended["case_id"]) == ("ended", None)
    body = {
        "kind": "inquiry",
        "channel": "hotline",
        "branch_code": "GD-SZ",
        "line_of_business": "individual_life",
        "subject": "保单贷款",
        "description": "咨询保单贷款",
        "customer": {"name": "王五", "phone": "13812345678"},
        "source_ref": "CALL-D",
    }
    case = (await intake.client.post("/v1/cases", json=body)).json()
    linked = await post(intake, {"event": "hangup", "call_id": "CALL-D"})
    assert linked["case_id"] == case["id"] and linked["case_no"] == case["case_no"]


async def test_events_out_of_order(intake: InProcess) -> None:
    call = recorded_call("CALL-O")
    hangup = dict(call[2])
    del hangup["wrap_up"]
    await post(intake, hangup)  # the hangup overtook everything
    late_answer = await post(intake, call[1])
    assert late_answer["state"] == "ended"
    late_new = await post(intake, call[0])
    assert late_new["state"] == "ended"  # never back to ringing
    logged = await post(intake, {"event": "hangup", "call_id": "CALL-O", "wrap_up": WRAP_UP})
    assert logged["case_created"] is True


async def test_same_call_posted_twenty_times_at_once_makes_one_case(intake: InProcess) -> None:
    for e in recorded_call("CALL-C")[:2]:
        await post(intake, e)
    hangup = recorded_call("CALL-C")[2]
    responses = await asyncio.gather(*(intake.client.post("/v1/cti/events", json=hangup) for _ in range(20)))
    assert {r.status_code for r in responses} == {200}
    assert len({r.json()["case_id"] for r in responses}) == 1
    assert sum(r.json()["case_created"] for r in responses) == 1
    assert len(await intake.emitted("case.created")) == 1


def zammad_form(**fields: str) -> str:
    from urllib.parse import urlencode

    return urlencode(list(fields.items()))


async def test_zammad_generic_cti_push(intake: InProcess) -> None:
    form = {"content-type": "application/x-www-form-urlencoded"}
    common = {"from": "8613812345678", "to": "95519", "direction": "in", "callId": "z-4711"}
    new_call = zammad_form(event="newCall", **common, **{"user[]": ""}, queue="hotline")
    answer = zammad_form(event="answer", **common, **{"user[]": "u-ho-cc-1"}, answeringNumber="8001")
    hangup = zammad_form(event="hangup", **common, cause="normalClearing", answeringNumber="8001")
    for raw in (new_call, answer, hangup):
        response = await intake.client.post("/v1/cti/zammad", content=raw, headers=form)
        assert (response.status_code, response.json()) == (200, {})
    body = {
        "kind": "inquiry",
        "channel": "hotline",
        "branch_code": "HO",
        "line_of_business": "individual_life",
        "subject": "咨询",
        "description": "咨询续期缴费",
        "customer": {"name": "客户", "phone": "8613812345678"},
        "source_ref": "z-4711",
    }
    case = (await intake.client.post("/v1/cases", json=body)).json()
    again = await intake.client.post("/v1/cti/zammad", content=hangup, headers=form)
    assert again.json() == {"case_id": case["id"], "case_no": case["case_no"]}

    # JSON too; a caller who hangs up before an answer is a missed call.
    await intake.client.post(
        "/v1/cti/zammad",
        json={
            "event": "newCall",
            "from": "13700001234",
            "to": "95519",
            "direction": "in",
            "callId": "z-4712",
            "user": [],
        },
    )
    await intake.client.post(
        "/v1/cti/zammad",
        json={
            "event": "hangup",
            "from": "13700001234",
            "to": "95519",
            "direction": "in",
            "callId": "z-4712",
            "cause": "cancel",
        },
    )
    state = await post(intake, {"event": "hangup", "call_id": "z-4712"})
    assert state["state"] == "missed" and state["caller"] == "137****1234"

    bad = await intake.client.post(
        "/v1/cti/zammad", content=zammad_form(event="newCall", **{"from": "1"}), headers=form
    )
    assert bad.status_code == 422 and "callId" in [d["field"] for d in bad.json()["errors"]]
    unknown = await intake.client.post("/v1/cti/zammad", json={"event": "transfer", "callId": "z-1"})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "event"


async def test_a_pbx_given_only_a_url_drives_calls_with_the_real_zammad_client(
    backend: tuple[Path, str | None], capsys: pytest.CaptureFixture[str]
) -> None:
    """``py-zammad-cti``, as PBX modules written for Zammad use it: it can be given a URL
    and nothing else, so its API key (bound to the hotline channel) is the URL's last
    segment. New call, answer, hangup; the agent logs the call as a case; the next push
    about the call answers with the case. The key is in no log line and no audit row."""
    import requests
    from zammad_cti import CTIClient

    from intake.service import SPEC as INTAKE
    from tests.support.inprocess import serving

    var_dir, url = backend
    async with serving(INTAKE, var_dir, url) as intake:

        async def key_for(*channels: str) -> str:
            made = await intake.client.post("/v1/api-keys", json={"client": "pbx-asterisk", "channels": channels})
            assert made.status_code == 201, made.text
            return str(made.json()["key"])

        key = await key_for("hotline")
        pbx = CTIClient(f"{intake.url}/v1/cti/zammad/{key}")
        call = {"_from": "8613912345678", "to": "95519", "direction": "in", "call_id": "zp-0815"}
        assert await asyncio.to_thread(pbx.new_call, **call, queue="hotline") == {}
        assert await asyncio.to_thread(pbx.answer, **call, answering_number="8001", user="u-ho-cc-1") == {}
        assert await asyncio.to_thread(pbx.hangup, **call, cause="normalClearing", answering_number="8001") == {}
        ended = await post(intake, {"event": "hangup", "call_id": "zp-0815"})
        assert (ended["state"], ended["agent_id"], ended["case_id"]) == ("ended", "8001", None)  # who answered
        logged = {
            "kind": "complaint",
            "channel": "hotline",
            "branch_code": "HO",
            "line_of_business": "individual_life",
            "subject": "退保到账慢",
            "description": "客户来电称退保款两周未到账。",
            "customer": {"name": "赵六", "phone": "8613912345678"},
            "source_ref": "zp-0815",
        }
        case = (await intake.client.post("/v1/cases", json=logged)).json()
        linked = await asyncio.to_thread(pbx.hangup, **call, cause="normalClearing")
        assert linked == {"case_id": case["id"], "case_no": case["case_no"]}

        key_id, _, secret = key.partition(".")
        refusals = {
            f"{key_id}.{'x' * len(secret)}": 401,  # a wrong secret
            await key_for("counter"): 403,  # a key not bound to the hotline
        }
        for token, status in refusals.items():
            with pytest.raises(requests.HTTPError) as refused:
                await asyncio.to_thread(CTIClient(f"{intake.url}/v1/cti/zammad/{token}").new_call, **call)
            assert refused.value.response.status_code == status
            assert token not in refused.value.response.text
        audit = (await intake.client.get("/v1/audit", params={"limit": 200})).text
        assert "/v1/cti/zammad/{token}" in audit and secret not in audit
    # The service's log lines (the PBX client, in this process too, logs its own URL).
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    ours = "\n".join(json.dumps(line) for line in lines if not str(line.get("logger")).startswith("zammad_cti"))
    assert "/v1/cti/zammad/***" in ours  # the request lines are there, the key masked
    assert secret not in ours
