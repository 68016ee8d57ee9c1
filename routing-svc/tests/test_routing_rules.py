"""Rules on the sample organisation, first assignment, transfers and ownership."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from routing import assignment
from routing.org import load_org
from routing.service import SPEC
from shared.enums import CaseKind, CaseStatus, CaseTier, Category, Channel, LineOfBusiness
from shared.events import CaseCreated
from tests.support.inprocess import InProcess, running


@pytest.fixture
async def routing(backend: tuple[Path, str | None]) -> AsyncIterator[InProcess]:
    var_dir, url = backend
    async with running(SPEC, var_dir, url) as service:
        yield service


def case(kind: str, branch: str = "GD-SZ", tier: str | None = "general", category: str | None = None) -> CaseCreated:
    return CaseCreated(
        case_no="X-1",
        kind=CaseKind(kind),
        tier=CaseTier(tier) if tier else None,
        category=Category(category) if category else None,
        channel=Channel.hotline,
        branch_code=branch,
        line_of_business=LineOfBusiness.individual_life,
        status=CaseStatus.accepted,
        received_at=datetime.now(UTC),
    )


RULES = [
    (
        "major complaint to the emergency group of the nearest branch that has one",
        case("complaint", tier="major"),
        "GD.emergency",
        "major-to-emergency",
    ),
    (
        "agent complaint to agent supervision",
        case("complaint", category="sales_agent_conduct"),
        "GD-SZ.agent-supervision",
        "agent-complaint",
    ),
    (
        "agent complaint in a city without supervision goes up",
        case("complaint", "GD-GZ", category="sales_agent_conduct"),
        "GD.agent-supervision",
        "agent-complaint",
    ),
    ("claims complaint to the claims post", case("complaint", category="claims"), "GD-SZ.claims", "claims-complaint"),
    ("claims inquiry to branch service", case("inquiry", category="claims"), "GD-SZ.cs", "branch-service"),
    ("grievance to branch service", case("grievance", tier=None), "GD-SZ.cs", "branch-service"),
    ("unknown branch to the default unit", case("inquiry", "XZ"), "HO.cs", None),
]


@pytest.mark.parametrize(("label", "created", "unit", "rule"), RULES, ids=[r[0] for r in RULES])
async def test_rules_on_the_sample_organisation(
    routing: InProcess, label: str, created: CaseCreated, unit: str, rule: str | None
) -> None:
    async with routing.runtime.db.session() as session:
        decision = (await load_org(session)).decide(created, "HO.cs")
    assert (decision.unit, decision.rule_id) == (unit, rule), label
    assert decision.reason


async def test_first_responder_stays_owner_through_transfers(routing: InProcess) -> None:
    case_id = uuid.uuid4()
    async with routing.runtime.db.session() as session:
        assert await assignment.assign_new_case(session, case_id, case("complaint"), await load_org(session), "HO.cs")
        assert not await assignment.assign_new_case(
            session, case_id, case("complaint"), await load_org(session), "HO.cs"
        )
        await session.commit()
    first = (await routing.client.get(f"/v1/cases/{case_id}/assignment")).json()
    owner = first["owner"]
    assert owner in ("u-sz-cs-1", "u-sz-cs-2")  # on duty; u-sz-cs-3 is off duty

    moved = await routing.client.post(
        f"/v1/cases/{case_id}/transfers", json={"to_unit": "GD-SZ.claims", "reason": "理赔核实"}
    )
    assert moved.status_code == 201, moved.text
    assert (moved.json()["assignee"], moved.json()["owner"]) == ("u-sz-cl-1", owner)

    handed = await routing.client.post(
        f"/v1/cases/{case_id}/transfers",
        json={
            "to_unit": "GD.emergency",
            "to_assignee": "u-gd-em-1",
            "reason": "升级",
            "kind": "escalate",
            "hand_over_ownership": True,
        },
    )
    assert handed.json()["owner"] == "u-gd-em-1"
    assert [h["kind"] for h in handed.json()["history"]] == ["assign", "transfer", "escalate"]


async def test_transfer_refuses_what_does_not_exist(routing: InProcess) -> None:
    missing = await routing.client.post(
        f"/v1/cases/{uuid.uuid4()}/transfers", json={"to_unit": "GD-SZ.cs", "reason": "x"}
    )
    assert missing.status_code == 404
    case_id = uuid.uuid4()
    async with routing.runtime.db.session() as session:
        await assignment.assign_new_case(session, case_id, case("inquiry"), await load_org(session), "HO.cs")
        await session.commit()
    bad_unit = await routing.client.post(f"/v1/cases/{case_id}/transfers", json={"to_unit": "NOPE.cs", "reason": "x"})
    assert bad_unit.status_code == 422 and bad_unit.json()["detail"][0]["field"] == "to_unit"
    stranger = await routing.client.post(
        f"/v1/cases/{case_id}/transfers", json={"to_unit": "GD-SZ.claims", "to_assignee": "u-bj-cs-1", "reason": "x"}
    )
    assert stranger.status_code == 422 and stranger.json()["detail"][0]["field"] == "to_assignee"
    assign_kind = await routing.client.post(
        f"/v1/cases/{case_id}/transfers", json={"to_unit": "GD-SZ.cs", "reason": "x", "kind": "assign"}
    )
    assert assign_kind.status_code == 422


async def test_least_loaded_on_duty_member_gets_the_case(routing: InProcess) -> None:
    assignees = []
    async with routing.runtime.db.session() as session:
        for _ in range(6):
            case_id = uuid.uuid4()
            await assignment.assign_new_case(session, case_id, case("inquiry"), await load_org(session), "HO.cs")
            assignees.append((await assignment.get_assignment(session, case_id)).assignee)  # type: ignore[union-attr]
        await session.commit()
    assert sorted(assignees) == ["u-sz-cs-1"] * 3 + ["u-sz-cs-2"] * 3


FIRST_RESPONDERS = [
    ("the receiver named at intake owns it", {"channel": "counter", "received_by": "u-counter-9"}, "u-counter-9"),
    ("an unaddressed letter goes to the branch's designated receiver", {"channel": "letter"}, "u-sz-cs-2"),
    (
        "online, in a branch without one: the parent branch's",
        {"channel": "online", "branch_code": "GD-GZ"},
        "u-gd-cs-1",
    ),
    ("a hotline case is owned by its first assignee", {"channel": "hotline"}, "u-sz-cs-1"),
]


@pytest.mark.parametrize(("label", "fields", "owner"), FIRST_RESPONDERS, ids=[f[0] for f in FIRST_RESPONDERS])
async def test_first_responder(routing: InProcess, label: str, fields: dict, owner: str) -> None:  # type: ignore[type-arg]
    created = case("inquiry").model_copy(update=fields)
    case_id = uuid.uuid4()
    async with routing.runtime.db.session() as session:
        await assignment.assign_new_case(session, case_id, created, await load_org(session), "HO.cs")
        found = await assignment.get_assignment(session, case_id)
        await session.commit()
    assert found is not None and found.owner == owner, label
