"""Every clock at its edges: dated scenarios across 2025, 2026 and 2027, worked out by
hand (issue 13). Each row names the rule it checks; the arithmetic is in its comment.

Calendar facts used (State Council notices for 2025 and 2026; 2027 provisional, on
the statutory holidays of 《全国年节及纪念日放假办法》 (2024) with the substitute days
of its art. 6, until the notice below is loaded):
- 2025: 元旦 1 Jan; 春节 28 Jan-4 Feb off, make-up Sun 26 Jan and Sat 8 Feb; 清明 4-6
  Apr; 劳动节 1-5 May, make-up Sun 27 Apr; 国庆/中秋 1-8 Oct, make-up Sun 28 Sep, Sat 11 Oct.
- 2026: 元旦 1-3 Jan, make-up Sun 4 Jan; 春节 15-23 Feb, make-up Sat 14 and Sat 28 Feb;
  清明 4-6 Apr; 劳动节 1-5 May, make-up Sat 9 May; 国庆 1-7 Oct, make-up Sun 20 Sep, Sat 10 Oct.
- 2027 provisional: 元旦 Fri 1 Jan; 春节 Fri 5-Mon 8 Feb plus Tue 9, Wed 10 (for the
  weekend); 清明 Mon 5 Apr; 劳动节 Sat 1-Sun 2 May plus Mon 3, Tue 4; 国庆 Fri 1-Sun 3 Oct
  plus Mon 4, Tue 5. The notice loaded here adds bridging days off Thu 11 and Fri 12
  Feb and a make-up working Saturday 20 Feb.
Business hours 08:30-12:00 and 13:30-17:30 (7.5 h a working day), Asia/Shanghai.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from sla import tables as t
from sla.firing import fire_due_timers
from sla.state import state_of
from tests.support.inprocess import InProcess

from .conftest import Case
from .test_sla_corrections import notice_2027

CST = ZoneInfo("Asia/Shanghai")
STATUS = {"close": "closed", "reply": "replied", "register": "registered", "reopen": "in_progress"}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=CST)


@dataclass(frozen=True)
class Row:
    label: str
    rule: str
    case: dict[str, Any]
    received: str
    steps: list[tuple[Any, ...]]
    clock: str
    due: str | None  # local time; None: the clock must not exist
    state: str | None = None
    after_notice: str | None = None  # 2027 rows: the due time once the notice is loaded
    timers: dict[str, str | None] = field(default_factory=dict)  # key -> expected moment (None: not planned)


INQUIRY = {"kind": "inquiry", "tier": "general", "category": None, "channel": "hotline"}
COMPLAINT = {"kind": "complaint", "tier": "general", "category": "claims", "channel": "letter"}
HOTLINE_COMPLAINT = {**COMPLAINT, "channel": "hotline"}
AGENT = {**COMPLAINT, "channel": "hotline", "agent_code": "AG-1001", "category": "sales_agent_conduct"}
MAJOR = {**COMPLAINT, "tier": "major"}
MAJOR_AGENT = {**AGENT, "tier": "major"}
WD = "DOMAIN.md 4, within N working days: the day of X not counted, ends at close of day N"
CD = "DOMAIN.md 4 / Civil Code arts. 201, 203: day of X not counted, 24:00 of day N, a day off moves it"
WH = "DOMAIN.md 4, within N working hours: business hours only, from the next opening"
SAME = "[001] registered the same day; decision 0004: after hours or on a day off, the next working day"
REG = "《银行业保险业消费投诉处理管理办法》 art. 18: 15 days, extendable to 30, then by 30 more"

ROWS = [
    # --- working days (inquiry reply, [000 10, 13]: 1 working day) -------------------------------
    Row("Wednesday morning", WD, INQUIRY, "2025-03-05 10:00", [], "reply", "2025-03-06 17:30"),
    Row("Friday afternoon: Monday", WD, INQUIRY, "2025-03-07 16:00", [], "reply", "2025-03-10 17:30"),
    Row("on a Saturday: day 1 is Monday", WD, INQUIRY, "2025-03-08 10:00", [], "reply", "2025-03-10 17:30"),
    Row(
        "Friday before the make-up Sunday 26 Jan 2025", WD, INQUIRY, "2025-01-24 11:00", [], "reply", "2025-01-26 17:30"
    ),
    # Monday 27 Jan is a working day; 28 Jan-4 Feb off; day 1 is Wednesday 5 Feb.
    Row("across Spring Festival 2025", WD, INQUIRY, "2025-01-27 09:00", [], "reply", "2025-02-05 17:30"),
    # 17:45 is after close; 1-5 May off; day 1 is Tuesday 6 May.
    Row("after close before Labour Day 2025", WD, INQUIRY, "2025-04-30 17:45", [], "reply", "2025-05-06 17:30"),
    # Transferred to another department: 2 working days from receipt, Tue 3 Jun: 4, 5 Jun.
    Row(
        "another department: 2 working days",
        "[000 10, 13] 2 working days at most",
        INQUIRY,
        "2025-06-03 10:00",
        [("transfer", "2025-06-03 14:00")],
        "reply",
        "2025-06-05 17:30",
    ),
    # --- closure, 10 working days ([000 13(三)]) ----------------------------------------------------
    # Fri 26 Sep 2025: 28 Sep (make-up) 1, 29 2, 30 3, (1-8 Oct off), 9 4, 10 5, 11 Oct (make-up) 6,
    # 13 7, 14 8, 15 9, 16 10.
    Row(
        "closure across National Day 2025 and two make-up days",
        WD,
        COMPLAINT,
        "2025-09-26 15:00",
        [],
        "closure",
        "2025-10-16 17:30",
    ),
    # Mon 2 Mar 2026: 3, 4, 5, 6, 9, 10, 11, 12, 13, 16 Mar. Planned now, long after: no warning
    # is planned for a moment already past; the breach and escalations are (they fire late).
    Row(
        "closure, ten plain days",
        WD,
        COMPLAINT,
        "2026-03-02 10:00",
        [],
        "closure",
        "2026-03-16 17:30",
        timers={
            "warning-1": None,
            "warning-2": None,
            "breach": "2026-03-16 17:30",
            "escalation-1": "2026-03-17 17:30",
            "escalation-2": "2026-03-19 17:30",
        },
    ),
    # Mon 1 Mar 2027: 2, 3, 4, 5, 8, 9, 10, 11, 12, 15 Mar (no holiday in March, notice or not).
    Row(
        "closure and its warnings and escalations, ahead",
        WD + "; policies.yaml defaults",
        COMPLAINT,
        "2027-03-01 10:00",
        [],
        "closure",
        "2027-03-15 17:30",
        after_notice="2027-03-15 17:30",
        timers={
            # 81 business hours from Mon 10:00 to the due time; 75% = 60.75 h: 6 h on Monday,
            # 7 full days (2-10 Mar) = 52.5 h, then 2.25 h on Thursday 11 Mar from 08:30.
            "warning-1": "2027-03-11 10:45",
            "warning-2": "2027-03-15 15:30",  # 2 working hours before due
            "breach": "2027-03-15 17:30",
            "escalation-1": "2027-03-16 17:30",  # 1 working day after due
            "escalation-2": "2027-03-18 17:30",  # 3 working days after due
        },
    ),
    # --- calendar days (the regulatory clock) ------------------------------------------------------
    # Fri 26 Sep 2025 + 15 = Sat 11 Oct, a make-up working day: it ends there, 24:00.
    Row(
        "15 days ending on a make-up Saturday", CD, COMPLAINT, "2025-09-26 15:00", [], "regulatory", "2025-10-12 00:00"
    ),
    # Sat 20 Sep 2025 + 15 = Sun 5 Oct, in the holiday: the next working day is Thu 9 Oct.
    Row("15 days ending in National Day 2025", CD, COMPLAINT, "2025-09-20 10:00", [], "regulatory", "2025-10-10 00:00"),
    # Mon 2 Mar 2026 + 15 = Tue 17 Mar.
    Row(
        "15 days, plain",
        CD,
        COMPLAINT,
        "2026-03-02 09:00",
        [],
        "regulatory",
        "2026-03-18 00:00",
        timers={"escalation-1": "2026-03-18 17:30"},
    ),  # counted from the end of 17 Mar, not from 18 Mar
    # --- the first steps of a general complaint ----------------------------------------------------
    # 17:45 on 31 Dec 2025; 1-3 Jan 2026 off; Sunday 4 Jan is a make-up working day.
    Row(
        "handover across New Year 2026",
        "[000 13(三)] step 2: 1 working day; " + WD,
        COMPLAINT,
        "2025-12-31 17:45",
        [],
        "handover",
        "2026-01-04 17:30",
    ),
    Row(
        "initial investigation: 24 clock hours",
        "[003 4.3] within 24 hours",
        COMPLAINT,
        "2026-03-02 09:00",
        [("assign", "2026-03-02 10:00")],
        "initial-investigation",
        "2026-03-03 10:00",
    ),
    # Assigned Fri 6 Mar 16:00: 9, 10, 11 Mar.
    Row(
        "initial opinion: 3 working days from assignment",
        "[000 13(三)] step 3; " + WD,
        COMPLAINT,
        "2026-03-06 09:00",
        [("assign", "2026-03-06 16:00")],
        "initial-opinion",
        "2026-03-11 17:30",
    ),
    # Opinion Fri 3 Apr 2026; 4-6 Apr (Qingming) off; day 1 is Tue 7 Apr.
    Row(
        "consolidation across Qingming 2026",
        "[000 13(三)] step 4; " + WD,
        COMPLAINT,
        "2026-04-01 09:00",
        [("assign", "2026-04-01 10:00"), ("act", "record-opinion", "2026-04-03 10:00")],
        "consolidation",
        "2026-04-07 17:30",
    ),
    # --- working hours (the hotline work-order callback, company practice) --------------------------
    # Wed 4 Mar 11:00: 1 h to 12:00, 1 h from 13:30.
    Row(
        "callback across lunch",
        WH,
        HOTLINE_COMPLAINT,
        "2026-03-04 10:30",
        [("work_order", "2026-03-04 11:00")],
        "callback",
        "2026-03-04 14:30",
    ),
    # Fri 6 Mar 17:00: 0.5 h, then 1.5 h from Monday's opening.
    Row(
        "callback over a weekend",
        WH,
        HOTLINE_COMPLAINT,
        "2026-03-06 16:50",
        [("work_order", "2026-03-06 17:00")],
        "callback",
        "2026-03-09 10:00",
    ),
    # Thu 30 Apr 16:30: 1 h, then 1-5 May off, 1 h from Wed 6 May 08:30.
    Row(
        "callback over Labour Day 2026",
        WH,
        HOTLINE_COMPLAINT,
        "2026-04-30 16:00",
        [("work_order", "2026-04-30 16:30")],
        "callback",
        "2026-05-06 09:30",
    ),
    Row(
        "callback on the make-up Sunday 4 Jan 2026",
        WH,
        HOTLINE_COMPLAINT,
        "2026-01-04 08:40",
        [("work_order", "2026-01-04 09:00")],
        "callback",
        "2026-01-04 11:00",
    ),
    Row(
        "callback only for hotline cases",
        "policies.yaml: callback channels [hotline]",
        COMPLAINT,
        "2026-03-04 10:30",
        [("work_order", "2026-03-04 11:00")],
        "callback",
        None,
    ),
    # --- the same day (agent complaints, [001]) -------------------------------------------------------
    Row("same day, in business hours", SAME, AGENT, "2026-03-04 15:00", [], "register", "2026-03-04 17:30"),
    Row(
        "same day, after close: the next working day",
        SAME,
        AGENT,
        "2026-03-04 18:30",
        [],
        "register",
        "2026-03-05 17:30",
    ),
    Row("same day, on a Saturday: Monday", SAME, AGENT, "2026-03-07 10:00", [], "register", "2026-03-09 17:30"),
    Row(
        "same day, on the make-up Saturday 28 Feb 2026",
        SAME,
        AGENT,
        "2026-02-28 10:00",
        [],
        "register",
        "2026-02-28 17:30",
    ),
    Row("same day, before opening", SAME, AGENT, "2026-03-04 07:00", [], "register", "2026-03-04 17:30"),
    Row(
        "verify a phone complaint: the make-up Saturday 14 Feb 2026",
        "[001] verified within 1 working day; " + WD,
        AGENT,
        "2026-02-13 16:00",
        [],
        "verify",
        "2026-02-14 17:30",
    ),
    Row(
        "no verification for a letter",
        "[001]: a letter opens a case immediately",
        {**AGENT, "channel": "letter"},
        "2026-03-04 10:00",
        [],
        "verify",
        None,
    ),
    # --- major complaints (company practice, tighter) ----------------------------------------------
    Row(
        "major handover: 2 clock hours, holiday or not",
        "policies.yaml major-complaint (company practice)",
        MAJOR,
        "2026-05-01 10:00",
        [],
        "handover",
        "2026-05-01 12:00",
    ),
    Row(
        "major investigation: 12 clock hours",
        "policies.yaml major-complaint (company practice)",
        MAJOR,
        "2026-05-01 10:00",
        [("assign", "2026-05-01 11:00")],
        "initial-investigation",
        "2026-05-01 23:00",
    ),
    # Wed 30 Sep 2026; 1-7 Oct off; 8 1, 9 2, Sat 10 Oct (make-up) 3, 12 4, 13 5.
    Row(
        "major closure: 5 working days across National Day 2026",
        WD,
        MAJOR,
        "2026-09-30 09:00",
        [],
        "closure",
        "2026-10-13 17:30",
    ),
    # A major agent complaint: the agent's same-day registration and the major 5 days (stricter than 10).
    Row(
        "major agent complaint: registered the same day",
        SAME,
        MAJOR_AGENT,
        "2026-03-02 10:00",
        [],
        "register",
        "2026-03-02 17:30",
    ),
    Row(
        "major agent complaint: the stricter closure (5)",
        "the stricter limit wins; " + WD,
        MAJOR_AGENT,
        "2026-03-02 10:00",
        [],
        "closure",
        "2026-03-09 17:30",
    ),
    # --- extensions, pauses, replies, restarts, closing ---------------------------------------------
    # Mon 2 Mar 2026 + 30 = Wed 1 Apr.
    Row(
        "extended to 30 days", REG, COMPLAINT, "2026-03-02 10:00", [("extend", False)], "regulatory", "2026-04-02 00:00"
    ),
    # + 60 = Fri 1 May, in the holiday (1-5 May): Wed 6 May.
    Row(
        "extended again to 60 days, ending in Labour Day",
        REG,
        COMPLAINT,
        "2026-03-02 10:00",
        [("extend", False), ("extend", True)],
        "regulatory",
        "2026-05-07 00:00",
    ),
    # Appraisal from Thu 5 Mar 14:00 to Fri 6 Mar 04:00 spans one midnight: one day more, day 16 = Wed 18 Mar.
    Row(
        "appraisal over one midnight: one day",
        REG + "; decision 0004: whole days",
        COMPLAINT,
        "2026-03-02 09:00",
        [("pause", "2026-03-05 14:00", "2026-03-06 04:00")],
        "regulatory",
        "2026-03-19 00:00",
    ),
    Row(
        "the same pause, the clock started at 11:00: the same day",
        REG + "; decision 0004",
        COMPLAINT,
        "2026-03-02 11:00",
        [("pause", "2026-03-05 14:00", "2026-03-06 04:00")],
        "regulatory",
        "2026-03-19 00:00",
    ),
    Row(
        "appraisal within one day: nothing",
        REG + "; decision 0004",
        COMPLAINT,
        "2026-03-02 09:00",
        [("pause", "2026-03-05 09:00", "2026-03-05 23:00")],
        "regulatory",
        "2026-03-18 00:00",
    ),
    Row(
        "the decision told (reply) stops the regulatory clock",
        REG + ": 作出处理决定并告知",
        COMPLAINT,
        "2026-03-02 10:00",
        [("act", "reply", "2026-03-16 10:00"), ("act", "close", "2026-03-25 10:00")],
        "regulatory",
        "2026-03-18 00:00",
        state="met",
    ),
    # Reopened with new material Mon 23 Mar 10:00: 15 days again, from then (day 15 = Tue 7 Apr).
    Row(
        "new material restarts 15 days, extensions unused",
        REG + ": 自收到新的投诉材料之日起",
        COMPLAINT,
        "2026-03-02 10:00",
        [
            ("extend", False),
            ("act", "reply", "2026-03-20 10:00"),
            ("act", "close", "2026-03-21 10:00"),
            ("act", "reopen", "2026-03-23 10:00"),
        ],
        "regulatory",
        "2026-04-08 00:00",
        state="running",
    ),
    # Closure restarts on reopen: 24-27 Mar, 30, 31 Mar, 1-3 Apr, (4-6 Apr off), Tue 7 Apr.
    Row(
        "reopened: closure counts 10 working days again",
        "[000 13(三)]; policies.yaml restart_on reopen",
        COMPLAINT,
        "2026-03-02 10:00",
        [("act", "close", "2026-03-10 10:00"), ("act", "reopen", "2026-03-23 10:00")],
        "closure",
        "2026-04-07 17:30",
        state="running",
    ),
    Row(
        "closing stops a clock still within its limit: met",
        "decision 0004: closing stops every clock",
        COMPLAINT,
        "2026-03-02 10:00",
        [("assign", "2026-03-02 10:30"), ("act", "close", "2026-03-04 10:00")],
        "initial-opinion",
        "2026-03-05 17:30",
        state="met",
    ),
    Row(
        "closing after a clock ran out: breached",
        "decision 0004: closing stops every clock",
        COMPLAINT,
        "2026-03-02 10:00",
        [("assign", "2026-03-02 10:30"), ("act", "close", "2026-03-10 10:00")],
        "initial-opinion",
        "2026-03-05 17:30",
        state="breached",
    ),
    # --- 2027, before and after its notice ------------------------------------------------------------
    # 17:45 Thu 31 Dec 2026; Fri 1 Jan 2027 off: Monday 4 Jan.
    Row(
        "1 working day from New Year's Eve 2026",
        WD,
        INQUIRY,
        "2026-12-31 17:45",
        [],
        "reply",
        "2027-01-04 17:30",
        after_notice="2027-01-04 17:30",
    ),
    # Sun 20 Dec 2026: 21-25 (5), 28-31 (9), (1 Jan off), Mon 4 Jan (10).
    Row(
        "10 working days into 2027",
        WD,
        COMPLAINT,
        "2026-12-20 10:00",
        [],
        "closure",
        "2027-01-04 17:30",
        after_notice="2027-01-04 17:30",
    ),
    # Thu 17 Dec 2026 + 15 = Fri 1 Jan, off; Sat, Sun: Monday 4 Jan, 24:00.
    Row(
        "15 days ending on 元旦 2027",
        CD,
        COMPLAINT,
        "2026-12-17 10:00",
        [],
        "regulatory",
        "2027-01-05 00:00",
        after_notice="2027-01-05 00:00",
    ),
    # Thu 4 Feb 2027: 5-10 Feb off; Thu 11 Feb. With the notice, 11-12 Feb off too: Monday 15 Feb.
    Row(
        "1 working day before Spring Festival 2027",
        WD,
        INQUIRY,
        "2027-02-04 10:00",
        [],
        "reply",
        "2027-02-11 17:30",
        after_notice="2027-02-15 17:30",
    ),
    # Mon 1 Feb: 2, 3, 4 (3); 11, 12 (5); 15-19 (10). Notice: 2, 3, 4; 15-19 (8); Sat 20 (9); Mon 22 (10).
    Row(
        "10 working days over Spring Festival 2027",
        WD,
        COMPLAINT,
        "2027-02-01 10:00",
        [],
        "closure",
        "2027-02-19 17:30",
        after_notice="2027-02-22 17:30",
    ),
    # Mon 20 Sep 2027 + 15 = Tue 5 Oct, a substitute day off: Wed 6 Oct, 24:00.
    Row(
        "15 days ending in National Day 2027",
        CD,
        COMPLAINT,
        "2027-09-20 10:00",
        [],
        "regulatory",
        "2027-10-07 00:00",
        after_notice="2027-10-07 00:00",
    ),
    # Fri 30 Apr 2027: 1-2 May (weekend) and the substitute days 3, 4 May: Wednesday 5 May.
    Row(
        "Labour Day 2027 on a weekend: substitute days",
        WD + "; 放假办法 art. 6",
        INQUIRY,
        "2027-04-30 10:00",
        [],
        "reply",
        "2027-05-05 17:30",
        after_notice="2027-05-05 17:30",
    ),
    # Mon 5 Apr 2027 is Qingming; received Fri 2 Apr 17:45: day 1 is Tue 6 Apr.
    Row(
        "Qingming 2027 on a Monday",
        WD,
        INQUIRY,
        "2027-04-02 17:45",
        [],
        "reply",
        "2027-04-06 17:30",
        after_notice="2027-04-06 17:30",
    ),
]


async def play(sla: InProcess, row: Row) -> Case:
    case = await Case(sla, **row.case, received_at=at(row.received)).create()
    for step in row.steps:
        kind = step[0]
        if kind in ("assign", "transfer", "work_order"):
            assignee = None if kind == "work_order" else "u-sz-cl-1"
            await case.transfer(kind=kind, to_assignee=assignee, at=at(step[1]))
        elif kind == "act":
            await case.act(step[1], status=STATUS.get(step[1], "in_progress"), at=at(step[2]))
        elif kind == "pause":
            informed = {"complainant_informed": True}
            await case.act("start-appraisal", at=at(step[1]), details=informed)
            await case.act("end-appraisal", at=at(step[2]))
        elif kind == "extend":
            body = {"approved_by": "u-gd-head", "reason": "complex", "complainant_informed": step[1]}
            response = await sla.client.post(f"/v1/cases/{case.id}/clocks/{row.clock}/extend", json=body)
            assert response.status_code == 200, (row.label, response.text)
    return case


async def schedule(sla: InProcess, case: Case, clock: str) -> dict[str, datetime]:
    """Every timer the clock will fire, by key: only its next one is stored (decision
    0026), so the chain is fired through in a transaction that is rolled back, at a
    moment far ahead, and the timers it leaves are read (a warning fired past its clock's
    due time is dropped, not said, but its timer is there with its moment)."""
    async with sla.runtime.db.session() as session:
        await fire_due_timers(session, state_of(sla.runtime).context, at("2100-01-01 00:00"), 100_000, timedelta(0))
        timers = (
            await session.execute(
                select(t.timers.c.key, t.timers.c.due_at)
                .join(t.clocks, t.clocks.c.id == t.timers.c.clock_id)
                .where(t.clocks.c.case_id == case.id, t.clocks.c.clock == clock)
            )
        ).all()
        await session.rollback()
    return {k: d.astimezone(CST) for k, d in timers}


async def check(sla: InProcess, row: Row, case: Case, due: str | None) -> list[str]:
    clock = (await case.clocks()).get(row.clock)
    if due is None:
        return [] if clock is None else [f"{row.label}: {row.clock} should not run"]
    if clock is None:
        return [f"{row.label}: no {row.clock} clock"]
    wrong = []
    got = datetime.fromisoformat(clock["due_at"]).astimezone(CST)
    if got != at(due):
        wrong.append(f"{row.label} ({row.rule}): {row.clock} due {got:%Y-%m-%d %H:%M}, expected {due}")
    if row.state and clock["state"] != row.state:
        wrong.append(f"{row.label}: {row.clock} is {clock['state']}, expected {row.state}")
    if row.timers:
        moments = await schedule(sla, case, row.clock)
        for key, expected in row.timers.items():
            if moments.get(key) != (at(expected) if expected else None):
                wrong.append(f"{row.label}: timer {key} at {moments.get(key)}, expected {expected}")
    return wrong


async def test_every_scenario_on_the_calendar_before_and_after_the_2027_notice(sla: InProcess) -> None:
    assert len(ROWS) >= 40
    played = [(row, await play(sla, row)) for row in ROWS]
    wrong = [w for row, case in played for w in await check(sla, row, case, row.due)]
    assert not wrong, "\n".join(wrong)
    loaded = await sla.client.put("/v1/calendars/CN/years/2027", json=notice_2027())
    assert loaded.status_code == 200, loaded.text
    later = [(row, case) for row, case in played if row.after_notice]
    assert len(later) >= 8
    wrong = [w for row, case in later for w in await check(sla, row, case, row.after_notice)]
    assert not wrong, "\n".join(wrong)
    for row, case in later:  # no longer provisional
        assert (await case.clocks())[row.clock]["provisional_years"] == [], row.label
