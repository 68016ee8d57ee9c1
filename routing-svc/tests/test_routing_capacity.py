"""Assignment by capacity: skewed loads, duty changes, the queue, ownership through
transfers, redelivered events, and concurrent assignment."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from sqlalchemy import event

from routing import assignment
from routing.state import state_of
from tests.support.inprocess import InProcess

from .conftest import closed, created, deliver, reopened

CS = "GD-SZ.cs"


async def workload(routing: InProcess, unit: str = CS) -> dict[str, dict[str, Any]]:
    return {p["id"]: p for p in (await routing.client.get("/v1/workload", params={"unit": unit})).json()}


async def patch(routing: InProcess, staff_id: str, **body: Any) -> None:
    response = await routing.client.patch(f"/v1/staff/{staff_id}", json=body)
    assert response.status_code == 200, response.text


async def test_most_remaining_capacity_wins_and_nobody_goes_over(routing: InProcess) -> None:
    await patch(routing, "u-sz-cs-1", capacity_points=100)  # skewed: 2 complaints' worth
    for _ in range(9):
        await deliver(routing, created())
    people = await workload(routing)
    loads = {i: p["load_points"] for i, p in people.items()}
    # u-sz-cs-2 (300) and the lead (150) take most; u-sz-cs-1 (100) some; u-sz-cs-3 is off duty.
    assert loads["u-sz-cs-3"] == 0
    assert sum(loads.values()) == 9 * 50
    assert all(p["load_points"] <= p["capacity_points"] for p in people.values())
    remaining = [p["remaining_points"] for i, p in people.items() if i != "u-sz-cs-3"]
    assert max(remaining) - min(remaining) <= 50  # balanced by remaining capacity, not by count


async def test_ties_go_round_robin(routing: InProcess) -> None:
    await patch(routing, "u-sz-cs-lead", on_duty=False)
    owners = []
    for _ in range(4):
        case_id = await deliver(routing, created("inquiry"))
        owners.append((await routing.client.get(f"/v1/cases/{case_id}/assignment")).json()["assignee"])
    assert owners == ["u-sz-cs-1", "u-sz-cs-2", "u-sz-cs-1", "u-sz-cs-2"]


async def test_off_duty_people_get_nothing_and_skills_are_respected(routing: InProcess) -> None:
    await patch(routing, "u-sz-cs-1", on_duty=False)
    for _ in range(3):
        await deliver(routing, created("inquiry"))
    assert (await workload(routing))["u-sz-cs-1"]["open_cases"] == 0
    car = await deliver(routing, created(category="claims", line_of_business="property_casualty"))
    life = await deliver(routing, created(category="claims", line_of_business="individual_life"))
    got = [(await routing.client.get(f"/v1/cases/{c}/assignment")).json()["assignee"] for c in (car, life)]
    assert got == ["u-sz-cl-2", "u-sz-cl-1"]


async def test_full_team_queues_and_drains_when_capacity_frees(routing: InProcess) -> None:
    # GD-SZ.cs on duty: u-sz-cs-1 300, u-sz-cs-2 300, lead 150 = 15 complaints.
    cases = [await deliver(routing, created()) for _ in range(15)]
    waiting = [await deliver(routing, created()), await deliver(routing, created(tier="general"))]
    queue = (await routing.client.get(f"/v1/queues/{CS}")).json()
    assert [q["case_id"] for q in queue] == [str(w) for w in waiting]
    queued_event = (await routing.emitted("case.transferred"))[-1]["payload"]
    assert (queued_event["queued"], queued_event["to_assignee"]) == (True, None)

    first = (await routing.client.get(f"/v1/cases/{cases[0]}/assignment")).json()["assignee"]
    await deliver(routing, closed(), cases[0])  # a case closes: its assignee has room again
    assignment = (await routing.client.get(f"/v1/cases/{waiting[0]}/assignment")).json()
    assert assignment["assignee"] == first and assignment["queued_since"] is None
    assert assignment["history"][-1]["reason"] == "assigned from the queue: capacity freed"
    assert [q["case_id"] for q in (await routing.client.get(f"/v1/queues/{CS}")).json()] == [str(waiting[1])]

    await patch(routing, "u-sz-cs-3", on_duty=True)  # someone comes on duty
    assert (await routing.client.get(f"/v1/cases/{waiting[1]}/assignment")).json()["assignee"] == "u-sz-cs-3"
    assert (await routing.client.get(f"/v1/queues/{CS}")).json() == []


async def drain_statements(routing: InProcess) -> list[str]:
    """The statements one drain of GD-SZ.cs's queue sends, as the queue worker runs it; it assigns nothing."""
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engine = routing.runtime.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        async with routing.runtime.db.session() as session:
            assert await assignment.drain_queue(session, CS, await state_of(routing.runtime).org.get(session)) == 0
            await session.commit()
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    return statements


