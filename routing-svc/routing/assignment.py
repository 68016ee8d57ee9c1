"""Who handles a case: first assignment, the queue, transfers, and lifecycle changes.

Plain functions over a session the caller commits. The first responder (首问责任人)
is recorded at the first assignment and stays the owner through transfers unless
ownership is explicitly handed over (DOMAIN.md section 3). Every change of hands
is a history row and a ``case.transferred`` event in the same transaction.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from routing import capacity
from routing import tables as t
from routing.org import CaseFacts, Org
from services.database import insert_ignoring_conflicts, utcnow
from services.errors import DomainError, field_error
from services.outbox import publish
from shared.enums import Channel, TransferKind
from shared.events import CaseCreated, CaseTransferred
from shared.routing import TransferCreate

#: Channels where nobody at the company took the request in person (DOMAIN.md section 3).
UNATTENDED_CHANNELS = frozenset({Channel.letter, Channel.online, Channel.email, Channel.fax})
#: A stored assignment for a case that closed before routing saw it being created.
NO_UNIT = "-"


def first_responder(case: CaseCreated, org: Org, assignee: str | None) -> str | None:
    """Who received the request; for an unaddressed letter or online complaint, the
    branch's designated receiver; otherwise the first assignee."""
    if case.received_by:
        return case.received_by
    if case.channel in UNATTENDED_CHANNELS:
        return org.designated_receiver(case.branch_code) or assignee
    return assignee


async def place(
    session: AsyncSession, org: Org, unit: str, facts: CaseFacts, now: datetime, person: str | None = None
) -> tuple[str | None, int]:
    """Give the case to ``person`` (an explicit choice, even beyond capacity) or to the best
    member of ``unit`` with room; (None, w) means it waits in the unit's queue."""
    w = capacity.weight(facts.kind, facts.tier, org.weights.get(unit))
    if person is not None:
        members = {p.id: p for p in await capacity.members(session, unit)}
        await capacity.charge(session, members[person], w, now, force=True)
        return person, w
    return await capacity.take_best(session, unit, w, facts.category, facts.line_of_business, now), w


async def assign_new_case(
    session: AsyncSession, case_id: uuid.UUID, case: CaseCreated, org: Org, default_unit: str
) -> bool:
    """First assignment of a case; a second call for the same case changes nothing."""
    facts = CaseFacts.of(case)
    decision = org.decide(facts, default_unit)
    now = utcnow()
    claimed = await session.execute(
        insert_ignoring_conflicts(session, t.assignments, ["case_id"])
        .values(
            case_id=case_id,
            branch_code=case.branch_code,
            unit=decision.unit,
            rule_id=decision.rule_id,
            updated_at=now,
            priority=decision.priority,
            **facts_columns(facts),
        )
        .returning(t.assignments.c.case_id)
    )
    if claimed.first() is None:
        return False
    assignee, w = await place(session, org, decision.unit, facts, now)
    owner = first_responder(case, org, assignee)
    await session.execute(
        t.assignments.update()
        .where(t.assignments.c.case_id == case_id)
        .values(assignee=assignee, owner=owner, weight=w, queued_since=None if assignee else now)
    )
    from_unit = None
    if decision.work_order and case.received_by:
        from_unit = await session.scalar(select(t.staff.c.unit_code).where(t.staff.c.id == case.received_by))
    kind = TransferKind.work_order if decision.work_order else TransferKind.assign
    await record_transfer(
        session,
        case_id,
        case.branch_code,
        kind,
        from_unit,
        decision.unit,
        case.received_by if from_unit else None,
        assignee,
        owner,
        decision.reason,
        decision.rule_id,
        priority=decision.priority,
        inform=list(decision.inform),
    )
    return True


def facts_columns(facts: CaseFacts) -> dict[str, Any]:
    return {k: getattr(facts, k) for k in ("kind", "tier", "category", "channel", "line_of_business", "agent_code")}


async def transfer(session: AsyncSession, case_id: uuid.UUID, body: TransferCreate, org: Org) -> str:
    """Move a case; returns the unit it left (whose queue may now drain)."""
    current = await locked(session, case_id)
    if current is None or current.unit == NO_UNIT:
        raise DomainError(404, "no assignment for this case (unknown case, or not yet routed)")
    if current.status != "open":
        raise DomainError(409, "the case is closed; reopen it first")
    to_unit, to_assignee = body.to_unit, body.to_assignee
    if body.kind is TransferKind.return_ and to_unit is None:
        to_unit, to_assignee = await _sender(session, case_id, current.unit)
    elif body.kind is TransferKind.escalate and to_unit is None:
        to_unit = org.higher_unit(current.unit)
        if to_unit is None:
            raise DomainError(409, f"{current.unit} has no higher unit to escalate to")
    if to_unit is None:
        raise field_error("to_unit", "where to move the case is required for this kind of transfer")
    if to_unit not in org.units:
        raise field_error("to_unit", f"unknown unit {to_unit}")
    if to_assignee is not None and to_assignee not in {p.id for p in await capacity.members(session, to_unit)}:
        raise field_error("to_assignee", f"{to_assignee} is not a member of {to_unit}")
    now = utcnow()
    await capacity.release(session, current.assignee, current.weight)
    assignee, w = await place(session, org, to_unit, CaseFacts.of(current), now, to_assignee)
    owner = assignee if (body.hand_over_ownership or current.owner is None) else current.owner
    await session.execute(
        t.assignments.update()
        .where(t.assignments.c.case_id == case_id)
        .values(
            unit=to_unit,
            assignee=assignee,
            owner=owner,
            weight=w,
            rule_id=None,
            updated_at=now,
            queued_since=None if assignee else now,
        )
    )
    await record_transfer(
        session,
        case_id,
        current.branch_code,
        body.kind,
        current.unit,
        to_unit,
        current.assignee,
        assignee,
        owner,
        body.reason,
        None,
        priority=current.priority,
    )
    return str(current.unit)


