"""Loading a year's notice re-plans every clock it touches, breached and warned ones
included, and withdraws every alert that is no longer true (issue 13, items 1 and 9).

The provisional 2027 has the statutory Spring Festival (除夕 Friday 5 February to
初三, with substitute days on 9 and 10 February). A notice as the State Council
would publish it adds bridging days off on 11-12 February and a make-up working
Saturday on 20 February.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sla.calendars import statutory_holidays
from sla.state import state_of
from tests.support.inprocess import InProcess

from .conftest import Case, fire

CST = ZoneInfo("Asia/Shanghai")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=CST)


def notice_2027() -> dict[str, object]:
    off = {d.isoformat(): n for d, n in statutory_holidays(2027).items()}
    off.update({"2027-02-11": "春节 (bridging)", "2027-02-12": "春节 (bridging)"})
    return {"off": off, "work": {"2027-02-20": "春节 make-up"}, "source": "国务院办公厅 2027 年部分节假日安排的通知"}


async def test_the_notice_replans_breached_clocks_and_withdraws_their_alerts(sla: InProcess) -> None:
    open_case = await Case(sla, received_at=at("2027-02-01 10:00")).create()
    await open_case.transfer(at=at("2027-02-01 11:00"))
    closed_case = await Case(sla, received_at=at("2027-02-01 10:00")).create()
    await closed_case.transfer(at=at("2027-02-01 11:00"))
    closure = (await open_case.clocks())["closure"]
    # Provisional: 2, 3, 4 Feb; (5-10 off); 11, 12; 15-19 Feb: day 10 is Friday 19 February.
    assert closure["provisional_years"] == [2027] and "provisional for 2027" in closure["explanation"]
    assert datetime.fromisoformat(closure["due_at"]) == at("2027-02-19 17:30")

    await fire(sla, at=at("2027-02-18 10:00"))  # the 75% warning
    await fire(sla, at=at("2027-02-20 09:00"))  # the breach
    await closed_case.act("close", status="closed", at=at("2027-02-22 10:00"))
    assert (await open_case.clocks())["closure"]["state"] == "breached"
    assert (await closed_case.clocks())["closure"]["state"] == "breached"
    sent = [e["payload"] for e in await sla.emitted("case.overdue") if e["case_id"] == str(open_case.id)]
    assert [(e["clock"], e["level"]) for e in sent if e["clock"] == "closure"] == [
        ("closure", "warning"),
        ("closure", "breach"),
    ]

    loaded = await sla.client.put("/v1/calendars/CN/years/2027", json=notice_2027())
    assert loaded.status_code == 200 and loaded.json()["replanned_clocks"] >= 2, loaded.text

    # 2, 3, 4 Feb; (5-12 off); 15-19; Saturday 20 (make-up); Monday 22 February is day 10.
    after = (await open_case.clocks())["closure"]
    assert datetime.fromisoformat(after["due_at"]) == at("2027-02-22 17:30")
    assert after["state"] == "running" and after["breached_at"] is None
    assert after["provisional_years"] == [] and "provisional" not in after["explanation"]
    assert after["changes"][-1]["change"] == "calendar CN corrected"
    # Closed at 10:00 on the 22nd: within the limit after all.
    assert (await closed_case.clocks())["closure"]["state"] == "met"

    withdrawn = [
        e["payload"]
        for e in await sla.emitted("case.overdue")
        if e["payload"]["level"] == "withdrawn" and e["payload"]["clock"] == "closure"
    ]
    by_case = {e["case_id"]: e["payload"] for e in await sla.emitted("case.overdue") if e["payload"] in withdrawn}
    assert set(by_case) == {str(open_case.id), str(closed_case.id)}
    mine = by_case[str(open_case.id)]
    assert "breach" in mine["withdrawn"] and "calendar CN corrected" in mine["reason"]
    assert datetime.fromisoformat(mine["due_at"]) == at("2027-02-22 17:30")

    # The breach is planned again at its new moment, and fires once, then: not before.
    def closure_breaches(events: list[dict]) -> int:
        return sum(
            1
            for e in events
            if e["case_id"] == str(open_case.id)
            and e["payload"]["clock"] == "closure"
            and e["payload"]["level"] == "breach"
        )

    before_due = closure_breaches(await sla.emitted("case.overdue"))
    await fire(sla, at=at("2027-02-22 17:00"))
    assert closure_breaches(await sla.emitted("case.overdue")) == before_due
    assert (await open_case.clocks())["closure"]["state"] == "running"
    await fire(sla, at=at("2027-02-22 17:31"))
    assert (await open_case.clocks())["closure"]["state"] == "breached"
    breaches = [
        e
        for e in await sla.emitted("case.overdue")
        if e["case_id"] == str(open_case.id)
        and e["payload"]["clock"] == "closure"
        and e["payload"]["level"] == "breach"
    ]
    assert len(breaches) == 2  # the withdrawn one, and the true one
    assert breaches[-1]["payload"]["due_at"].startswith("2027-02-22")


async def test_loading_the_notice_clears_provisional_and_is_idempotent(sla: InProcess) -> None:
    calendar = (await sla.client.get("/v1/calendars")).json()[0]
    assert 2027 in calendar["provisional_years"]
    assert (await sla.client.put("/v1/calendars/CN/years/2027", json=notice_2027())).status_code == 200
    again = await sla.client.put("/v1/calendars/CN/years/2027", json=notice_2027())
    assert again.json()["replanned_clocks"] == 0
    calendar = (await sla.client.get("/v1/calendars")).json()[0]
    assert 2027 not in calendar["provisional_years"] and 2027 in calendar["known_years"]
    asked = (
        await sla.client.get(
            "/v1/calendars/CN/due", params={"start": "2027-02-19T18:00:00+08:00", "unit": "working_days", "amount": 1}
        )
    ).json()
    assert asked["due_at"] == "2027-02-20T17:30:00+08:00" and asked["provisional"] == ""


async def test_ops_are_warned_from_november_that_next_years_notice_is_missing(sla: InProcess) -> None:
    from sla.calendars import notice_alerts

    calendars = state_of(sla.runtime).context.calendars
    assert notice_alerts(calendars, at("2026-10-31 23:00")) == []  # 2026 is official; too early for 2027
    [alert] = notice_alerts(calendars, at("2026-11-01 08:00"))
    assert (alert.alert, alert.key, alert.details["year"]) == ("ops.calendar_notice", "calendar/CN/2027", 2027)
    ready = (await sla.client.get("/readyz")).json()
    assert ready["ops_alerts"] == [a.model_dump() for a in notice_alerts(calendars, datetime.now(CST))]
    assert (await sla.client.put("/v1/calendars/CN/years/2027", json=notice_2027())).status_code == 200
    calendars = state_of(sla.runtime).context.calendars
    assert notice_alerts(calendars, at("2026-11-01 08:00")) == []  # loaded: nothing to say
    assert [a.details["year"] for a in notice_alerts(calendars, at("2027-11-02 08:00"))] == [2028]
