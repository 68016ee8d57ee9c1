"""The rules of the sample organisation, as the explain view and the consumer apply them."""

from __future__ import annotations

from typing import Any

import pytest

from shared.events import CaseCreated
from tests.support.inprocess import InProcess

from .conftest import created, deliver

RULES: list[tuple[str, dict[str, Any], str, str | None]] = [
    (
        "a hotline inquiry the agent could not answer: work order to the branch's service team",
        {"kind": "inquiry", "channel": "hotline"},
        "GD-SZ.cs",
        "hotline-inquiry-work-order",
    ),
    (
        "a complaint naming a sales agent: agent supervision of the agent's branch",
        {"kind": "complaint", "category": "claims", "agent_code": "AG-10086"},
        "GD-SZ.agent-supervision",
        "agent-named",
    ),
    (
        "sales conduct in a city without supervision: the provincial branch's",
        {"kind": "complaint", "category": "sales_agent_conduct", "branch_code": "GD-GZ"},
        "GD.agent-supervision",
        "agent-conduct",
    ),
    (
        "a bancassurance complaint: the bancassurance liaison",
        {"kind": "complaint", "category": "claims", "line_of_business": "bancassurance"},
        "GD-SZ.banca-liaison",
        "banca-complaint",
    ),
    (
        "claims complaints: the claims professional post",
        {"kind": "complaint", "category": "claims"},
        "GD-SZ.claims",
        "claims-complaint",
    ),
    (
        "a major complaint: the branch's emergency group at once",
        {"kind": "complaint", "tier": "major", "category": "claims"},
        "GD.emergency",
        "major-to-emergency",
    ),
    (
        "a complaint about office staff: HR",
        {"kind": "complaint", "category": "internal_staff"},
        "GD.hr",
        "staff-complaint",
    ),
    (
        "an underwriting complaint: the underwriting post",
        {"kind": "complaint", "category": "underwriting"},
        "GD-SZ.underwriting",
        "underwriting-complaint",
    ),
    ("a grievance: branch service", {"kind": "grievance", "channel": "hotline"}, "GD-SZ.cs", "branch-service"),
    (
        "a counter inquiry at a sub-branch: its own counter",
        {"kind": "inquiry", "channel": "counter", "branch_code": "GD-SZ-NS"},
        "GD-SZ-NS.cs",
        "branch-service",
    ),
    ("an unknown branch: the default unit", {"kind": "inquiry", "branch_code": "XZ"}, "HO.cs", None),
]


@pytest.mark.parametrize(("label", "draft", "unit", "rule"), RULES, ids=[r[0] for r in RULES])
async def test_rules_on_the_sample_organisation(
    routing: InProcess, label: str, draft: dict, unit: str, rule: str | None
) -> None:
    params = {"branch_code": "GD-SZ", "line_of_business": "individual_life", "channel": "counter", **draft}
    explained = (await routing.client.get("/v1/routing/explain", params=params)).json()
    assert (explained["unit"], explained["rule_id"]) == (unit, rule), label
    tried = [step["rule"] for step in explained["trace"]]
    assert all("why_not" in step for step in explained["trace"] if not step["matched"])
    if rule:
        assert tried[-1] == rule and explained["trace"][-1]["matched"]
    # The consumer decides the same way, and records which rule fired and why.
    case_id = await deliver(routing, created(**{k: v for k, v in params.items() if k in CaseCreated.model_fields}))
    assignment = (await routing.client.get(f"/v1/cases/{case_id}/assignment")).json()
    assert (assignment["unit"], assignment["rule_id"]) == (unit, rule)
    assert assignment["history"][0]["reason"].startswith(f"rule {rule}:" if rule else "no rule matched")


async def test_major_complaint_is_urgent_and_informs_head_office(routing: InProcess) -> None:
    await deliver(routing, created(tier="major", category="claims"))
    [event] = await routing.emitted("case.transferred")
    payload = event["payload"]
    assert (payload["to_unit"], payload["priority"], payload["inform"]) == ("GD.emergency", 1, ["HO.emergency"])