async def test_a_queue_nobody_can_take_from_is_read_not_written(routing: InProcess) -> None:
    """The queue worker drains every unit with waiting cases every few seconds: where
    nobody has room, that must stay at most two reads (no locks, no load read per case),
    and a lighter case behind heavier ones is still served when room for it appears."""
    for _ in range(15):
        await deliver(routing, created())  # GD-SZ.cs on duty is full: 300 + 300 + 150 points
    heavy = [await deliver(routing, created()) for _ in range(5)]
    light = await deliver(routing, created("inquiry"))  # 6 points
    assert len(await drain_statements(routing)) == 1  # nobody has any room: the queue is not even read

    await patch(routing, "u-sz-cs-1", capacity_points=303)  # 3 points: room for nothing waiting
    statements = await drain_statements(routing)
    assert len(statements) == 2, statements  # the people, then the queue
    assert all(s.lstrip().upper().startswith("SELECT") and "FOR UPDATE" not in s for s in statements)

    await patch(routing, "u-sz-cs-1", capacity_points=310)  # room for the inquiry, not a complaint
    assert (await routing.client.get(f"/v1/cases/{light}/assignment")).json()["assignee"] == "u-sz-cs-1"
    queue = (await routing.client.get(f"/v1/queues/{CS}")).json()
    assert [q["case_id"] for q in queue] == [str(h) for h in heavy]


async def test_ownership_through_a_chain_of_transfers_and_a_return(routing: InProcess) -> None:
    case_id = await deliver(routing, created("inquiry", channel="hotline", received_by="u-ho-cc-1"))

    async def move(**body: Any) -> dict[str, Any]:
        response = await routing.client.post(f"/v1/cases/{case_id}/transfers", json=body)
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    await move(to_unit="GD-SZ.claims", reason="需理赔岗核实")
    await move(to_unit="GD-SZ.underwriting", to_assignee="u-sz-uw-1", reason="涉及核保")
    returned = await move(kind="return", reason="不属于核保范围，退回")
    assert (returned["unit"], returned["assignee"]) == ("GD-SZ.claims", "u-sz-cl-1")
    escalated = await move(kind="escalate", reason="超出支公司权限")
    assert escalated["unit"] == "GD.cs"  # GD has no claims team: its service team
    assert escalated["owner"] == "u-ho-cc-1"  # the first responder still owns it
    handed = await move(to_unit="GD.legal", reason="转法律顾问并移交首问责任", hand_over_ownership=True)
    assert handed["owner"] == handed["assignee"] == "u-gd-lg-1"
    assert [h["kind"] for h in handed["history"]] == [
        "work_order",
        "transfer",
        "transfer",
        "return",
        "escalate",
        "transfer",
    ]
    events = [e["payload"] for e in await routing.emitted("case.transferred")]
    assert [(e["transfer_kind"], e["owner"]) for e in events][-2:] == [
        ("escalate", "u-ho-cc-1"),
        ("transfer", "u-gd-lg-1"),
    ]
    people = await workload(routing, "GD-SZ.claims")
    assert people["u-sz-cl-1"]["open_cases"] == 0  # load followed the case out


async def test_transfer_refusals(routing: InProcess) -> None:
    assert (
        await routing.client.post(f"/v1/cases/{uuid.uuid4()}/transfers", json={"to_unit": CS, "reason": "x"})
    ).status_code == 404
    case_id = await deliver(routing, created("inquiry"))
    url = f"/v1/cases/{case_id}/transfers"
    bad_unit = await routing.client.post(url, json={"to_unit": "NOPE.cs", "reason": "x"})
    assert bad_unit.status_code == 422 and bad_unit.json()["errors"][0]["field"] == "to_unit"
    stranger = await routing.client.post(
        url, json={"to_unit": "GD-SZ.claims", "to_assignee": "u-bj-cs-1", "reason": "x"}
    )
    assert stranger.status_code == 422 and stranger.json()["errors"][0]["field"] == "to_assignee"
    nothing_to_return = await routing.client.post(url, json={"kind": "return", "reason": "x"})
    assert nothing_to_return.status_code == 409
    assert (await routing.client.post(url, json={"reason": "x"})).status_code == 422
    await deliver(routing, closed("inquiry", "general", "service_attitude"), case_id)
    assert (await routing.client.post(url, json={"to_unit": CS, "reason": "x"})).status_code == 409


