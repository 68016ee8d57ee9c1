"""intake-svc's HTTP API for cases: accept, read, list, history, notes, attachments,
and one route per lifecycle action (``POST /v1/cases/{id}/actions/{action}``).

No ``from __future__ import annotations`` here: the action routes are generated in a
loop and FastAPI must see each body model as a real class.
"""

import uuid
from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import AwareDatetime
from sqlalchemy import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from intake import cases, classify, figures, history, lifecycle, queries
from intake import tables as t
from intake.state import IntakeState, StateDep
from services.audit import answering, mark_pii_read
from services.auth import Allow, Principal, scope_clause
from services.crypto import FieldCipher
from services.database import utcnow
from services.deps import SessionDep, case_or_404, request_session, runtime_of
from services.direct import Direct, Header
from services.errors import DomainError, field_error
from shared.actions import APPROVALS
from shared.auth import CASE_ACT, CASE_APPROVE, CASE_CREATE, CASE_READ, PII_READ, REPORTS_READ
from shared.enums import CaseKind, CaseStatus, CaseTier, Category, Channel
from shared.intake import (
    AttachmentIn,
    CaseCreate,
    CaseDetailOut,
    CaseFiguresRow,
    CaseOut,
    CasePage,
    CaseSearch,
    ClassifyIn,
    ClassifyOut,
    ContactOut,
    HistoryEntry,
    NoteIn,
)

JSON = "application/json"

router = APIRouter(prefix="/v1", tags=["cases"])
actions_router = APIRouter(prefix="/v1", tags=["lifecycle"])

IDEMPOTENCY_KEY = Header("Idempotency-Key", 200, "a retry with the same key returns the same case")
#: ``POST /v1/cases`` reads its own inputs: it is the hot path (decision 0025).
CREATE = Direct(Allow(CASE_CREATE), CaseCreate, (IDEMPOTENCY_KEY,))


def reopen_window(state: IntakeState) -> timedelta:
    return timedelta(days=state.settings.reopen_window_days)


@router.post(
    "/cases",
    status_code=201,
    response_model=CaseOut,
    responses={200: {"model": CaseOut, "description": "the case an earlier attempt of this request made"}},
)
@CREATE.route
async def create_case(request: Request) -> Response:
    """Accept a case; the caller is known (401/403) before its body is read."""
    async with request_session(request) as session:
        who = await CREATE.allow.check(request, session)
        assert who is not None  # case:create is never public
        body = await CREATE.read_body(request)
        idempotency_key = IDEMPOTENCY_KEY.read(request)
        check_may_create(who, body.branch_code, body.channel)
        accepted = await accept(session, runtime_of(request).state_as(IntakeState), body, idempotency_key)
        out = queries.to_out(accepted.case)
    # Serialised by pydantic in one call (not a dict of JSON values, then json.dumps).
    return Response(out.model_dump_json(), status_code=201 if accepted.created else 200, media_type=JSON)


async def accept(
    session: AsyncSession, state: IntakeState, body: CaseCreate, idempotency_key: str | None
) -> cases.Accepted:
    """Accept (``request_session`` commits); a concurrent retry that lost the race (the unique
    constraints decide, at insert) is rolled back and answered with the winner's case."""
    try:
        accepted = await cases.accept_case(
            session, body, idempotency_key, state.cipher, state.local_tz, state.case_numbers
        )
        answering(201 if accepted.created else 200)
        return accepted
    except IntegrityError:
        await session.rollback()
        existing = await cases.find_existing(session, body, idempotency_key)
        if existing is None:
            raise
        answering(200)
        return cases.Accepted(existing, created=False)


def check_may_create(who: Principal, branch_code: str, channel: str) -> None:
    """A clerk creates cases for their own branch subtree; a client key only on its channels."""
    if not who.sees_branch(branch_code):
        raise DomainError(403, f"branch {branch_code} is outside your scope")
    if who.channels and channel not in who.channels:
        raise DomainError(403, f"this API key may not create cases on channel {channel}")


#: The route's case as the scope check read it (``services.deps.case_or_404``); declared
#: after ``Allow`` in each route.
CaseRow = Annotated[Row[Any], Depends(case_or_404)]


