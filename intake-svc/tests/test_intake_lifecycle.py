"""Every lifecycle transition, legal and illegal, recorded and published on case.updated."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from intake.service import SPEC
from tests.support.cases import complaint, inquiry
from tests.support.inprocess import InProcess, running
from tests.support.intake import act, new_case


@pytest.fixture
async def intake(backend: tuple[Path, str | None]) -> AsyncIterator[InProcess]:
    var_dir, url = backend
    async with running(SPEC, var_dir, url) as service:
        yield service


async def test_a_complaint_from_registration_to_follow_up(intake: InProcess) -> None:
    case = await new_case(intake, complaint(category="sales_agent_conduct", agent_code="AG-10086"))
    cid = case["id"]
    assert (await act(intake, cid, "register"))["status"] == "registered"
    assert (await act(intake, cid, "record-contact", outcome="reached"))["status"] == "in_progress"
    pending = await act(intake, cid, "request-approval", type="payment", reason="协议退保", amount="1200.50")
    assert pending["status"] == "pending_approval" and "close" not in pending["allowed_actions"]
    assert (await act(intake, cid, "approve", actor="u-head-1", decision_note="同意"))["status"] == "in_progress"
    refused = await act(intake, cid, "reply", expect=409, written=True)
    assert "reviewed" in refused["detail"]
    await act(intake, cid, "request-approval", type="written_reply", reason="书面回复审核")
    await act(intake, cid, "approve", actor="u-head-1")
    assert (await act(intake, cid, "reply", written=True, note="已书面回复客户"))["status"] == "replied"
    missing = await act(intake, cid, "close", expect=422, customer_accepted=True)
    assert missing["errors"][0]["field"] == "finding"
    closed = await act(intake, cid, "close", customer_accepted=True, finding="misconduct_found")
    assert (closed["status"], closed["agent_finding"], closed["closed_at"] is not None) == (
        "closed",
        "misconduct_found",
        True,
    )
    followed = await act(intake, cid, "record-satisfaction", score=4, result="满意")
    assert (followed["satisfaction_score"], followed["status"]) == (4, "closed")
    reopened = await act(intake, cid, "reopen", reason="客户对处理结果有新的异议")
    assert (reopened["status"], reopened["reopen_count"], reopened["closed_at"]) == ("in_progress", 1, None)
    assert [n["text"] for n in reopened["notes"]] == ["已书面回复客户"]
    assert [(a["type"], a["status"]) for a in reopened["approvals"]] == [
        ("payment", "approved"),
        ("written_reply", "used"),
    ]

    history = (await intake.client.get(f"/v1/cases/{cid}/history")).json()
    assert [h["action"] for h in history] == [
        "accept",
        "register",
        "record-contact",
        "request-approval",
        "approve",
        "request-approval",
        "approve",
        "reply",
        "close",
        "record-satisfaction",
        "reopen",
    ]
    updates = await intake.emitted("case.updated")
    assert [u["payload"]["action"] for u in updates] == [h["action"] for h in history[1:]]
    close_event = next(u for u in updates if u["payload"]["action"] == "close")["payload"]
    assert close_event["details"]["finding"] == "misconduct_found" and close_event["previous_status"] == "replied"
    assert all("13812345678" not in str(u) and "已书面回复" not in str(u) for u in updates)


async def test_inquiry_answered_on_the_spot(intake: InProcess) -> None:
    case = await new_case(intake, inquiry())
    assert case["status"] == "accepted" and case["category"] == "policy_service"  # 保单贷款, suggested
    done = await act(intake, case["id"], "answer-on-the-spot")
    assert (done["status"], done["resolution"]) == ("closed", "answered_on_the_spot")


async def test_grievance_escalates_to_complaint(intake: InProcess) -> None:
    case = await new_case(
        intake, inquiry(kind="grievance", subject="等候时间太长", description="客户抱怨排队等候时间太长")
    )
    assert case["tier"] is None
    escalated = await act(intake, case["id"], "escalate-to-complaint", reason="涉及多环节核查")
    assert (escalated["kind"], escalated["tier"], escalated["status"]) == ("complaint", "general", "accepted")
    assert (await act(intake, case["id"], "register"))["status"] == "registered"


async def test_reclassify_keeps_tiers_consistent(intake: InProcess) -> None:
    case = await new_case(intake, complaint())
    major = await act(intake, case["id"], "reclassify", tier="major", reason="客户称将联系媒体")
    assert major["tier"] == "major"
    bad = await act(intake, case["id"], "reclassify", expect=422, tier="specialist", reason="x")
    assert bad["errors"][0]["field"] == "tier"
    to_grievance = await act(intake, case["id"], "reclassify", kind="grievance", reason="仅为抱怨")
    assert (to_grievance["kind"], to_grievance["tier"]) == ("grievance", None)
    nothing = await act(intake, case["id"], "reclassify", expect=422, reason="nothing to change")
    assert "at least one" in nothing["errors"][0]["msg"]


ILLEGAL = [
    ("register an inquiry", inquiry(), [], "register", {}),
    ("answer a complaint on the spot", complaint(), [], "answer-on-the-spot", {}),
    ("close before any reply", complaint(), [("register", {})], "close", {"customer_accepted": True}),
    ("approve with nothing pending", complaint(), [("register", {})], "approve", {}),
    ("escalate a complaint", complaint(), [], "escalate-to-complaint", {"reason": "x"}),
    ("satisfaction on an open case", complaint(), [], "record-satisfaction", {"score": 5, "result": "ok"}),
    ("reopen an open case", complaint(), [], "reopen", {"reason": "x"}),
    (
        "close while an approval is pending",
        complaint(),
        [("register", {}), ("reply", {}), ("request-approval", {"type": "payment", "reason": "退保"})],
        "close",
        {"customer_accepted": True},
    ),
]


@pytest.mark.parametrize(("label", "body", "before", "action", "args"), ILLEGAL, ids=[i[0] for i in ILLEGAL])
async def test_illegal_transitions_are_409_with_the_allowed_ones(
    intake: InProcess,
    label: str,
    body: dict,
    before: list,
    action: str,
    args: dict,
) -> None:
    case = await new_case(intake, body)
    for name, extra in before:
        await act(intake, case["id"], name, **extra)
    count = len(await intake.emitted("case.updated"))
    refused = await act(intake, case["id"], action, expect=409, **args)
    current = (await intake.client.get(f"/v1/cases/{case['id']}")).json()
    assert refused["case_status"] == current["status"]
    assert refused["allowed_actions"] == current["allowed_actions"]
    assert action not in current["allowed_actions"]
    assert len(await intake.emitted("case.updated")) == count  # nothing published


async def test_reopen_only_within_the_window(backend: tuple[Path, str | None]) -> None:
    var_dir, url = backend
    async with running(SPEC, var_dir, url, reopen_window_days=0) as intake:
        case = await new_case(intake, inquiry())
        await act(intake, case["id"], "answer-on-the-spot")
        refused = await act(intake, case["id"], "reopen", expect=409, reason="x")
        assert "within 0 days" in refused["detail"]


async def test_concurrent_actions_apply_once(intake: InProcess) -> None:
    case = await new_case(intake, complaint())
    responses = await asyncio.gather(
        *(intake.client.post(f"/v1/cases/{case['id']}/actions/register", json={"actor": "u-1"}) for _ in range(5))
    )
    assert sorted(r.status_code for r in responses) == [200, 409, 409, 409, 409]
    assert [u["payload"]["action"] for u in await intake.emitted("case.updated")] == ["register"]


async def test_unknown_case_and_bad_bodies(intake: InProcess) -> None:
    import uuid

    assert (
        await intake.client.post(f"/v1/cases/{uuid.uuid4()}/actions/register", json={"actor": "u"})
    ).status_code == 404
    case = await new_case(intake, complaint())
    no_actor = await intake.client.post(f"/v1/cases/{case['id']}/actions/register", json={})
    assert no_actor.status_code == 422 and no_actor.json()["errors"][0]["field"] == "actor"
    bad_score = await intake.client.post(
        f"/v1/cases/{case['id']}/actions/record-satisfaction", json={"actor": "u", "score": 9, "result": "x"}
    )
    assert bad_score.status_code == 422
    assert (
        await intake.client.post(f"/v1/cases/{case['id']}/actions/teleport", json={"actor": "u"})
    ).status_code == 404


def test_every_action_has_its_body_in_the_contract_and_no_body_is_orphaned() -> None:
    """The console builds each action's form from ``shared.actions.BODIES``."""
    from intake.lifecycle import ACTIONS
    from shared.actions import BODIES

    assert set(ACTIONS) == set(BODIES)