async def test_redelivered_events_change_nothing(routing: InProcess) -> None:
    event = created()
    case_id = await deliver(routing, event)
    await deliver(routing, event, case_id)
    assert len(await routing.emitted("case.transferred")) == 1
    assignee = (await routing.client.get(f"/v1/cases/{case_id}/assignment")).json()["assignee"]
    assert (await workload(routing))[assignee]["load_points"] == 50
    await deliver(routing, closed(), case_id)
    await deliver(routing, closed(), case_id)
    assert (await workload(routing))[assignee]["load_points"] == 0


async def test_reclassified_major_goes_to_the_emergency_group(routing: InProcess) -> None:
    from shared.events import CaseUpdated

    case_id = await deliver(routing, created())
    major = CaseUpdated(
        action="reclassify",
        status="accepted",
        kind="complaint",
        tier="major",
        category="service_attitude",
        branch_code="GD-SZ",
    )
    await deliver(routing, major, case_id)
    found = (await routing.client.get(f"/v1/cases/{case_id}/assignment")).json()
    assert (found["unit"], found["assignee"], found["history"][-1]["kind"]) == ("GD.emergency", "u-gd-em-1", "escalate")
    assert (await workload(routing, "GD.emergency"))["u-gd-em-1"]["load_points"] == 60  # the unit's own weight


async def test_case_closed_before_routing_saw_it_is_never_charged(routing: InProcess) -> None:
    case_id = uuid.uuid4()
    await deliver(routing, closed(), case_id)
    await deliver(routing, created(), case_id)
    assert sum(p["load_points"] for p in (await workload(routing)).values()) == 0
    assert (await routing.client.get(f"/v1/cases/{case_id}/assignment")).status_code == 404


async def test_concurrent_assignment_never_puts_anyone_over_capacity(routing: InProcess) -> None:
    for person in ("u-sz-cs-2", "u-sz-cs-lead"):
        await patch(routing, person, on_duty=False)
    await patch(routing, "u-sz-cs-1", capacity_points=100)  # room for exactly two complaints
    case_ids = await asyncio.gather(*(deliver(routing, created()) for _ in range(10)))
    people = await workload(routing)
    assert people["u-sz-cs-1"]["load_points"] == 100 and people["u-sz-cs-1"]["open_cases"] == 2
    queue = (await routing.client.get(f"/v1/queues/{CS}")).json()
    assert len(queue) == 8 and {q["case_id"] for q in queue} <= {str(c) for c in case_ids}


async def test_reopening_tells_everyone_when_the_holder_changes(routing: InProcess) -> None:
    """A case closed before routing saw it is routed when reopened, and says so on the
    bus (intake, sla and notify learn its holder from ``case.transferred`` alone); a case
    reopened to the person who had it changes hands with no event."""
    never_routed = uuid.uuid4()
    await deliver(routing, closed(), never_routed)
    await deliver(routing, created(), never_routed)
    await deliver(routing, reopened(), never_routed)
    found = (await routing.client.get(f"/v1/cases/{never_routed}/assignment")).json()
    assert found["assignee"] is not None
    told = [e for e in await routing.emitted("case.transferred") if e["case_id"] == str(never_routed)]
    assert [(e["payload"]["transfer_kind"], e["payload"]["to_assignee"]) for e in told] == [
        ("assign", found["assignee"])
    ]
    assert told[0]["payload"]["from_unit"] is None and told[0]["payload"]["to_unit"] == found["unit"]

    kept = await deliver(routing, created())
    holder = (await routing.client.get(f"/v1/cases/{kept}/assignment")).json()["assignee"]
    await deliver(routing, closed(), kept)
    await deliver(routing, reopened(), kept)
    assert (await routing.client.get(f"/v1/cases/{kept}/assignment")).json()["assignee"] == holder
    assert len([e for e in await routing.emitted("case.transferred") if e["case_id"] == str(kept)]) == 1
