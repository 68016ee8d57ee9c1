"""routing-svc's HTTP API (CONTRACT.md, "routing-svc, minimum")."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from routing import assignment
from services.deps import SessionDep
from services.errors import DomainError
from shared.api import AssignmentOut, TransferCreate

router = APIRouter(prefix="/v1", tags=["assignment"])


@router.get("/cases/{case_id}/assignment", response_model=AssignmentOut)
async def get_assignment(case_id: uuid.UUID, session: SessionDep) -> AssignmentOut:
    found = await assignment.get_assignment(session, case_id)
    if found is None:
        raise DomainError(404, "no assignment for this case (unknown case, or not yet routed)")
    return found


@router.post("/cases/{case_id}/transfers", status_code=201, response_model=AssignmentOut)
async def create_transfer(case_id: uuid.UUID, body: TransferCreate, session: SessionDep) -> AssignmentOut:
    await assignment.transfer(session, case_id, body)
    await session.commit()
    found = await assignment.get_assignment(session, case_id)
    assert found is not None
    return found
