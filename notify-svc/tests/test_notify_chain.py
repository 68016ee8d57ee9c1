"""The default escalation chain: the right people, resolved from routing-svc's
organisation, told by e-mail (to a real SMTP server), once each."""

from __future__ import annotations

from typing import Any

from notify import fanout
from tests.support.inprocess import InProcess
from tests.support.receiver import SmtpReceiver
from tests.support.wait import until

from .conftest import CaseEvents, deliveries_of


def recipients_by_event(rows: list[Any]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for r in rows:
        if r.channel == "email":
            found.setdefault(r.event_type, set()).add(r.recipient)
    return found


async def test_chain_tells_assignee_owner_lead_head_and_emergency_group(notify: InProcess, smtp: SmtpReceiver) -> None:
    case = CaseEvents(branch_code="GD-SZ", tier="major")
    feeder = notify.feeder()
    for envelope in (
        case.created(major=True),
        case.transferred("GD-SZ.cs", "u-sz-cs-1"),
        case.overdue("warning", assignee="u-sz-cs-1"),
        case.overdue("breach", assignee="u-sz-cs-1"),
        case.overdue("escalation-1", assignee="u-sz-cs-1"),
        case.overdue("escalation-2", assignee="u-sz-cs-1"),
    ):
        assert await feeder.apply(envelope)

    told = recipients_by_event(await deliveries_of(notify, case.id))
    assert told == {
        # major complaint: the nearest emergency group (Guangdong) and head office at once
        "case.major": {"staff:u-gd-em-1", "staff:u-ho-em-1"},
        "sla.warning": {"staff:u-sz-cs-1"},
        "sla.breach": {"staff:u-sz-cs-1", "staff:u-sz-cs-2"},
        "sla.escalation": {"staff:u-sz-cs-lead"},  # level 1: the unit's lead; level 2: GD-SZ's head
    }

    # Breaches of a major complaint never wait for a digest; the warning does (digest mode),
    # so the e-mails that go out now are the urgent ones.
    async def urgent_mail() -> Any:
        return len(smtp.messages) >= 6 and smtp.messages

    messages = await until(urgent_mail, what="six e-mails")
    by_to = {(m["To"], m["Subject"].split("】")[0] + "】") for m in messages}
    assert ("u-sz-cs-2@insurer.example", "【已超时】") in by_to
    assert ("u-gd-em-1@insurer.example", "【重大投诉】") in by_to
    breach = next(m for m in messages if m["To"] == "u-sz-cs-2@insurer.example")
    assert case.case_no in breach["Subject"] and "郑浩" in breach.get_content()
    assert all("sla.warning" not in m["Subject"] and "即将超时" not in m["Subject"] for m in messages)


async def test_escalation_level_2_goes_to_the_branch_head_up_the_tree(notify: InProcess) -> None:
    case = CaseEvents(branch_code="GD-GZ")  # Guangzhou names no head: Guangdong's head is told
    feeder = notify.feeder()
    await feeder.apply(case.transferred("GD-GZ.claims", "u-gz-cl-1", owner="u-gz-cs-1"))
    await feeder.apply(case.overdue("escalation-1", owner="u-gz-cs-1", assignee="u-gz-cl-1"))
    await feeder.apply(case.overdue("escalation-2", owner="u-gz-cs-1", assignee="u-gz-cl-1"))
    rows = [r for r in await deliveries_of(notify, case.id) if r.event_type == "sla.escalation"]
    # GD-GZ.claims has no lead: level 1 falls back to the branch head too; one delivery per
    # (event, person, channel) means each escalation event tells u-gd-em-1 once.
    assert sorted((r.recipient, r.facts["level"]) for r in rows) == [
        ("staff:u-gd-em-1", "escalation-1"),
        ("staff:u-gd-em-1", "escalation-2"),
    ]


async def test_redelivered_event_and_overlapping_subscriptions_tell_once(notify: InProcess) -> None:
    case = CaseEvents()
    # A second subscription that would reach the owner for the same breach on the same channel.
    r = await notify.client.post(
        "/v1/subscriptions",
        json={"channel": "email", "recipients": ["owner"], "events": ["sla.breach"], "filters": {"branch_code": "GD"}},
    )
    assert r.status_code == 201, r.text
    feeder = notify.feeder()
    await feeder.apply(case.transferred("GD-SZ.claims", "u-sz-cl-1"))
    breach = case.overdue("breach")
    assert await feeder.apply(breach) is True
    assert await feeder.apply(breach) is False  # the inbox: same event again
    async with notify.runtime.db.session() as session:  # and past the inbox (a replayed topic)
        await fanout.handle(session, breach, breach.typed_payload(), notify.runtime)
        await session.commit()
    rows = [r for r in await deliveries_of(notify, case.id) if r.event_type == "sla.breach"]
    assert sorted(r.recipient for r in rows) == ["staff:u-sz-cl-1", "staff:u-sz-cs-2"]


async def test_filters_branch_subtree_team_and_level(notify: InProcess) -> None:
    r = await notify.client.post(
        "/v1/subscriptions",
        json={
            "channel": "email",
            "target": "gd-claims@insurer.example",
            "events": ["case.overdue"],
            "filters": {"branch_code": "GD", "team": "GD-SZ.claims", "levels": ["breach"]},
        },
    )
    sub_id = r.json()["id"]
    feeder = notify.feeder()
    inside, other_team, elsewhere = CaseEvents("GD-SZ"), CaseEvents("GD-SZ"), CaseEvents("BJ")
    await feeder.apply(inside.transferred("GD-SZ.claims", "u-sz-cl-1"))
    await feeder.apply(other_team.transferred("GD-SZ.cs", "u-sz-cs-1"))
    await feeder.apply(elsewhere.transferred("BJ.claims", None))
    for case in (inside, other_team, elsewhere):
        await feeder.apply(case.overdue("warning"))
        await feeder.apply(case.overdue("breach"))
    hits = (await notify.client.get("/v1/deliveries", params={"subscription_id": sub_id})).json()
    assert [(d["case_id"], d["event_type"]) for d in hits] == [(str(inside.id), "case.overdue")]


async def test_a_withdrawn_alert_reaches_those_who_were_told_it(notify: InProcess, smtp: SmtpReceiver) -> None:
    """A calendar correction withdraws a breach and an escalation (issue 13): the assignee,
    the owner and the team lead hear that it is withdrawn, the branch head does not."""
    case = CaseEvents(branch_code="GD-SZ")
    feeder = notify.feeder()
    await feeder.apply(case.transferred("GD-SZ.cs", "u-sz-cs-1"))
    withdrawal = case.overdue(
        "withdrawn",
        assignee="u-sz-cs-1",
        withdrawn=["breach", "escalation-1"],
        reason="calendar CN corrected: due 2027-02-19T17:30:00+08:00 is now 2027-02-22T17:30:00+08:00",
    )
    assert await feeder.apply(withdrawal)
    told = recipients_by_event(await deliveries_of(notify, case.id))
    assert told == {"sla.withdrawn": {"staff:u-sz-cs-1", "staff:u-sz-cs-2", "staff:u-sz-cs-lead"}}

    async def mail() -> Any:
        return len(smtp.messages) >= 3 and smtp.messages

    messages = await until(mail, what="three e-mails")
    assert all(m["Subject"].startswith("【撤回提醒】") for m in messages)
    assert "calendar CN corrected" in messages[0].get_content()