def _reveal(
    request: Request, who: Principal, state: IntakeState, reveal: str | None, case_id: uuid.UUID
) -> FieldCipher | None:
    """The cipher when the caller asked for personal data in clear and may have it (audited)."""
    if reveal is None:
        return None
    if not who.can(PII_READ):
        raise DomainError(403, "your roles do not allow reading personal data in clear")
    mark_pii_read(request, f"customer phone and ID number of case {case_id}")
    return state.cipher


Reveal = Annotated[
    Literal["pii"] | None, Query(description="pii: phone and ID number in clear (needs pii:read; audited)")
]


@router.get("/cases/{case_id}", response_model=CaseDetailOut)
async def get_case(
    case_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    state: StateDep,
    who: Annotated[Principal, Depends(Allow(CASE_READ))],
    row: CaseRow,
    reveal: Reveal = None,
) -> CaseDetailOut:
    cipher = _reveal(request, who, state, reveal, case_id)
    return await queries.to_detail(session, row, lifecycle.allowed(row, reopen_window(state)), cipher)


@router.get("/cases/{case_id}/contact", response_model=ContactOut)
async def get_contact(
    case_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    state: StateDep,
    who: Annotated[Principal, Depends(Allow(PII_READ))],
    row: CaseRow,
) -> ContactOut:
    """The customer's name and phone number in clear: what notify-svc needs to send an SMS (audited)."""
    mark_pii_read(request, f"customer phone of case {case_id}")
    phone = state.cipher.decrypt(row.phone_enc)
    return ContactOut(case_id=row.id, case_no=row.case_no, name=row.customer_name, phone=phone)


