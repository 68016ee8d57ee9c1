"""Accepting and reading cases: plain functions over a session the caller commits.

A case is accepted once: a retried request (same ``Idempotency-Key``, or the same
channel and ``source_ref``) finds the case the first attempt made. Under
concurrent retries the unique constraints decide; the loser's transaction fails
and the route looks the winner up (``find_existing``).

A new case's rows (the case, its idempotency key and attachments, its outbox and
history rows, and the request's audit row) are deferred and then written together
by ``write_ahead`` at the end of ``accept_case``: on Postgres one statement, where
they were two round trips (the case, then the rest at commit). Written there, not
at commit, so that the unique constraints still decide inside ``accept_case``,
where the route can roll back and answer with the winner's case.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import DefaultClause, Row, bindparam, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from intake import history
from intake import tables as t
from intake.casenumbers import CaseNumbers
from intake.classify import major_reasons, suggest_category
from services import deferred, native
from services.crypto import FieldCipher, mask_id_number, mask_phone
from services.database import utcnow, write_ahead
from services.errors import DomainError
from services.outbox import publish
from shared.enums import CaseKind, CaseStatus, CaseTier, Channel
from shared.events import CaseCreated
from shared.intake import CaseCreate

#: What the database fills in on insert: the just-inserted case reads as its row would.
CASE_DEFAULTS: dict[str, Any] = {
    **{c.name: c.server_default.arg if isinstance(c.server_default, DefaultClause) else None for c in t.cases.c},
    "reopen_count": 0,
    "version": 1,
}
#: A new complaint by the same customer about the same policy within this window repeats the earlier one.
REPEAT_WINDOW = timedelta(days=30)


class CaseRecord(SimpleNamespace):
    """A case as just inserted: the same attributes as a row of ``cases``, no read-back."""


@dataclass(frozen=True)
class Accepted:
    case: Row[Any] | CaseRecord
    created: bool


def request_hash(body: CaseCreate) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def find_existing(session: AsyncSession, body: CaseCreate, idempotency_key: str | None) -> Row[Any] | None:
    """The case an earlier attempt of this request made, if any. The probes are reads
    that begin no transaction (``services.native.first``), so that a new case's write may
    still be its transaction's only statement (decision 0021)."""
    if idempotency_key:
        seen = await native.first(session, _KEY_PROBE, {"key": idempotency_key})
        if seen is not None:
            if seen[0] != request_hash(body):
                raise DomainError(409, "Idempotency-Key was already used with a different request body")
            return await get_case_row(session, seen[1])
    if body.source_ref:
        found = await native.first(session, _SOURCE_PROBE, {"channel": body.channel, "source_ref": body.source_ref})
        return await get_case_row(session, found[0]) if found is not None else None
    return None


_KEY_PROBE = select(t.idempotency_keys.c.request_hash, t.idempotency_keys.c.case_id).where(
    t.idempotency_keys.c.key == bindparam("key")
)
_SOURCE_PROBE = select(t.cases.c.id).where(
    t.cases.c.channel == bindparam("channel"), t.cases.c.source_ref == bindparam("source_ref")
)


async def accept_case(
    session: AsyncSession,
    body: CaseCreate,
    idempotency_key: str | None,
    cipher: FieldCipher,
    tz: ZoneInfo,
    numbers: CaseNumbers,
) -> Accepted:
    """A new case, once: classified (major reasons, tier, suggested category), linked to
    the same customer's earlier complaint, stored with its personal data encrypted, its
    attachments and idempotency key, announced (``case.created``) and put in its history."""
    existing = await find_existing(session, body, idempotency_key)
    if existing is not None:
        return Accepted(existing, created=False)
    now = utcnow()
    received_at = body.received_at or now
    phone_hash = cipher.lookup_hash(body.customer.phone)
    id_hash = cipher.lookup_hash(body.customer.id_number) if body.customer.id_number else None
    repeat_of = (
        await find_repeat_of(session, phone_hash, id_hash, body.customer.policy_no, received_at)
        if body.kind is CaseKind.complaint
        else None
    )
    case_no = await numbers.next(session, body.branch_code, received_at.astimezone(tz))
    values = case_values(body, cipher, (phone_hash, id_hash), case_no, repeat_of, received_at, now)
    case_id: uuid.UUID = values["id"]
    deferred.defer(session, t.cases, [values])
    _file_with_it(session, body, idempotency_key, case_id, now)
    # The event is a projection of the row onto the contract's fields: no personal data or free text.
    payload = CaseCreated(**{name: values[name] for name in CaseCreated.model_fields})
    event = await publish(session, t.runtime, payload, case_id, now)
    reasons = values["major_reasons"]
    details = {"channel": body.channel, "major_reasons": reasons, "repeat_of": str(repeat_of) if repeat_of else None}
    history.record(session, case_id, "accept", body.received_by, None, CaseStatus.accepted, details, event, now)
    links_call = body.channel is Channel.hotline and bool(body.source_ref)
    # The request's last write, unless a call is linked after it: alone in its
    # transaction, it commits by itself (decision 0021).
    await write_ahead(session, final=not links_call)
    if links_call:  # an agent logging a call: the call links to it
        await session.execute(
            t.cti_calls.update()
            .where(t.cti_calls.c.call_id == body.source_ref, t.cti_calls.c.case_id.is_(None))
            .values(case_id=case_id, updated_at=now)
        )
    return Accepted(CaseRecord(**{**CASE_DEFAULTS, **values}), created=True)


