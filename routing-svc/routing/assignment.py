"""Who handles a case: rule matching, unit resolution, assignee choice, transfers.

Plain functions over a session the caller commits. The first assignment records
the first responder (首问责任人) as owner; a transfer changes the owner only when
ownership is explicitly handed over (DOMAIN.md section 3).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from routing import tables as t
from routing.org import Org
from services.database import insert_ignoring_conflicts, utcnow
from services.errors import DomainError
from services.logging import correlation_id
from services.outbox import enqueue
from shared.api import AssignmentOut, TransferCreate, TransferOut
from shared.enums import Channel, TransferKind
from shared.events import CaseCreated, CaseTransferred, new_event

PRODUCER = "routing-svc"


async def load_seed(session: AsyncSession, path: Path) -> bool:
    """Load a sample organisation and rules into empty tables; a no-op otherwise."""
    if await session.scalar(select(func.count()).select_from(t.branches)):
        return False
    data = json.loads(path.read_text(encoding="utf-8"))
    await session.execute(t.branches.insert(), data["branches"])
    await session.execute(t.units.insert(), [{**u, "code": f"{u['branch_code']}.{u['team']}"} for u in data["units"]])
    await session.execute(t.staff.insert(), data["staff"])
    fields = ("kind", "tier", "category", "branch_code")
    await session.execute(t.rules.insert(), [{**{f: None for f in fields}, **r} for r in data["rules"]])
    return True


def _least_loaded(unit: str):  # type: ignore[no-untyped-def]
    """The on-duty member of the unit with the fewest open cases; ties by id (stable)."""
    return (
        select(t.staff.c.id)
        .where(t.staff.c.unit_code == unit, t.staff.c.on_duty.is_(True))
        .order_by(t.staff.c.open_cases, t.staff.c.id)
        .limit(1)
    )


async def least_loaded(session: AsyncSession, unit: str) -> str | None:
    return await session.scalar(_least_loaded(unit))


async def charge_least_loaded(session: AsyncSession, unit: str) -> str | None:
    """Pick the least-loaded member and count the case against them, in one statement."""
    return await session.scalar(
        t.staff.update()
        .where(t.staff.c.id == _least_loaded(unit).scalar_subquery())
        .values(open_cases=t.staff.c.open_cases + 1)
        .returning(t.staff.c.id)
    )


async def _move_load(session: AsyncSession, from_person: str | None, to_person: str | None) -> None:
    if from_person == to_person:
        return
    for person, delta in ((from_person, -1), (to_person, 1)):
        if person:
            await session.execute(
                t.staff.update().where(t.staff.c.id == person).values(open_cases=t.staff.c.open_cases + delta)
            )


#: Channels where nobody at the company took the request in person (DOMAIN.md section 3).
UNATTENDED_CHANNELS = frozenset({Channel.letter, Channel.online, Channel.email, Channel.fax})


def first_responder(case: CaseCreated, org: Org, assignee: str | None) -> str | None:
    """首问责任人: who received the request; for an unaddressed letter or online complaint,
    the branch's designated receiver; otherwise the first assignee."""
    if case.received_by:
        return case.received_by
    if case.channel in UNATTENDED_CHANNELS:
        return org.designated_receiver(case.branch_code) or assignee
    return assignee


async def assign_new_case(
    session: AsyncSession, case_id: uuid.UUID, case: CaseCreated, org: Org, default_unit: str
) -> bool:
    """First assignment of a case; a second call for the same case changes nothing."""
    decision = org.decide(case, default_unit)
    claimed = await session.execute(
        insert_ignoring_conflicts(session, t.assignments, ["case_id"])
        .values(
            case_id=case_id,
            branch_code=case.branch_code,
            unit=decision.unit,
            rule_id=decision.rule_id,
            updated_at=utcnow(),
        )
        .returning(t.assignments.c.case_id)
    )
    if claimed.first() is None:
        return False
    assignee = await charge_least_loaded(session, decision.unit)
    owner = first_responder(case, org, assignee)
    await session.execute(
        t.assignments.update().where(t.assignments.c.case_id == case_id).values(assignee=assignee, owner=owner)
    )
    await _record(
        session,
        case_id,
        case.branch_code,
        TransferKind.assign,
        None,
        decision.unit,
        None,
        assignee,
        owner,
        decision.reason,
        decision.rule_id,
    )
    return True