async def _sender(session: AsyncSession, case_id: uuid.UUID, unit: str) -> tuple[str, str | None]:
    """Where the case came from into ``unit``: the target of a return."""
    last = (
        await session.execute(
            select(t.transfers.c.from_unit, t.transfers.c.from_assignee)
            .where(
                t.transfers.c.case_id == case_id, t.transfers.c.to_unit == unit, t.transfers.c.from_unit.is_not(None)
            )
            .order_by(t.transfers.c.id.desc())
            .limit(1)
        )
    ).first()
    if last is None:
        raise DomainError(409, "the case was not transferred into this unit; there is nobody to return it to")
    return last.from_unit, last.from_assignee


async def locked(session: AsyncSession, case_id: uuid.UUID) -> Row[Any] | None:
    query = select(t.assignments).where(t.assignments.c.case_id == case_id).with_for_update()
    return (await session.execute(query)).first()


def waiting_in(unit: str) -> Select[Any]:
    """The cases waiting in a unit's queue, in the order they are served: most urgent, then oldest."""
    return (
        select(t.assignments)
        .where(
            t.assignments.c.unit == unit, t.assignments.c.queued_since.is_not(None), t.assignments.c.status == "open"
        )
        .order_by(t.assignments.c.priority, t.assignments.c.queued_since)
    )


async def drain_queue(session: AsyncSession, unit: str, org: Org, limit: int = 100) -> int:
    """Assign waiting cases of a unit to whoever has room now.

    The unit's people are read once, and the queue without locks; only a case someone
    has room for is then locked (skipping one that another drain holds) and charged. A
    queue nobody can take from therefore costs two reads and writes nothing. The queue
    worker (``routing.queues``) runs this every few seconds for every unit with waiting
    cases: it used to lock the first 100 and read everyone's load again for each of
    them, 2% of a core at rest with ~3,000 cases waiting (``bench.system_bench`` after
    its warm-up), where issue 14 allows 0.5%."""
    people = await capacity.members(session, unit)
    if not any(p.on_duty and p.remaining > 0 for p in people):
        return 0
    assigned = 0
    for seen in (await session.execute(waiting_in(unit).limit(limit))).all():
        if not capacity.ranked(people, seen.weight, seen.category, seen.line_of_business):
            continue  # nobody has room for it: a lighter case further back may still fit
        held = waiting_in(unit).where(t.assignments.c.case_id == seen.case_id).with_for_update(skip_locked=True)
        row = (await session.execute(held)).first()  # what follows reads the locked row, not the unlocked one
        if row is None:
            continue  # another drain holds it, or it left the queue meanwhile
        now = utcnow()
        assignee = await capacity.take_from(session, people, row.weight, row.category, row.line_of_business, now)
        if assignee is None:
            continue  # someone else took the room meanwhile
        owner = row.owner or assignee
        await session.execute(
            t.assignments.update()
            .where(t.assignments.c.case_id == row.case_id)
            .values(assignee=assignee, owner=owner, queued_since=None, updated_at=now)
        )
        await record_transfer(
            session,
            row.case_id,
            row.branch_code,
            TransferKind.assign,
            unit,
            unit,
            None,
            assignee,
            owner,
            "assigned from the queue: capacity freed",
            row.rule_id,
            priority=row.priority,
        )
        assigned += 1
    return assigned


async def queued_units(session: AsyncSession) -> list[str]:
    rows = await session.scalars(
        select(t.assignments.c.unit)
        .where(t.assignments.c.queued_since.is_not(None), t.assignments.c.status == "open")
        .distinct()
    )
    return list(rows)


async def record_transfer(
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
    *,
    priority: int = 5,
    inform: list[str] | None = None,
) -> None:
    """The history row and the ``case.transferred`` event, in the caller's transaction."""
    at = utcnow()
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
        priority=priority,
        queued=to_assignee is None,
        inform=inform or [],
    )
    await session.execute(t.transfers.insert(), transfer_row(case_id, payload, at))
    await publish(session, t.runtime, payload, case_id, at)


def transfer_row(case_id: uuid.UUID, payload: CaseTransferred, at: datetime) -> dict[str, Any]:
    """A change of hands as its history row: one by one (``record_transfer``) and a batch of new
    cases (``routing.arrivals``) write exactly this, beside the event of the same payload."""
    fields = ("from_unit", "to_unit", "from_assignee", "to_assignee", "reason", "rule_id")
    return {"case_id": case_id, "kind": payload.transfer_kind, "at": at, **{f: getattr(payload, f) for f in fields}}
