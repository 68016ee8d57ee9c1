"""Phone calls (CTI) and how a call becomes a case.

A call is recorded as the phone system reports it (new call, answered, hangup),
idempotently by call id; events may arrive twice or out of order, and a later
state is never undone by an earlier event. A call becomes a case when it is
logged: the agent's wrap-up on hangup (``wrap_up``), or the agent desktop posting
``POST /v1/cases`` with ``channel=hotline`` and ``source_ref`` = the call id. A
missed call (never answered, no IVR message) is recorded but is not a case. An
IVR message with a wrap-up (e.g. from speech-to-text) is a case without an agent.

Zammad's generic CTI push (``event`` newCall | answer | hangup, ``from``, ``to``,
``direction``, ``callId``, ``user[]``, ``queue``, ``cause``, ``answeringNumber``)
maps onto the same events (``from_zammad``); Zammad posts no wrap-up, so such
calls become cases when the agent logs them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession

from intake import cases
from intake import tables as t
from intake.casenumbers import CaseNumbers
from services.crypto import FieldCipher, mask_phone
from services.database import insert_ignoring_conflicts, utcnow
from services.errors import DomainError, field_error
from shared.cti import CallEvent
from shared.enums import Channel
from shared.intake import CaseCreate, CustomerIn

#: A later state is never replaced by an earlier one.
STATE_ORDER = {"ringing": 0, "answered": 1, "ended": 2, "missed": 2}


@dataclass(frozen=True)
class Applied:
    call: Row[Any]
    accepted: cases.Accepted | None


async def apply_event(
    session: AsyncSession, event: CallEvent, cipher: FieldCipher, tz: ZoneInfo, numbers: CaseNumbers
) -> Applied:
    now = utcnow()
    at = event.at or now
    await session.execute(
        insert_ignoring_conflicts(session, t.cti_calls, ["call_id"]).values(
            call_id=event.call_id, state="ringing", direction=event.direction, started_at=at, updated_at=now
        )
    )
    call = (
        await session.execute(select(t.cti_calls).where(t.cti_calls.c.call_id == event.call_id).with_for_update())
    ).one()
    updates: dict[str, Any] = {
        k: v
        for k, v in {
            "called": event.called,
            "agent_id": event.agent_id,
            "queue": event.queue,
            "ivr_path": " > ".join(event.ivr_path) if event.ivr_path else None,
            "recording_ref": event.recording_ref,
            "cause": event.cause,
        }.items()
        if v is not None
    }
    if event.caller:
        updates |= {
            "caller_enc": cipher.encrypt(event.caller),
            "caller_hash": cipher.lookup_hash(event.caller),
            "caller_masked": mask_phone(event.caller),
        }
    state = _next_state(call, event)
    if STATE_ORDER[state] >= STATE_ORDER[call.state]:
        updates["state"] = state
    if event.event == "answered" and call.answered_at is None:
        updates["answered_at"] = at
    if event.event == "hangup" and call.ended_at is None:
        updates["ended_at"] = at
    if event.event == "new_call" and at < call.started_at:
        updates["started_at"] = at
    await session.execute(
        t.cti_calls.update().where(t.cti_calls.c.call_id == event.call_id).values(updated_at=now, **updates)
    )
    call = (await session.execute(select(t.cti_calls).where(t.cti_calls.c.call_id == event.call_id))).one()
    accepted = None
    if event.event == "hangup" and event.wrap_up is not None:
        if call.state == "missed":
            raise DomainError(409, "a missed call is not a case; it was never answered and left no IVR message")
        accepted = await cases.accept_case(session, _case_from_call(call, event, cipher), None, cipher, tz, numbers)
        call = (await session.execute(select(t.cti_calls).where(t.cti_calls.c.call_id == event.call_id))).one()
    return Applied(call, accepted)


def _next_state(call: Row[Any], event: CallEvent) -> str:
    if event.event == "new_call":
        return "ringing"
    if event.event == "answered":
        # The hangup may have overtaken the answer: then the call was answered and is over.
        return "ended" if call.ended_at is not None else "answered"
    answered = call.answered_at is not None
    return "ended" if answered or event.ivr_message else "missed"


def _case_from_call(call: Row[Any], event: CallEvent, cipher: FieldCipher) -> CaseCreate:
    wrap = event.wrap_up
    assert wrap is not None
    if call.caller_enc is None:
        raise field_error("caller", "the caller's number is needed to open a case")
    return CaseCreate(
        kind=wrap.kind,
        channel=Channel.hotline,
        branch_code=wrap.branch_code,
        line_of_business=wrap.line_of_business,
        subject=wrap.subject,
        description=wrap.description,
        category=wrap.category,
        complainant_count=wrap.complainant_count,
        agent_code=wrap.agent_code,
        customer=CustomerIn(name=wrap.customer_name, phone=cipher.decrypt(call.caller_enc), policy_no=wrap.policy_no),
        source_ref=call.call_id,
        received_at=call.started_at,
        received_by=call.agent_id,
    )


ZAMMAD_EVENTS = {"newCall": "new_call", "answer": "answered", "hangup": "hangup"}
_DIGITS = re.compile(r"^\+?[0-9][0-9 -]{5,19}$")


def from_zammad(params: dict[str, Any]) -> dict[str, Any]:
    """Zammad's CTI push parameters as a ``CallEvent`` body (validated by the caller)."""
    direction = params.get("direction") or "in"
    customer, ours = ("from", "to") if direction == "in" else ("to", "from")
    users = params.get("user[]", params.get("user")) or []
    users = [users] if isinstance(users, str) else list(users)
    caller = params.get(customer)
    body: dict[str, Any] = {
        "event": ZAMMAD_EVENTS.get(params.get("event", ""), params.get("event")),
        "call_id": params.get("callId"),
        "direction": direction,
        "caller": caller if isinstance(caller, str) and _DIGITS.match(caller) else None,
        "called": params.get(ours) or None,
        "agent_id": (users[0] if users else None) or params.get("answeringNumber") or None,
        "queue": params.get("queue") or None,
        "cause": params.get("cause") or None,
    }
    return {k: v for k, v in body.items() if v is not None}


def call_out(call: Row[Any], accepted: cases.Accepted | None, case_no: str | None) -> dict[str, Any]:
    return {
        "call_id": call.call_id,
        "state": call.state,
        "caller": call.caller_masked,
        "agent_id": call.agent_id,
        "case_id": call.case_id,
        "case_no": case_no,
        "case_created": bool(accepted and accepted.created),
    }
