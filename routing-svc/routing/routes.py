"""routing-svc's HTTP API for cases: assignment, transfers, queues, workload, explain."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from routing import assignment, views
from routing.org import CaseFacts
from routing.state import StateDep
from services.auth import Allow, Principal
from services.deps import SessionDep
from services.errors import DomainError
from shared.auth import CASE_READ, CASE_TRANSFER, REPORTS_READ
from shared.enums import CaseKind, CaseTier, Category, Channel, LineOfBusiness
from shared.routing import AssignmentOut, ExplainOut, QueueItemOut, TransferCreate, WorkloadOut

router = APIRouter(prefix="/v1", tags=["assignment"])


@router.get("/cases/{case_id}/assignment", response_model=AssignmentOut, dependencies=[Depends(Allow(CASE_READ))])
async def get_assignment(case_id: uuid.UUID, session: SessionDep) -> AssignmentOut:
    found = await views.get_assignment(session, case_id)
    if found is None:
        raise DomainError(404, "no assignment for this case (unknown case, or not yet routed)")
    return found


@router.post(
    "/cases/{case_id}/transfers",
    status_code=201,
    response_model=AssignmentOut,
    dependencies=[Depends(Allow(CASE_TRANSFER))],
)
async def create_transfer(
    case_id: uuid.UUID,
    body: TransferCreate,
    session: SessionDep,
    state: StateDep,
) -> AssignmentOut:
    """Transfer, work order, escalation (to the higher unit when no ``to_unit``) or return (to the sender)."""
    org = await state.org.get(session)
    left = await assignment.transfer(session, case_id, body, org)
    await assignment.drain_queue(session, left, org)
    found = await views.get_assignment(session, case_id)
    assert found is not None
    return found


@router.get("/queues/{unit}", response_model=list[QueueItemOut])
async def get_queue(
    unit: str, session: SessionDep, state: StateDep, who: Annotated[Principal, Depends(Allow(REPORTS_READ))]
) -> list[QueueItemOut]:
    """Cases waiting in a unit (e.g. ``GD-SZ.cs``) for someone with capacity, most urgent first."""
    if unit not in (await state.org.get(session)).units or not who.sees_branch(unit.split(".")[0]):
        raise DomainError(404, "no such unit")
    return await views.queue(session, unit)


@router.get("/workload", response_model=list[WorkloadOut])
async def get_workload(
    session: SessionDep,
    who: Annotated[Principal, Depends(Allow(REPORTS_READ))],
    unit: Annotated[str | None, Query(max_length=100)] = None,
    branch_code: Annotated[str | None, Query(max_length=32)] = None,
) -> list[WorkloadOut]:
    """Per person: open cases and effort used against capacity (of the caller's branches)."""
    rows = await views.workload(session, unit, branch_code)
    return [r for r in rows if who.sees_branch(r.unit_code.split(".")[0])]


@router.get("/routing/explain", response_model=ExplainOut, dependencies=[Depends(Allow(REPORTS_READ))])
async def explain(
    session: SessionDep,
    state: StateDep,
    kind: CaseKind,
    branch_code: Annotated[str, Query(max_length=32)],
    tier: CaseTier | None = None,
    category: Category | None = None,
    channel: Channel | None = None,
    line_of_business: LineOfBusiness | None = None,
    agent_code: Annotated[str | None, Query(max_length=100)] = None,
) -> ExplainOut:
    """Which rule would fire for a draft case, why, and who would get it."""
    facts = CaseFacts.of(
        type(
            "Draft",
            (),
            dict(
                kind=kind,
                tier=tier,
                category=category,
                channel=channel,
                branch_code=branch_code,
                line_of_business=line_of_business,
                agent_code=agent_code,
            ),
        )
    )
    org = await state.org.get(session)
    return await views.explain(session, org, facts, state.settings.default_unit)
