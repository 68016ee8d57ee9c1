"""Every clock of the default policies, driven by the events intake and routing send."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from sla import tables as t
from sla.clock import clocks_of, save
from tests.support.inprocess import InProcess

from .conftest import Case

CST = ZoneInfo("Asia/Shanghai")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=CST)


def due(clock: dict) -> datetime:
    return datetime.fromisoformat(clock["due_at"]).astimezone(CST)


async def test_general_complaint_every_step_in_time(sla: InProcess) -> None:
    case = await Case(sla, received_at=at("2026-03-02 09:00")).create()  # a Monday, by letter
    assert set(await case.clocks()) == {"handover", "closure", "regulatory"}
    await case.transfer(at=at("2026-03-02 10:00"))
    await case.act("register", "registered", at=at("2026-03-02 15:00"))
    await case.act("record-opinion", at=at("2026-03-04 10:00"))
    await case.act("record-contact", at=at("2026-03-05 09:00"))
    await case.act("reply", "replied", at=at("2026-03-09 11:00"))
    await case.act("close", "closed", at=at("2026-03-10 16:00"))
    clocks = await case.clocks()
    assert {name: due(c) for name, c in clocks.items()} == {
        "handover": at("2026-03-03 17:30"),
        "initial-investigation": at("2026-03-03 10:00"),
        "initial-opinion": at("2026-03-05 17:30"),
        "consolidation": at("2026-03-05 17:30"),
        "closure": at("2026-03-16 17:30"),
        "regulatory": at("2026-03-18 00:00"),
    }
    assert {c["state"] for c in clocks.values()} == {"met"}
    assert "callback" not in clocks  # only for hotline work orders
    rates = {
        r["group"]: r["timeliness_rate"]
        for r in (await sla.client.get("/v1/timeliness", params={"group_by": "clock"})).json()
    }
    assert set(rates.values()) == {1.0}


async def test_stopping_late_is_a_breach(sla: InProcess) -> None:
    case = await Case(sla, received_at=at("2026-03-02 09:00")).create()
    await case.transfer(at=at("2026-03-04 09:00"))  # hand-over took two working days
    clocks = await case.clocks()
    assert clocks["handover"]["state"] == "breached" and clocks["handover"]["stopped_at"] is not None
    rows = (await sla.client.get("/v1/timeliness", params={"group_by": "clock"})).json()
    assert {r["group"]: (r["met"], r["breached"]) for r in rows}["handover"] == (0, 1)
    # Summed by the database: the rate of the finished clocks, their average hours.
    handover = next(r for r in rows if r["group"] == "handover")
    assert handover["timeliness_rate"] == 0.0 and handover["average_hours"] == 48.0 and handover["running"] == 0
    by_month = (await sla.client.get("/v1/timeliness", params={"group_by": "month"})).json()
    assert [r["group"] for r in by_month] == ["2026-03"]
    assert by_month[0]["clocks"] == sum(r["clocks"] for r in rows)
    assert by_month[0]["breached"] == sum(r["breached"] for r in rows)


async def test_hotline_work_order_callback_in_working_hours(sla: InProcess) -> None:
    case = await Case(sla, channel="hotline", received_at=at("2026-03-06 16:30")).create()  # Friday
    await case.transfer(kind="work_order", to_unit="GD-SZ.cs", to_assignee="u-sz-cs-1", at=at("2026-03-06 16:45"))
    callback = (await case.clocks())["callback"]
    assert due(callback) == at("2026-03-09 09:45")  # 45 min on Friday, 75 min on Monday
    await case.act("record-contact", at=at("2026-03-09 10:00"))
    assert (await case.clocks())["callback"]["state"] == "breached"


async def test_inquiry_reply_gets_two_days_once_transferred(sla: InProcess) -> None:
    case = await Case(sla, kind="inquiry", category="policy_service", received_at=at("2026-03-02 09:00")).create()
    assert due((await case.clocks())["reply"]) == at("2026-03-03 17:30")
    await case.transfer(kind="work_order", to_unit="GD-SZ.cs", at=at("2026-03-02 09:05"))
    assert due((await case.clocks())["reply"]) == at("2026-03-03 17:30")  # a work order keeps the limit
    await case.transfer(
        kind="transfer", to_unit="GD-SZ.policy-service", to_assignee="u-sz-ps-1", at=at("2026-03-02 11:00")
    )
    reply = (await case.clocks())["reply"]
    assert (
        due(reply) == at("2026-03-04 17:30") and reply["changes"][-1]["change"] == "transferred to another department"
    )
    await case.act("answer-on-the-spot", "closed", at=at("2026-03-04 10:00"))
    assert (await case.clocks())["reply"]["state"] == "met"


async def test_agent_complaint_registered_the_same_working_day(sla: InProcess) -> None:
    case = await Case(sla, channel="visit", agent_code="AG-7", received_at=at("2026-03-07 10:00")).create()  # Saturday
    clocks = await case.clocks()
    assert set(clocks) == {"register", "verify", "closure", "regulatory"}
    assert due(clocks["register"]) == at("2026-03-09 17:30") and due(clocks["verify"]) == at("2026-03-09 17:30")
    letter = await Case(
        sla, channel="letter", category="sales_agent_conduct", received_at=at("2026-03-04 10:00")
    ).create()
    assert "verify" not in await letter.clocks()  # written complaints open a case at once
    assert due((await letter.clocks())["register"]) == at("2026-03-04 17:30")


async def test_reclassified_major_tightens_running_clocks_and_keeps_history(sla: InProcess) -> None:
    case = await Case(sla, channel="hotline", received_at=at("2026-03-02 09:00")).create()
    await case.transfer(kind="work_order", to_unit="GD-SZ.cs", to_assignee="u-sz-cs-1", at=at("2026-03-02 09:10"))
    assert due((await case.clocks())["closure"]) == at("2026-03-16 17:30")
    await case.act("reclassify", "accepted", at=at("2026-03-02 11:00"), tier="major")
    clocks = await case.clocks()
    assert due(clocks["closure"]) == at("2026-03-09 17:30")  # 5 working days for a major complaint
    assert "re-planned under policy major-complaint" in clocks["closure"]["changes"][-1]["change"]
    assert clocks["callback"]["state"] == "cancelled"  # not a clock of the major policy
    assert clocks["closure"]["policy"] == "major-complaint"
    found = (await sla.client.get(f"/v1/cases/{case.id}/sla")).json()
    assert found["policy"] == "major-complaint"
    # What is left, in the limit's own unit: a working day is the calendar's 7.5 hours.
    closure = clocks["closure"]
    assert closure["target"]["unit"] == "working_days" and closure["left_seconds"] < 0  # March: long late
    assert closure["left_in_unit"] == round(closure["left_seconds"] / (7.5 * 3600), 1)
    assert closure["used_in_unit"] == round(closure["used_seconds"] / (7.5 * 3600), 1)
    assert closure["timezone"] == "Asia/Shanghai"


async def test_reopen_restarts_what_the_policy_says(sla: InProcess) -> None:
    case = await Case(sla, received_at=at("2026-03-02 09:00")).create()
    await case.transfer(at=at("2026-03-02 10:00"))
    await case.act("close", "closed", at=at("2026-03-05 10:00"))
    await case.act("reopen", at=at("2026-03-09 10:00"))
    clocks = await case.clocks()
    assert clocks["closure"]["state"] == "running" and due(clocks["closure"]) == at("2026-03-23 17:30")
    assert clocks["closure"]["changes"][-1]["change"] == "restarted"
    assert clocks["handover"]["state"] == "met"  # not restarted


async def test_pause_for_appraisal_and_extensions(sla: InProcess) -> None:
    case = await Case(sla, received_at=at("2026-03-02 09:00")).create()
    url = f"/v1/cases/{case.id}/clocks/regulatory"
    before = due((await case.clocks())["regulatory"])
    paused = await sla.client.post(
        f"{url}/pause", json={"by": "u-head-1", "reason": "送外部鉴定", "complainant_informed": True}
    )
    assert paused.status_code == 200, paused.text
    assert {c["clock"]: c["state"] for c in paused.json()["clocks"]}["regulatory"] == "paused"
    async with sla.runtime.db.session() as session:  # ten days of appraisal pass
        clock_id = await session.scalar(
            select(t.clocks.c.id).where(t.clocks.c.case_id == case.id, t.clocks.c.clock == "regulatory")
        )
        plan = (await session.execute(select(t.clock_plans).where(t.clock_plans.c.clock_id == clock_id))).one()
        await session.execute(
            t.clock_plans.update()
            .where(t.clock_plans.c.clock_id == clock_id)
            .values(paused_at=plan.paused_at - timedelta(days=10))
        )
        pending = await session.scalar(
            select(t.timers.c.id).where(t.timers.c.clock_id == clock_id, t.timers.c.fired_at.is_(None))
        )
        await session.commit()
    assert pending is None  # a paused clock has no timers
    resumed = (await sla.client.post(f"{url}/resume", json={"by": "u-head-1"})).json()
    regulatory = {c["clock"]: c for c in resumed["clocks"]}["regulatory"]
    assert due(regulatory) - before >= timedelta(days=10) and regulatory["pauses"][0]["reason"] == "送外部鉴定"
    assert (await sla.client.post(f"{url}/resume", json={"by": "x"})).status_code == 409

    first = (
        await sla.client.post(
            f"{url}/extend", json={"approved_by": "u-gm", "reason": "案情复杂", "complainant_informed": False}
        )
    ).json()
    assert {c["clock"]: c for c in first["clocks"]}["regulatory"]["target"] == {"unit": "calendar_days", "amount": 30.0}
    refused = await sla.client.post(
        f"{url}/extend", json={"approved_by": "u-ho", "reason": "特别复杂", "complainant_informed": False}
    )
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "complainant_informed"
    second = (
        await sla.client.post(
            f"{url}/extend", json={"approved_by": "u-ho", "reason": "特别复杂", "complainant_informed": True}
        )
    ).json()
    extended = {c["clock"]: c for c in second["clocks"]}["regulatory"]
    assert extended["target"]["amount"] == 60.0 and [e["approved_by"] for e in extended["extensions"]] == [
        "u-gm",
        "u-ho",
    ]
    assert (
        await sla.client.post(f"{url}/extend", json={"approved_by": "u", "reason": "x", "complainant_informed": True})
    ).status_code == 409
    assert (
        await sla.client.post(
            f"/v1/cases/{case.id}/clocks/closure/extend",
            json={"approved_by": "u", "reason": "x", "complainant_informed": True},
        )
    ).status_code == 409


async def test_calendar_correction_and_ical_import_replan_running_clocks(sla: InProcess) -> None:
    case = await Case(sla, received_at=at("2026-12-28 10:00")).create()
    closure = (await case.clocks())["closure"]
    assert "provisional for 2027" in closure["explanation"] and closure["provisional_years"] == [2027]
    ical = "\r\n".join(
        [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//ops//cn//",
            "BEGIN:VEVENT",
            "UID:1",
            "DTSTART;VALUE=DATE:20270101",
            "DTEND;VALUE=DATE:20270104",
            "SUMMARY:元旦",
            "END:VEVENT",
            "BEGIN:VEVENT",
            "UID:2",
            "DTSTART;VALUE=DATE:20270109",
            "SUMMARY:元旦调休上班",
            "END:VEVENT",
            "END:VCALENDAR",
            "",
        ]
    )
    imported = await sla.client.post(
        "/v1/calendars/CN/ical", content=ical.encode(), headers={"content-type": "text/calendar"}
    )
    assert imported.status_code == 200 and imported.json()["replanned_clocks"] >= 1, imported.text
    replanned = (await case.clocks())["closure"]
    assert (
        replanned["changes"][-1]["change"] == "calendar CN corrected"
        and "weekends only" not in replanned["explanation"]
    )
    # 10 working days from Mon 28 Dec 2026: 29, 30, 31 Dec, (1-3 Jan off), 4-8 Jan, Sat 9 Jan (make-up), 11 Jan.
    assert due(replanned) == at("2027-01-11 17:30")
    calendars = (await sla.client.get("/v1/calendars")).json()
    # Two holidays are not a year's notice: the dates changed, 2027 stays provisional.
    assert 2027 in calendars[0]["known_years"] and 2027 in calendars[0]["provisional_years"]
    asked = (
        await sla.client.get(
            "/v1/calendars/CN/due", params={"start": "2027-01-08T16:00:00+08:00", "unit": "working_days", "amount": 1}
        )
    ).json()
    assert asked["due_at"] == "2027-01-09T17:30:00+08:00" and "make-up working days count" in asked["rule"]
    bad = await sla.client.post(
        "/v1/calendars/CN/ical", content=b"not a calendar", headers={"content-type": "text/calendar"}
    )
    assert bad.status_code == 422


async def test_overdue_and_due_soon_views(sla: InProcess) -> None:
    from .conftest import fire

    old = await Case(
        sla, branch_code="GD-SZ-NS", received_at=Case(sla).created.received_at - timedelta(days=30)
    ).create()
    await old.transfer(to_unit="GD-SZ-NS.cs", to_assignee="u-ns-cs-1")
    await fire(sla)
    overdue = (await sla.client.get("/v1/overdue", params={"branch_code": "GD"})).json()
    assert {o["clock"] for o in overdue if o["case_id"] == str(old.id)} == {"closure", "regulatory"}
    assert (await sla.client.get("/v1/overdue", params={"branch_code": "BJ"})).json() == []
    team = (await sla.client.get("/v1/overdue", params={"team": "GD-SZ-NS.cs", "level": "escalation-2"})).json()
    assert [(o["clock"], o["assignee"]) for o in team] == [("closure", "u-ns-cs-1")]
    fresh = await Case(sla, kind="inquiry", tier="general", category=None).create()
    soon = (await sla.client.get("/v1/due-soon", params={"within_hours": 24 * 5})).json()
    assert str(fresh.id) in {s["case_id"] for s in soon}


async def test_policies_are_data(sla: InProcess) -> None:
    listed = (await sla.client.get("/v1/policies")).json()
    assert [p["id"] for p in listed] == [
        "major-agent-complaint",
        "agent-complaint",
        "major-complaint",
        "general-complaint",
        "inquiry-grievance",
    ]
    tighter = {
        **{k: v for k, v in listed[-1].items() if k != "id"},
        "clocks": [{**listed[-1]["clocks"][0], "target": {"unit": "working_hours", "amount": 4}}],
    }
    assert (await sla.client.put("/v1/policies/inquiry-grievance", json=tighter)).status_code == 200
    case = await Case(sla, kind="inquiry", tier="general", category=None, received_at=at("2026-03-02 09:00")).create()
    assert due((await case.clocks())["reply"]) == at("2026-03-02 14:30")  # 3 h before lunch, 1 h after
    bad = await sla.client.put(
        "/v1/policies/x", json={**tighter, "clocks": [{**tighter["clocks"][0], "start": ["when-ready"]}]}
    )
    assert bad.status_code == 422
    assert (await sla.client.delete("/v1/policies/inquiry-grievance")).status_code == 409


async def test_appraisal_recorded_in_intake_pauses_the_regulatory_clock(sla: InProcess) -> None:
    case = await Case(sla, received_at=at("2026-03-02 09:00")).create()
    before = due((await case.clocks())["regulatory"])
    # Without the complainant told, an appraisal is no pause (the API's rule, on the event path too).
    await case.act("start-appraisal", at=at("2026-03-03 09:00"))
    assert (await case.clocks())["regulatory"]["state"] == "running"
    await case.act("start-appraisal", at=at("2026-03-03 10:00"), details={"complainant_informed": True})
    paused = (await case.clocks())["regulatory"]
    assert paused["state"] == "paused" and paused["pauses"][0]["reason"] == "start-appraisal"
    assert (await case.clocks())["closure"]["state"] == "running"  # only the regulatory clock pauses
    await case.act("end-appraisal", at=at("2026-03-13 10:00"))
    resumed = (await case.clocks())["regulatory"]
    assert resumed["state"] == "running" and due(resumed) == before + timedelta(days=10)


async def test_regional_calendar_crud(sla: InProcess) -> None:
    body = {
        "timezone": "Asia/Shanghai",
        "business_hours": [["09:00", "12:00"], ["14:00", "18:00"]],
        "branch_prefixes": ["BJ"],
        "description": "北京分公司 hours",
    }
    assert (await sla.client.put("/v1/calendars/CN-BJ", json=body)).status_code == 200
    schedule = {"off": {"2026-10-01": "国庆节"}, "work": {}, "source": "test"}
    assert (await sla.client.put("/v1/calendars/CN-BJ/years/2026", json=schedule)).status_code == 200
    case = await Case(sla, branch_code="BJ", received_at=at("2026-03-02 09:00")).create()
    assert due((await case.clocks())["closure"]) == at("2026-03-16 18:00")  # Beijing's close of business
    assert (await case.clocks())["closure"]["calendar"] == "CN-BJ"
    assert (await sla.client.delete("/v1/calendars/CN-BJ")).status_code == 409  # clocks use it
    assert (await sla.client.delete("/v1/calendars/CN")).status_code == 409  # the default
    bad = await sla.client.put("/v1/calendars/X", json={**body, "timezone": "Mars/Olympus"})
    assert bad.status_code == 422


def _ical(events: list[tuple[str, str | None, str]]) -> bytes:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//ops//cn//"]
    for i, (start, end, summary) in enumerate(events):
        lines += ["BEGIN:VEVENT", f"UID:{i}", f"DTSTART;VALUE=DATE:{start}"]
        lines += [f"DTEND;VALUE=DATE:{end}"] if end else []
        lines += [f"SUMMARY:{summary}", "END:VEVENT"]
    return "\r\n".join([*lines, "END:VCALENDAR", ""]).encode()


async def test_ical_import_replaces_only_the_dates_in_the_file(sla: InProcess) -> None:
    """A 2023 feed whose 元旦 runs 2022-12-31 to 2023-01-02 changes 31 Dec 2022 and nothing
    else of 2022 (issue 13, item 10); 2023 is replaced whole and becomes official."""
    before = (
        await sla.client.get("/v1/working-days", params={"branch_code": "GD-SZ", "start": "2022-10-01", "days": 10})
    ).json()["working_days"]
    feed = _ical(
        [
            ("20221231", "20230103", "元旦"),
            ("20230121", "20230128", "春节"),
            ("20230128", None, "春节调休上班"),
            ("20230405", None, "清明节"),
            ("20230429", "20230504", "劳动节"),
        ]
    )
    imported = await sla.client.post("/v1/calendars/CN/ical", content=feed, headers={"content-type": "text/calendar"})
    assert imported.status_code == 200 and imported.json()["years"] == 1, imported.text
    after = (
        await sla.client.get("/v1/working-days", params={"branch_code": "GD-SZ", "start": "2022-10-01", "days": 10})
    ).json()["working_days"]
    assert after == before == ["2022-10-08", "2022-10-09", "2022-10-10"]  # National Day 2022 kept
    calendar = (await sla.client.get("/v1/calendars")).json()[0]
    assert 2022 in calendar["known_years"] and 2023 in calendar["known_years"]
    asked = (
        await sla.client.get(
            "/v1/calendars/CN/due", params={"start": "2023-01-27T10:00:00+08:00", "unit": "working_days", "amount": 1}
        )
    ).json()
    assert asked["due_at"] == "2023-01-28T17:30:00+08:00"  # the feed's make-up Saturday


async def test_a_case_whose_policy_was_deleted_follows_the_one_matching_it_now(sla: InProcess) -> None:
    """Not silently the last policy in the list: the policy the case would get today."""
    listed = {p["id"]: p for p in (await sla.client.get("/v1/policies")).json()}
    general = listed["general-complaint"]
    only_handover = [c for c in general["clocks"] if c["name"] == "handover"]
    special = {
        "priority": 1,
        "description": "letters about claims, handover only",
        "match": {**general["match"], "category": "claims", "channels": ["letter"]},
        "clocks": only_handover,
    }
    assert (await sla.client.put("/v1/policies/claims-letters", json=special)).status_code == 200
    case = await Case(sla, received_at=at("2026-03-02 09:00")).create()
    assert set(await case.clocks()) == {"handover"}
    assert (await sla.client.delete("/v1/policies/claims-letters")).status_code == 204
    await case.transfer(at=at("2026-03-02 10:00"))  # "assigned": general-complaint starts its first clocks
    found = await case.clocks()
    assert found["handover"]["state"] == "met"
    assert {"initial-investigation", "initial-opinion"} <= set(found)


async def test_a_clock_value_saves_what_changed_and_loads_back_the_same(sla: InProcess) -> None:
    """``Clock`` converts once on load and save: a saved change reads back equal, with
    the stored moments kept to the microsecond, and an unchanged clock writes nothing."""
    received = at("2026-03-02 09:00").replace(microsecond=123456)
    case = await Case(sla, received_at=received).create()
    async with sla.runtime.db.session() as session:
        (clock, *_) = await clocks_of(session, case.id)
        assert clock.started_at == received and clock.start == int(received.timestamp())
        assert await save(session, clock) is clock  # nothing changed: nothing written
        later = clock.due_at + timedelta(days=3)
        changed = replace(clock, due_at=later, last_level="breach").noted({"change": "test"})
        assert changed.due == int(later.timestamp())  # derived again from the new moment
        saved = await save(session, changed)
        await session.commit()
    async with sla.runtime.db.session() as session:
        reloaded = next(c for c in await clocks_of(session, case.id) if c.id == clock.id)
    assert reloaded == saved
    assert reloaded.due_at == later and reloaded.last_level == "breach"
    assert reloaded.changes[-1] == {"change": "test"}
    assert reloaded.started_at == received
