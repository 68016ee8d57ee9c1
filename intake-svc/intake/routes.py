"""intake-svc's HTTP API (CONTRACT.md, "intake-svc, minimum")."""

from __future__ import annotations

import uuid
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Header, Query
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime
from sqlalchemy.exc import IntegrityError

from intake import cases
from services.deps import RuntimeDep, SessionDep
from services.errors import DomainError
from shared.api import CaseCreate, CaseOut, CasePage
from shared.enums import CaseKind, CaseStatus, CaseTier, Category, Channel

router = APIRouter(prefix="/v1", tags=["cases"])

IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", max_length=200, description="a retry with the same key returns the same case"),
]


@router.post(
    "/cases",
    status_code=201,
    response_model=CaseOut,
    responses={200: {"model": CaseOut, "description": "the case an earlier attempt of this request made"}},
)
async def create_case(
    body: CaseCreate, session: SessionDep, runtime: RuntimeDep, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    cipher = runtime.extras["cipher"]
    tz = ZoneInfo(runtime.settings.local_timezone)  # type: ignore[attr-defined]
    try:
        accepted = await cases.accept_case(session, body, idempotency_key, cipher, tz)
        await session.commit()
    except IntegrityError:
        # A concurrent retry of this request won the race: answer with its case.
        await session.rollback()
        existing = await cases.find_existing(session, body, idempotency_key)
        if existing is None:
            raise
        accepted = cases.Accepted(existing, created=False)
    out = cases.to_out(accepted.case)
    return JSONResponse(out.model_dump(mode="json"), status_code=201 if accepted.created else 200)


@router.get("/cases/{case_id}", response_model=CaseOut)
async def get_case(case_id: uuid.UUID, session: SessionDep) -> CaseOut:
    row = await cases.get_case_row(session, case_id)
    if row is None:
        raise DomainError(404, "case not found")
    return cases.to_out(row)


@router.get("/cases", response_model=CasePage)
async def list_cases(
    session: SessionDep,
    status: CaseStatus | None = None,
    kind: CaseKind | None = None,
    tier: CaseTier | None = None,
    category: Category | None = None,
    channel: Channel | None = None,
    branch_code: Annotated[str | None, Query(max_length=32)] = None,
    agent_code: Annotated[str | None, Query(max_length=100)] = None,
    received_from: AwareDatetime | None = None,
    received_to: AwareDatetime | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> CasePage:
    filters = cases.CaseFilters(
        status=status,
        kind=kind,
        tier=tier,
        category=category,
        channel=channel,
        branch_code=branch_code,
        agent_code=agent_code,
        received_from=received_from,
        received_to=received_to,
    )
    rows, next_cursor = await cases.list_cases(session, filters, limit, cursor)
    return CasePage(items=[cases.to_out(r) for r in rows], next_cursor=next_cursor)