async def transfer(session: AsyncSession, case_id: uuid.UUID, body: TransferCreate) -> None:
    current = (
        await session.execute(select(t.assignments).where(t.assignments.c.case_id == case_id).with_for_update())
    ).first()
    if current is None:
        raise DomainError(404, "no assignment for this case (unknown case, or not yet routed)")
    if not await session.scalar(select(t.units.c.code).where(t.units.c.code == body.to_unit)):
        raise DomainError(
            422, [{"loc": ["body", "to_unit"], "field": "to_unit", "msg": f"unknown unit {body.to_unit}"}]
        )
    to_assignee = body.to_assignee
    if to_assignee is not None:
        member = await session.scalar(
            select(t.staff.c.id).where(t.staff.c.id == to_assignee, t.staff.c.unit_code == body.to_unit)
        )
        if member is None:
            msg = f"{to_assignee} is not a member of {body.to_unit}"
            raise DomainError(422, [{"loc": ["body", "to_assignee"], "field": "to_assignee", "msg": msg}])
    else:
        to_assignee = await least_loaded(session, body.to_unit)
    owner = to_assignee if body.hand_over_ownership or current.owner is None else current.owner
    await session.execute(
        t.assignments.update()
        .where(t.assignments.c.case_id == case_id)
        .values(unit=body.to_unit, assignee=to_assignee, owner=owner, rule_id=None, updated_at=utcnow())
    )
    await _move_load(session, current.assignee, to_assignee)
    await _record(
        session,
        case_id,
        current.branch_code,
        body.kind,
        current.unit,
        body.to_unit,
        current.assignee,
        to_assignee,
        owner,
        body.reason,
        None,
    )


async def _record(
    session: AsyncSession,
    case_id: uuid.UUID,
    branch_code: str,
    kind: TransferKind,
    from_unit: str | None,
    to_unit: str,
    from_assignee: str | None,
    to_assignee: str | None,
    owner: str | None,
    reason: str,
    rule_id: str | None,
) -> None:
    """The history row and the ``case.transferred`` event, in the caller's transaction."""
    now = utcnow()
    await session.execute(
        t.transfers.insert().values(
            case_id=case_id,
            kind=kind,
            from_unit=from_unit,
            to_unit=to_unit,
            from_assignee=from_assignee,
            to_assignee=to_assignee,
            reason=reason,
            rule_id=rule_id,
            at=now,
        )
    )
    payload = CaseTransferred(
        transfer_kind=kind,
        branch_code=branch_code,
        from_unit=from_unit,
        to_unit=to_unit,
        from_assignee=from_assignee,
        to_assignee=to_assignee,
        owner=owner,
        reason=reason,
        rule_id=rule_id,
    )
    event = new_event(payload, case_id=case_id, producer=PRODUCER, correlation_id=correlation_id.get(), occurred_at=now)
    await enqueue(session, t.runtime, event)


async def get_assignment(session: AsyncSession, case_id: uuid.UUID) -> AssignmentOut | None:
    current = (await session.execute(select(t.assignments).where(t.assignments.c.case_id == case_id))).first()
    if current is None:
        return None
    history = (
        await session.execute(select(t.transfers).where(t.transfers.c.case_id == case_id).order_by(t.transfers.c.id))
    ).all()
    return AssignmentOut(
        case_id=case_id,
        branch_code=current.branch_code,
        unit=current.unit,
        assignee=current.assignee,
        owner=current.owner,
        history=[
            TransferOut(
                id=h.id,
                kind=h.kind,
                from_unit=h.from_unit,
                to_unit=h.to_unit,
                from_assignee=h.from_assignee,
                to_assignee=h.to_assignee,
                reason=h.reason,
                rule_id=h.rule_id,
                at=h.at,
            )
            for h in history
        ],
    )
