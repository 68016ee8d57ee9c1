"""routing-svc's organisation and rules API: the whole document, staff, rules."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response

from routing import assignment, orgadmin, views
from routing.state import StateDep
from services.auth import Allow
from services.deps import SessionDep
from shared.auth import ORG_MANAGE, ORG_READ, RULES_MANAGE
from shared.routing import OrgDocument, RuleIn, RuleOut, StaffPatch, WorkloadOut

router = APIRouter(prefix="/v1", tags=["organisation"])


async def _changed(session: SessionDep, state: StateDep, units: list[str] | None = None) -> None:
    """After a change: the organisation stamped for every replica and reloaded here, and
    queues drained where capacity may have appeared."""
    org = await state.org.changed(session)
    for unit in units if units is not None else await assignment.queued_units(session):
        await assignment.drain_queue(session, unit, org)


@router.get("/org", response_model=OrgDocument, dependencies=[Depends(Allow(ORG_READ))])
async def get_org(session: SessionDep) -> OrgDocument:
    return await orgadmin.export_document(session)


@router.put("/org", response_model=OrgDocument, dependencies=[Depends(Allow(ORG_MANAGE))])
async def put_org(body: OrgDocument, session: SessionDep, state: StateDep) -> OrgDocument:
    """Load branches, units, staff and rules (upserted by id; rules replaced as a set when given)."""
    whole = await orgadmin.import_document(session, body)  # queues draining changes none of it
    await _changed(session, state)
    return whole


@router.patch("/staff/{staff_id}", response_model=list[WorkloadOut], dependencies=[Depends(Allow(ORG_MANAGE))])
async def patch_staff(staff_id: str, body: StaffPatch, session: SessionDep, state: StateDep) -> list[WorkloadOut]:
    """On or off duty, capacity, skills, role; a person coming on duty takes waiting cases."""
    unit = await orgadmin.patch_staff(session, staff_id, body)
    await _changed(session, state, [unit])
    return await views.workload(session, unit)


@router.get("/rules", response_model=list[RuleOut], dependencies=[Depends(Allow(ORG_READ))])
async def list_rules(session: SessionDep) -> list[RuleOut]:
    return await orgadmin.list_rules(session)


@router.put("/rules/{rule_id}", response_model=RuleOut, dependencies=[Depends(Allow(RULES_MANAGE))])
async def put_rule(rule_id: str, body: RuleIn, session: SessionDep, state: StateDep) -> RuleOut:
    out = await orgadmin.put_rule(session, rule_id, body)
    await _changed(session, state, [])
    return out


@router.delete("/rules/{rule_id}", status_code=204, dependencies=[Depends(Allow(RULES_MANAGE))])
async def delete_rule(rule_id: str, session: SessionDep, state: StateDep) -> Response:
    await orgadmin.delete_rule(session, rule_id)
    await _changed(session, state, [])
    return Response(status_code=204)