async def test_hotline_work_order_comes_from_the_call_centre(routing: InProcess) -> None:
    case_id = await deliver(routing, created("inquiry", channel="hotline", received_by="u-ho-cc-1"))
    [event] = await routing.emitted("case.transferred")
    payload = event["payload"]
    assert (payload["transfer_kind"], payload["from_unit"], payload["from_assignee"]) == (
        "work_order",
        "HO.callcentre",
        "u-ho-cc-1",
    )
    assert payload["to_unit"] == "GD-SZ.cs" and payload["owner"] == "u-ho-cc-1"
    assignment = (await routing.client.get(f"/v1/cases/{case_id}/assignment")).json()
    assert assignment["owner"] == "u-ho-cc-1" and assignment["assignee"] in ("u-sz-cs-1", "u-sz-cs-2", "u-sz-cs-lead")


FIRST_RESPONDERS = [
    ("the receiver named at intake owns it", {"received_by": "u-ho-cc-2"}, "u-ho-cc-2"),
    ("an unaddressed letter: the branch's designated receiver", {"channel": "letter"}, "u-sz-cs-2"),
    (
        "online, in a branch without one: the parent branch's",
        {"channel": "online", "branch_code": "GD-GZ"},
        "u-gd-cs-1",
    ),
    ("a visit nobody named: the first assignee", {"channel": "visit"}, None),
]


@pytest.mark.parametrize(("label", "fields", "owner"), FIRST_RESPONDERS, ids=[f[0] for f in FIRST_RESPONDERS])
async def test_first_responder(routing: InProcess, label: str, fields: dict, owner: str | None) -> None:
    case_id = await deliver(routing, created("inquiry", **fields))
    found = (await routing.client.get(f"/v1/cases/{case_id}/assignment")).json()
    assert found["owner"] == (owner or found["assignee"]) and found["owner"] is not None, label


async def test_an_organisation_whose_parents_contradict_the_codes_is_refused(routing: InProcess) -> None:
    """Scope goes by code, escalation by parent: one tree, so a parent the code denies is a 422."""
    before = (await routing.client.get("/v1/org")).json()
    for branches, named in (
        ([{"code": "GD-FS", "name": "佛山", "parent": "BJ"}], "GD-FS"),  # under GD by its code
        ([{"code": "SC", "name": "四川", "parent": "GD"}], "SC"),  # a top-level code is under the head office
        ([{"code": "XZ", "name": "西藏"}], "XZ"),  # a second branch without a parent beside HO
    ):
        doc = {**before, "branches": [*before["branches"], *branches]}
        response = await routing.client.put("/v1/org", json=doc)
        assert response.status_code == 422, response.text
        assert named in response.text
    # A part of the organisation is checked with the rest of it: SC's parent must be HO.
    part = {"branches": [{"code": "SC", "name": "四川", "parent": "GD"}]}
    assert (await routing.client.put("/v1/org", json=part)).status_code == 422
    part = {"branches": [{"code": "SC", "name": "四川", "parent": "XX"}]}
    response = await routing.client.put("/v1/org", json=part)
    assert response.status_code == 422 and "not the head office HO" in response.text, response.text
    assert (await routing.client.get("/v1/org")).json() == before  # nothing stored
    fine = {**before, "branches": [*before["branches"], {"code": "GD-FS", "name": "佛山", "parent": "GD"}]}
    assert (await routing.client.put("/v1/org", json=fine)).status_code == 200


def test_one_branch_tree() -> None:
    from shared.org import ancestors, code_parent, in_subtree, nearest

    assert ancestors("GD-SZ-NS", "HO") == ["GD-SZ-NS", "GD-SZ", "GD", "HO"]
    assert ancestors("GD-XX", "HO", known={"GD", "HO"}) == ["GD-XX"]  # unknown: nothing assumed
    assert code_parent("GD", "HO") == "HO" and code_parent("HO", "HO") is None
    assert in_subtree("GD-SZ", "GD") and not in_subtree("GDX", "GD") and not in_subtree(None, "GD")
    assert nearest("GD-SZ-NS", {"GD", "BJ"}) == "GD" and nearest("SH", {"GD"}) is None