def case_values(
    body: CaseCreate,
    cipher: FieldCipher,
    hashes: tuple[str, str | None],
    case_no: str,
    repeat_of: uuid.UUID | None,
    received_at: datetime,
    now: datetime,
) -> dict[str, Any]:
    """The ``cases`` row of a new case (pure): classified, personal data encrypted, hashed
    for lookup (``hashes``: the phone's and ID number's, computed once for the repeat
    probe) and masked for display."""
    text = f"{body.subject}\n{body.description}"
    reasons = major_reasons(text, body.channel, body.complainant_count) if body.kind is CaseKind.complaint else []
    category = body.category or suggest_category(text)
    customer, identity = body.customer, body.identity
    return dict(
        id=uuid.uuid4(),
        case_no=case_no,
        status=CaseStatus.accepted,
        kind=body.kind,
        tier=_tier(body, bool(reasons)),
        category=category,
        category_suggested=body.category is None and category is not None,
        channel=body.channel,
        branch_code=body.branch_code,
        line_of_business=body.line_of_business,
        subject=body.subject,
        description=body.description,
        customer_name=customer.name,
        phone_enc=cipher.encrypt(customer.phone),
        phone_hash=hashes[0],
        phone_masked=mask_phone(customer.phone),
        id_number_enc=cipher.encrypt(customer.id_number) if customer.id_number else None,
        id_number_hash=hashes[1],
        id_number_masked=mask_id_number(customer.id_number) if customer.id_number else None,
        policy_no=customer.policy_no,
        policy_nos=list(customer.policy_nos),
        complainant_count=body.complainant_count,
        agent_code=body.agent_code,
        source_ref=body.source_ref,
        major_reasons=reasons,
        received_by=body.received_by,
        identity_verified_at=now if identity else None,
        identity_verified_by=identity.verified_by if identity else None,
        identity_document_type=identity.document_type if identity else None,
        repeat_of=repeat_of,
        received_at=received_at,
        created_at=now,
        updated_at=now,
    )


def _file_with_it(
    session: AsyncSession, body: CaseCreate, idempotency_key: str | None, case_id: uuid.UUID, now: datetime
) -> None:
    """What arrives with a new case, deferred with it: its idempotency key and its attachments."""
    if idempotency_key:
        row = {"key": idempotency_key, "request_hash": request_hash(body), "case_id": case_id, "created_at": now}
        deferred.defer(session, t.idempotency_keys, [row])
    if body.attachments:
        deferred.defer(
            session,
            t.attachments,
            [
                {
                    **a.model_dump(exclude={"added_by"}),
                    "id": uuid.uuid4(),
                    "case_id": case_id,
                    "added_by": a.added_by or body.received_by or body.channel,
                    "added_at": now,
                }
                for a in body.attachments
            ],
        )


def _tier(body: CaseCreate, major: bool) -> CaseTier | None:
    """Grievances have none; inquiries default to general; a complaint is major when detected."""
    if body.kind is CaseKind.grievance:
        return None
    if body.kind is CaseKind.complaint and major:
        return CaseTier.major
    return body.tier or CaseTier.general


async def find_repeat_of(
    session: AsyncSession, phone_hash: str, id_hash: str | None, policy_no: str | None, received_at: datetime
) -> uuid.UUID | None:
    """The latest complaint of the same customer about the same policy within the window.

    One probe per identifier (phone, ID number), each an index walk newest-first that
    stops at the first match, so a customer with a long history costs no more than a
    new one; both probes go in one statement (one round trip), the later match wins."""
    query = _repeat_probe(id_hash is not None, policy_no is not None)
    values = {
        "phone": phone_hash,
        "id_number": id_hash,
        "policy": policy_no,
        "since": received_at - REPEAT_WINDOW,
        "until": received_at,
    }
    found = await native.first(session, query, values)  # no BEGIN: see find_existing
    return found[0] if found is not None else None


@cache
def _repeat_probe(by_id_number: bool, by_policy: bool) -> Any:
    """The probe statement, built once per shape with bound parameters (building it per
    case cost a third of accepting a complaint: issue 14's profile)."""
    c = t.cases.c
    same_policy = c.policy_no == bindparam("policy") if by_policy else c.policy_no.is_(None)
    identifiers = [(c.phone_hash, "phone"), *([(c.id_number_hash, "id_number")] if by_id_number else [])]
    probes = [
        select(c.received_at, c.id)
        .where(
            column == bindparam(name),
            same_policy,
            c.kind == CaseKind.complaint,
            c.received_at >= bindparam("since"),
            c.received_at <= bindparam("until"),
        )
        .order_by(c.received_at.desc())
        .limit(1)
        .subquery()
        for column, name in identifiers
    ]
    found = union_all(*(select(probe) for probe in probes)).subquery()
    return select(found.c.id).order_by(found.c.received_at.desc(), found.c.id.desc()).limit(1)


async def get_case_row(session: AsyncSession, case_id: uuid.UUID, *, for_update: bool = False) -> Row[Any] | None:
    query = select(t.cases).where(t.cases.c.id == case_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).first()