async def test_case_figures_summed_by_the_database(intake: InProcess) -> None:
    """GET /v1/reports/cases: volumes, resolution, repeats, satisfaction, agent
    complaints with misconduct found and the handling time, per group."""
    agent = await new_case(intake, complaint(agent_code="AG-1", received_at="2026-03-02T09:00:00+08:00"))
    await act(intake, agent["id"], "register")
    await act(intake, agent["id"], "reply")
    await act(intake, agent["id"], "close", customer_accepted=True, finding="misconduct_found")
    await act(intake, agent["id"], "record-satisfaction", score=4, result="满意")
    # The same customer again within 30 days: a repeat complaint, still open.
    await new_case(intake, complaint(agent_code="AG-1", received_at="2026-03-10T09:00:00+08:00"))
    await new_case(intake, inquiry(received_at="2026-04-01T07:00:00+08:00"))  # still March in UTC

    async def figures(**params: str) -> dict[str, dict]:
        answer = await intake.client.get("/v1/reports/cases", params=params)
        assert answer.status_code == 200, answer.text
        return {r["group"]: r for r in answer.json()}

    by_kind = await figures(group_by="kind")
    complaints = by_kind["complaint"]
    assert (complaints["cases"], complaints["closed"], complaints["resolution_rate"]) == (2, 1, 0.5)
    assert complaints["repeat_complaints"] == 1
    assert (complaints["satisfaction_answers"], complaints["satisfaction_average"]) == (1, 4.0)
    assert (complaints["agent_complaints"], complaints["agent_complaints_closed"]) == (2, 1)
    assert (complaints["misconduct_found"], complaints["misconduct_share"]) == (1, 1.0)
    assert complaints["average_handling_hours"] is not None and complaints["average_handling_hours"] > 24 * 200
    assert by_kind["inquiry"]["complaints"] == 0 and by_kind["inquiry"]["misconduct_share"] is None
    by_month = await figures(group_by="month")
    assert {m: r["cases"] for m, r in by_month.items()} == {"2026-03": 2, "2026-04": 1}  # months as Beijing reads them
    by_agent = await figures(group_by="agent")
    assert by_agent["AG-1"]["agent_complaints"] == 2 and by_agent["-"]["cases"] == 1
    assert (await figures(group_by="branch", branch_code="BJ")) == {}
    answer = await intake.client.get(
        "/v1/reports/cases", params={"group_by": "branch", "then_by": "channel", "agent_complaints_only": "true"}
    )
    assert [(r["group"], r["subgroup"], r["cases"], r["misconduct_found"]) for r in answer.json()] == [
        ("GD-SZ", "letter", 2, 1)
    ]
    refused = await intake.client.get("/v1/reports/cases", params={"group_by": "colour"})
    assert refused.status_code == 422 and "group_by" in refused.text