@router.get("/cases", response_model=CasePage)
async def list_cases(
    session: SessionDep,
    who: Annotated[Principal, Depends(Allow(CASE_READ))],
    status: CaseStatus | None = None,
    kind: CaseKind | None = None,
    tier: CaseTier | None = None,
    category: Category | None = None,
    channel: Channel | None = None,
    branch_code: Annotated[str | None, Query(max_length=32)] = None,
    agent_code: Annotated[str | None, Query(max_length=100)] = None,
    received_from: AwareDatetime | None = None,
    received_to: AwareDatetime | None = None,
    is_repeat: bool | None = None,
    q: Annotated[str | None, Query(min_length=1, max_length=100, description="words in the subject")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> CasePage:
    filters = queries.CaseFilters(
        status=status,
        kind=kind,
        tier=tier,
        category=category,
        channel=channel,
        branch_code=branch_code,
        agent_code=agent_code,
        received_from=received_from,
        received_to=received_to,
        is_repeat=is_repeat,
        q=q,
        scope=scope_clause(who, t.cases.c.branch_code, t.cases.c.assignee, t.cases.c.owner),
    )
    rows, next_cursor = await queries.list_cases(session, filters, limit, cursor)
    return CasePage(items=[queries.to_out(r) for r in rows], next_cursor=next_cursor)


@router.post("/cases/search", response_model=CasePage)
async def search_cases(
    body: CaseSearch,
    session: SessionDep,
    state: StateDep,
    who: Annotated[Principal, Depends(Allow(CASE_READ))],
) -> CasePage:
    """The list's filters, and a customer's case number, phone, ID number, policy number
    or name (a prefix). Phone and ID number are matched by their keyed hashes, so the
    search needs neither in clear at rest; in a body, so neither sits in a URL. Being a
    POST, each search is in the audit log with who made it."""
    cipher = state.cipher
    filters = queries.CaseFilters(
        **body.model_dump(include=SEARCH_FIELDS),
        phone_hash=cipher.lookup_hash(body.phone) if body.phone else None,
        id_number_hash=cipher.lookup_hash(body.id_number) if body.id_number else None,
        scope=scope_clause(who, t.cases.c.branch_code, t.cases.c.assignee, t.cases.c.owner),
    )
    rows, next_cursor = await queries.list_cases(session, filters, body.limit, body.cursor)
    return CasePage(items=[queries.to_out(r) for r in rows], next_cursor=next_cursor)


@router.post("/cases/classify", response_model=ClassifyOut, dependencies=[Depends(Allow(CASE_CREATE))])
async def classify_case(body: ClassifyIn) -> ClassifyOut:
    """What accepting this case would decide, before it is accepted: whether a complaint
    is major and why, and the category its text suggests (the same rules as
    ``POST /v1/cases``). Nothing is stored; the console shows it as the clerk types."""
    text = f"{body.subject}\n{body.description}"
    reasons = (
        classify.major_reasons(text, body.channel, body.complainant_count) if body.kind is CaseKind.complaint else []
    )
    return ClassifyOut(major_reasons=reasons, suggested_category=classify.suggest_category(text))


FigureGroup = Literal["branch", "channel", "category", "kind", "agent", "month"]


@router.get("/reports/cases", response_model=list[CaseFiguresRow])
async def get_case_figures(
    session: SessionDep,
    state: StateDep,
    who: Annotated[Principal, Depends(Allow(REPORTS_READ))],
    group_by: FigureGroup = "branch",
    then_by: FigureGroup | None = None,
    agent_complaints_only: bool = False,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    branch_code: Annotated[str | None, Query(max_length=32, description="a branch and every branch under it")] = None,
) -> list[CaseFiguresRow]:
    """Volumes, resolution, repeats, satisfaction and agent complaints per group (and
    subgroup), for cases received in the period (months in the service's time zone)."""
    scope = scope_clause(who, t.cases.c.branch_code, t.cases.c.assignee, t.cases.c.owner)
    zone = state.local_tz.key
    return await figures.case_figures(
        session, group_by, since, until, branch_code, scope, zone, then_by, agent_complaints_only
    )


#: What a search passes to the list's filters as given: all but the identifiers (hashed
#: first) and the paging.
SEARCH_FIELDS = set(CaseSearch.model_fields) - {"phone", "id_number", "limit", "cursor"}


@router.get("/cases/{case_id}/history", response_model=list[HistoryEntry], dependencies=[Depends(Allow(CASE_READ))])
async def get_history(case_id: uuid.UUID, session: SessionDep, row: CaseRow) -> list[HistoryEntry]:
    return await history.entries(session, case_id)


@router.post(
    "/cases/{case_id}/notes", status_code=201, response_model=CaseDetailOut, dependencies=[Depends(Allow(CASE_ACT))]
)
async def add_note(
    case_id: uuid.UUID, body: NoteIn, session: SessionDep, state: StateDep, row: CaseRow
) -> CaseDetailOut:
    now = utcnow()
    await session.execute(t.notes.insert().values(case_id=case_id, author=body.author, text=body.text, at=now))
    history.record(session, case_id, "add-note", body.author, None, None, {}, None, now)
    return await queries.to_detail(session, row, lifecycle.allowed(row, reopen_window(state)))


@router.post(
    "/cases/{case_id}/attachments",
    status_code=201,
    response_model=CaseDetailOut,
    dependencies=[Depends(Allow(CASE_ACT))],
)
async def add_attachment(
    case_id: uuid.UUID, body: AttachmentIn, session: SessionDep, state: StateDep, row: CaseRow
) -> CaseDetailOut:
    if body.added_by is None:
        raise field_error("added_by", "who added the file is required")
    now = utcnow()
    await session.execute(
        t.attachments.insert().values(**body.model_dump(), id=uuid.uuid4(), case_id=case_id, added_at=now)
    )
    details = {"name": body.name, "size_bytes": body.size_bytes}
    history.record(session, case_id, "add-attachment", body.added_by, None, None, details, None, now)
    return await queries.to_detail(session, row, lifecycle.allowed(row, reopen_window(state)))


def _action_route(action: lifecycle.Action) -> None:
    body_model = action.body

    permission = CASE_APPROVE if action.name in APPROVALS else CASE_ACT

    async def route(
        case_id: uuid.UUID,
        body: body_model,  # type: ignore[valid-type]  # one route per action: FastAPI needs each body's class
        session: SessionDep,
        state: StateDep,
        who: Annotated[Principal, Depends(Allow(permission))],
    ) -> CaseDetailOut:
        window = reopen_window(state)  # (lifecycle.act reads the case once, locked, and 404s)
        if who.kind == "staff":  # the actor is who is signed in, not what the body says
            body = body.model_copy(update={"actor": who.subject})  # type: ignore[attr-defined]  # (that class)
        row = await lifecycle.act(session, case_id, action.name, body, window)
        return await queries.to_detail(session, row, lifecycle.allowed(row, window))

    route.__name__ = f"action_{action.name.replace('-', '_')}"
    actions_router.add_api_route(
        f"/cases/{{case_id}}/actions/{action.name}",
        route,
        methods=["POST"],
        response_model=CaseDetailOut,
        summary=action.summary,
        responses={409: {"description": "not allowed in the case's current status; the allowed actions are listed"}},
    )


for _action in lifecycle.ACTIONS.values():
    _action_route(_action)
