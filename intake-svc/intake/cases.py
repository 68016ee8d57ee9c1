"""Accepting and reading cases: plain functions over a session the caller commits.

A case is accepted once: a retried request (same ``Idempotency-Key``, or the same
channel and ``source_ref``) finds the case the first attempt made. Under
concurrent retries the unique constraints decide; the loser's transaction fails
and the route looks the winner up (``find_existing``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from sqlalchemy import Row, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from intake import tables as t
from intake.major import detect_major
from services.crypto import FieldCipher, mask_id_number, mask_phone
from services.database import upsert, utcnow
from services.errors import DomainError
from services.logging import correlation_id
from services.outbox import enqueue
from shared.api import CaseCreate, CaseOut, CustomerOut
from shared.enums import CaseKind, CaseStatus, CaseTier
from shared.events import CaseCreated, new_event

PRODUCER = "intake-svc"


class CaseRecord(SimpleNamespace):
    """A case as just inserted: the same attributes as a row of ``cases``, no read-back."""


@dataclass(frozen=True)
class Accepted:
    case: Row | CaseRecord  # type: ignore[type-arg]
    created: bool


def request_hash(body: CaseCreate) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def find_existing(session: AsyncSession, body: CaseCreate, idempotency_key: str | None) -> Row | None:  # type: ignore[type-arg]
    """The case an earlier attempt of this request made, if any."""
    if idempotency_key:
        seen = (
            await session.execute(select(t.idempotency_keys).where(t.idempotency_keys.c.key == idempotency_key))
        ).first()
        if seen is not None:
            if seen.request_hash != request_hash(body):
                raise DomainError(409, "Idempotency-Key was already used with a different request body")
            return await get_case_row(session, seen.case_id)
    if body.source_ref:
        return (
            await session.execute(
                select(t.cases).where(t.cases.c.channel == body.channel, t.cases.c.source_ref == body.source_ref)
            )
        ).first()
    return None


async def accept_case(
    session: AsyncSession,
    body: CaseCreate,
    idempotency_key: str | None,
    cipher: FieldCipher,
    tz: ZoneInfo,
) -> Accepted:
    existing = await find_existing(session, body, idempotency_key)
    if existing is not None:
        return Accepted(existing, created=False)
    now = utcnow()
    received_at = body.received_at or now
    reasons = detect_major(body) if body.kind is CaseKind.complaint else []
    tier = body.tier or _default_tier(body.kind, bool(reasons))
    if reasons and tier is CaseTier.general:
        tier = CaseTier.major
    case_id = uuid.uuid4()
    case_no = await _next_case_no(session, body.branch_code, received_at.astimezone(tz))
    customer = body.customer
    values = dict(
        id=case_id,
        case_no=case_no,
        status=CaseStatus.accepted,
        kind=body.kind,
        tier=tier,
        category=body.category,
        channel=body.channel,
        branch_code=body.branch_code,
        line_of_business=body.line_of_business,
        subject=body.subject,
        description=body.description,
        customer_name=customer.name,
        phone_enc=cipher.encrypt(customer.phone),
        phone_hash=cipher.lookup_hash(customer.phone),
        phone_masked=mask_phone(customer.phone),
        id_number_enc=cipher.encrypt(customer.id_number) if customer.id_number else None,
        id_number_hash=cipher.lookup_hash(customer.id_number) if customer.id_number else None,
        id_number_masked=mask_id_number(customer.id_number) if customer.id_number else None,
        policy_no=customer.policy_no,
        complainant_count=body.complainant_count,
        agent_code=body.agent_code,
        source_ref=body.source_ref,
        major_reasons=reasons,
        received_at=received_at,
        created_at=now,
        updated_at=now,
    )
    await session.execute(t.cases.insert().values(values))
    if idempotency_key:
        await session.execute(
            t.idempotency_keys.insert().values(
                key=idempotency_key, request_hash=request_hash(body), case_id=case_id, created_at=now
            )
        )
    # The event is a projection of the row onto the contract's fields: no personal data or free text.
    payload = CaseCreated(**{name: values[name] for name in CaseCreated.model_fields})
    event = new_event(payload, case_id=case_id, producer=PRODUCER, correlation_id=correlation_id.get(), occurred_at=now)
    await enqueue(session, t.runtime, event)
    return Accepted(CaseRecord(**values), created=True)


def _default_tier(kind: CaseKind, major: bool) -> CaseTier | None:
    if kind is CaseKind.grievance:
        return None
    return CaseTier.major if major else CaseTier.general


async def _next_case_no(session: AsyncSession, branch_code: str, local_received: datetime) -> str:
    """``<branch>-<yyyymmdd>-<nnnnn>``: a human number, unique per branch and day."""
    day = local_received.strftime("%Y%m%d")
    stmt = upsert(session, t.case_counters).values(branch_code=branch_code, day=day, last=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=["branch_code", "day"], set_={"last": t.case_counters.c.last + 1}
    ).returning(t.case_counters.c.last)
    number = (await session.execute(stmt)).scalar_one()
    return f"{branch_code}-{day}-{number:05d}"


async def get_case_row(session: AsyncSession, case_id: uuid.UUID) -> Row | None:  # type: ignore[type-arg]
    return (await session.execute(select(t.cases).where(t.cases.c.id == case_id))).first()


@dataclass(frozen=True)
class CaseFilters:
    status: str | None = None
    kind: str | None = None
    tier: str | None = None
    category: str | None = None
    channel: str | None = None
    branch_code: str | None = None
    agent_code: str | None = None
    received_from: datetime | None = None
    received_to: datetime | None = None


async def list_cases(
    session: AsyncSession, filters: CaseFilters, limit: int, cursor: str | None
) -> tuple[list[Row], str | None]:  # type: ignore[type-arg]
    """Newest received first; keyset pagination on (received_at, id) so pages never shift."""
    query = select(t.cases)
    for name in ("status", "kind", "tier", "category", "channel", "branch_code", "agent_code"):
        value = getattr(filters, name)
        if value is not None:
            query = query.where(t.cases.c[name] == value)
    if filters.received_from:
        query = query.where(t.cases.c.received_at >= filters.received_from)
    if filters.received_to:
        query = query.where(t.cases.c.received_at < filters.received_to)
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


def encode_cursor(row: Row) -> str:  # type: ignore[type-arg]
    raw = json.dumps([row.received_at.isoformat(), str(row.id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        at, case_id = json.loads(base64.urlsafe_b64decode(padded))
        return datetime.fromisoformat(at), uuid.UUID(case_id)
    except (ValueError, TypeError) as exc:
        raise DomainError(422, [{"loc": ["query", "cursor"], "field": "cursor", "msg": "invalid cursor"}]) from exc


def to_out(row: Row | CaseRecord) -> CaseOut:  # type: ignore[type-arg]
    """The case as shown to staff: personal data masked."""
    return CaseOut(
        id=row.id,
        case_no=row.case_no,
        status=row.status,
        kind=row.kind,
        tier=row.tier,
        category=row.category,
        channel=row.channel,
        branch_code=row.branch_code,
        line_of_business=row.line_of_business,
        subject=row.subject,
        description=row.description,
        customer=CustomerOut(
            name=row.customer_name,
            phone=row.phone_masked,
            id_number=row.id_number_masked,
            policy_no=row.policy_no,
        ),
        complainant_count=row.complainant_count,
        agent_code=row.agent_code,
        source_ref=row.source_ref,
        major_reasons=list(row.major_reasons or []),
        received_at=row.received_at,
        created_at=row.created_at,
    )
