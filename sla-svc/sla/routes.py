"""sla-svc's HTTP API (CONTRACT.md, "sla-svc, minimum")."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from services.deps import SessionDep
from services.errors import DomainError
from shared.api import CaseSlaOut, OverdueOut
from sla import clocks

router = APIRouter(prefix="/v1", tags=["sla"])


@router.get("/cases/{case_id}/sla", response_model=CaseSlaOut)
async def get_case_sla(case_id: uuid.UUID, session: SessionDep) -> CaseSlaOut:
    found = await clocks.case_sla(session, case_id)
    if found is None:
        raise DomainError(404, "no clocks for this case (unknown case, or not yet seen)")
    return found


@router.get("/overdue", response_model=list[OverdueOut])
async def list_overdue(
    session: SessionDep,
    branch_code: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[OverdueOut]:
    return await clocks.overdue(session, branch_code, limit)
