"""Reading cases: lists with filters and cursors, and the case as staff see it.

Personal data is shown masked; policy details are withheld until the customer's
identity has been verified (DOMAIN.md section 6).
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from intake import tables as t
from services.errors import field_error
from shared.enums import CaseStatus
from shared.intake import ApprovalOut, AttachmentOut, CaseDetailOut, CaseOut, CustomerOut, IdentityOut, NoteOut


@dataclass(frozen=True)
class CaseFilters:
    status: str | None = None
    kind: str | None = None
    tier: str | None = None
    category: str | None = None
    channel: str | None = None
    branch_code: str | None = None
    scope: Any = field(default_factory=true)  # the caller's branch scope (services.auth.scope_clause)
    agent_code: str | None = None
    received_from: datetime | None = None
    received_to: datetime | None = None
    is_repeat: bool | None = None
    q: str | None = None
    case_no: str | None = None
    phone_hash: str | None = None  # the keyed hash of the phone searched for, never the phone
    id_number_hash: str | None = None
    policy_no: str | None = None
    customer_name: str | None = None  # a prefix of the name
    assignee: str | None = None
    owner: str | None = None
    open: bool | None = None  # True: not closed


EQUALITY_FILTERS = (
    "status",
    "kind",
    "tier",
    "category",
    "channel",
    "branch_code",
    "agent_code",
    "case_no",
    "phone_hash",
    "id_number_hash",
    "policy_no",
    "assignee",
    "owner",
)


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def list_cases(
    session: AsyncSession, filters: CaseFilters, limit: int, cursor: str | None
) -> tuple[list[Row[Any]], str | None]:
    """Newest received first; keyset pagination on (received_at, id) so pages never shift."""
    query = select(t.cases).where(filters.scope)
    for name in EQUALITY_FILTERS:
        value = getattr(filters, name)
        if value is not None:
            query = query.where(t.cases.c[name] == value)
    if filters.received_from:
        query = query.where(t.cases.c.received_at >= filters.received_from)
    if filters.received_to:
        query = query.where(t.cases.c.received_at < filters.received_to)
    if filters.is_repeat is not None:
        query = query.where(t.cases.c.repeat_of.is_not(None) if filters.is_repeat else t.cases.c.repeat_of.is_(None))
    if filters.q:
        query = query.where(t.cases.c.subject.ilike(f"%{_like_escaped(filters.q)}%", escape="\\"))
    if filters.open is not None:
        closed = t.cases.c.status == CaseStatus.closed
        query = query.where(~closed if filters.open else closed)
    if filters.customer_name:
        query = query.where(t.cases.c.customer_name.ilike(f"{_like_escaped(filters.customer_name)}%", escape="\\"))
    if cursor:
        after_at, after_id = decode_cursor(cursor)
        query = query.where(
            or_(
                t.cases.c.received_at < after_at,
                and_(t.cases.c.received_at == after_at, t.cases.c.id < after_id),
            )
        )
    query = query.order_by(t.cases.c.received_at.desc(), t.cases.c.id.desc()).limit(limit + 1)
    rows = list((await session.execute(query)).all())
    next_cursor = encode_cursor(rows[limit - 1]) if len(rows) > limit else None
    return rows[:limit], next_cursor


def encode_cursor(row: Any) -> str:
    raw = json.dumps([row.received_at.isoformat(), str(row.id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        at, case_id = json.loads(base64.urlsafe_b64decode(padded))
        return datetime.fromisoformat(at), uuid.UUID(case_id)
    except (ValueError, TypeError) as exc:
        raise field_error("cursor", "invalid cursor", "query") from exc


def _case_fields(row: Any, reveal: Any) -> dict[str, Any]:
    """The case's columns, read by the API models by name, and the two parts that are not
    columns: the customer (masked unless revealed; policies withheld until the identity
    is verified) and the identity check."""
    verified = row.identity_verified_at is not None
    phone = reveal.decrypt(row.phone_enc) if reveal else row.phone_masked
    id_number = reveal.decrypt(row.id_number_enc) if reveal and row.id_number_enc else row.id_number_masked
    customer = CustomerOut(
        name=row.customer_name,
        phone=phone,
        id_number=id_number,
        policy_no=row.policy_no if verified else None,
        policy_nos=list(row.policy_nos) if verified else [],
        policy_details_withheld=not verified and bool(row.policy_no or row.policy_nos),
    )
    identity = IdentityOut(
        verified=verified,
        document_type=row.identity_document_type,
        verified_by=row.identity_verified_by,
        verified_at=row.identity_verified_at,
    )
    columns = dict(row._mapping) if isinstance(row, Row) else vars(row)
    return {**columns, "customer": customer, "identity": identity}


def to_out(row: Any, reveal: Any = None) -> CaseOut:
    """The case as shown to staff: personal data masked (in clear only with ``reveal``,
    the cipher, for a caller allowed and asking), policies withheld until verified.
    ``row`` is a row of ``cases`` or the record of a case just accepted."""
    return CaseOut.model_validate(_case_fields(row, reveal))


async def to_detail(session: AsyncSession, row: Any, allowed_actions: list[str], reveal: Any = None) -> CaseDetailOut:
    """The case with its notes, attachments and approvals, and what may be done next."""
    notes = await session.execute(select(t.notes).where(t.notes.c.case_id == row.id).order_by(t.notes.c.id))
    files = await session.execute(
        select(t.attachments).where(t.attachments.c.case_id == row.id).order_by(t.attachments.c.added_at)
    )
    approvals = await session.execute(
        select(t.approvals).where(t.approvals.c.case_id == row.id).order_by(t.approvals.c.id)
    )
    return CaseDetailOut.model_validate(
        {
            **_case_fields(row, reveal),
            "notes": [NoteOut.model_validate(n, from_attributes=True) for n in notes],
            "attachments": [AttachmentOut.model_validate(f, from_attributes=True) for f in files],
            "approvals": [ApprovalOut.model_validate(a, from_attributes=True) for a in approvals],
            "allowed_actions": allowed_actions,
        }
    )
