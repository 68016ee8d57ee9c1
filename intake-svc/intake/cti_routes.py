"""The CTI endpoints: this platform's call events, and Zammad's generic CTI push."""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Path, Request
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from intake import cti
from intake import tables as t
from intake.state import IntakeState, StateDep
from services.auth import Allow, AllowKeyInPath
from services.deps import SessionDep
from services.errors import field_error, field_errors
from shared.auth import CASE_CREATE
from shared.cti import CallEvent, CallOut

router = APIRouter(prefix="/v1/cti", tags=["cti"], dependencies=[Depends(Allow(CASE_CREATE))])
#: Zammad's own URL form, for PBX modules that can be given nothing but a URL: the API
#: key (bound to the hotline channel) is the last segment, as in Zammad's ``/api/v1/cti/<token>``.
key_in_path_router = APIRouter(prefix="/v1/cti", tags=["cti"])


async def _apply(session: AsyncSession, state: IntakeState, event: CallEvent) -> CallOut:
    """Apply (``get_session`` commits); a concurrent delivery of the same call that won a
    race is rolled back, and the call read again."""
    for attempt in (1, 2):
        try:
            applied = await cti.apply_event(session, event, state.cipher, state.local_tz, state.case_numbers)
            break
        except IntegrityError:
            await session.rollback()
            if attempt == 2:
                raise
    case_no = None
    if applied.call.case_id is not None:
        case_no = await session.scalar(select(t.cases.c.case_no).where(t.cases.c.id == applied.call.case_id))
    return CallOut(**cti.call_out(applied.call, applied.accepted, case_no))


@router.post("/events", response_model=CallOut)
async def call_event(event: CallEvent, session: SessionDep, state: StateDep) -> CallOut:
    """A phone system's call notification; idempotent on ``call_id``."""
    return await _apply(session, state, event)


#: Zammad's generic CTI push, documented as Zammad documents it (the body is read by
#: hand, form-encoded or JSON, so FastAPI cannot derive it).
ZAMMAD_PUSH: dict[str, Any] = {
    "type": "object",
    "required": ["event", "callId"],
    "properties": {
        "event": {"type": "string", "enum": ["newCall", "answer", "hangup"]},
        "callId": {"type": "string", "maxLength": 100},
        "direction": {"type": "string", "enum": ["in", "out"]},
        "from": {"type": "string", "description": "the caller's number"},
        "to": {"type": "string", "description": "the number called"},
        "user[]": {"type": "array", "items": {"type": "string"}, "description": "agents the call rings or reached"},
        "queue": {"type": "string"},
        "cause": {"type": "string", "description": "hangup: normalClearing, busy, cancel, noAnswer, ..."},
    },
}
ZAMMAD_EXAMPLE = {
    "event": "newCall",
    "from": "8613800138000",
    "to": "95519",
    "direction": "in",
    "callId": "1733212800.42",
}
ZAMMAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            media: {"schema": ZAMMAD_PUSH, "example": ZAMMAD_EXAMPLE}
            for media in ("application/x-www-form-urlencoded", "application/json")
        },
    }
}


@router.post("/zammad", response_model=dict[str, Any], openapi_extra=ZAMMAD_BODY)
async def zammad_push(request: Request, session: SessionDep, state: StateDep) -> dict[str, Any]:
    """Zammad's generic CTI push (form-encoded or JSON), the caller signed in by header."""
    return await _zammad(request, session, state)


@key_in_path_router.post(
    "/zammad/{token}",
    response_model=dict[str, Any],
    dependencies=[Depends(AllowKeyInPath(CASE_CREATE, channel="hotline"))],
    openapi_extra=ZAMMAD_BODY,
)
async def zammad_push_key_in_path(
    request: Request,
    session: SessionDep,
    state: StateDep,
    token: Annotated[str, Path(description="an API key bound to the hotline channel (`<id>.<secret>`)")],
) -> dict[str, Any]:
    """Zammad's generic CTI push with the credential in the URL, as Zammad itself takes
    it: a PBX module written for Zammad posts here unchanged (docs/cti.md)."""
    return await _zammad(request, session, state)


async def _zammad(request: Request, session: AsyncSession, state: IntakeState) -> dict[str, Any]:
    raw = await request.body()
    try:
        if request.headers.get("content-type", "").startswith("application/json"):
            params = json.loads(raw or b"{}")
            if not isinstance(params, dict):
                raise ValueError("body must be a JSON object")
        else:
            parsed = parse_qs(raw.decode(), keep_blank_values=True)
            params = {k: (v if k.endswith("[]") else v[-1]) for k, v in parsed.items()}
    except (ValueError, UnicodeDecodeError) as exc:
        raise field_error(None, f"unreadable body: {exc}") from exc
    try:
        event = CallEvent.model_validate(cti.from_zammad(params))
    except ValidationError as exc:
        names = {"call_id": "callId", "event": "event", "caller": "from"}
        raise field_errors(
            (names.get(str(e["loc"][0]), str(e["loc"][0])), e["msg"]) for e in exc.errors(include_input=False)
        ) from exc
    out = await _apply(session, state, event)
    # Zammad reads an optional action from the answer; an empty object means "carry on".
    return {} if out.case_id is None else {"case_id": str(out.case_id), "case_no": out.case_no}
