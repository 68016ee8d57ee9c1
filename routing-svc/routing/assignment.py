"""Who handles a case: rule matching, unit resolution, assignee choice, transfers.

Plain functions over a session the caller commits. The first assignment records
the first responder (首问责任人) as owner; a transfer changes the owner only when
ownership is explicitly handed over (DOMAIN.md section 3).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Row, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from routing import tables as t
from services.database import utcnow
from services.errors import DomainError
from services.logging import correlation_id
from services.outbox import enqueue
from shared.api import AssignmentOut, TransferCreate, TransferOut
from shared.enums import TransferKind
from shared.events import CaseCreated, CaseTransferred, new_event

PRODUCER = "routing-svc"


@dataclass(frozen=True)
class Decision:
    unit: str
    rule_id: str | None
    reason: str


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


async def decide(session: AsyncSession, case: CaseCreated, default_unit: str) -> Decision:
    """First matching rule by priority; its team in the case's branch or the nearest parent."""
    rules = (await session.execute(select(t.rules).order_by(t.rules.c.priority, t.rules.c.id))).all()
    for rule in rules:
        if _matches(rule, case):
            unit = await _team_in_branch_or_parent(session, case.branch_code, rule.team)
            if unit is not None:
                return Decision(unit, rule.id, f"rule {rule.id}: {rule.description}")
    return Decision(default_unit, None, "no rule matched a unit of this branch: default unit")


def _matches(rule: Row, case: CaseCreated) -> bool:  # type: ignore[type-arg]
    wanted = {"kind": case.kind, "tier": case.tier, "category": case.category, "branch_code": case.branch_code}
    return all(getattr(rule, k) is None or getattr(rule, k) == v for k, v in wanted.items())


async def _team_in_branch_or_parent(session: AsyncSession, branch: str | None, team: str) -> str | None:
    seen: set[str] = set()
    while branch and branch not in seen:
        seen.add(branch)
        code = f"{branch}.{team}"
        if await session.scalar(select(t.units.c.code).where(t.units.c.code == code)):
            return code
        branch = await session.scalar(select(t.branches.c.parent).where(t.branches.c.code == branch))
    return None


async def pick_assignee(session: AsyncSession, unit: str) -> str | None:
    """The on-duty member of the unit with the fewest open cases; ties by id (stable)."""
    query = (
        select(t.staff.c.id)
        .where(t.staff.c.unit_code == unit, t.staff.c.on_duty.is_(True))
        .order_by(t.staff.c.open_cases, t.staff.c.id)
        .limit(1)
    )
    return await session.scalar(query)


async def _move_load(session: AsyncSession, from_person: str | None, to_person: str | None) -> None:
    if from_person == to_person:
        return
    if from_person:
        await session.execute(
            t.staff.update().where(t.staff.c.id == from_person).values(open_cases=t.staff.c.open_cases - 1)
        )
    if to_person:
        await session.execute(
            t.staff.update().where(t.staff.c.id == to_person).values(open_cases=t.staff.c.open_cases + 1)
        )


async def assign_new_case(session: AsyncSession, case_id: uuid.UUID, case: CaseCreated, default_unit: str) -> bool:
    """First assignment of a case; a second call for the same case changes nothing."""
    if await session.scalar(select(t.assignments.c.case_id).where(t.assignments.c.case_id == case_id)):
        return False
    decision = await decide(session, case, default_unit)
    assignee = await pick_assignee(session, decision.unit)
    now = utcnow()
    await session.execute(
        t.assignments.insert().values(
            case_id=case_id,
            branch_code=case.branch_code,
            unit=decision.unit,
            assignee=assignee,
            owner=assignee,
            rule_id=decision.rule_id,
            updated_at=now,
        )
    )
    await _move_load(session, None, assignee)
    await _record(
        session,
        case_id,
        case.branch_code,
        TransferKind.assign,
        None,
        decision.unit,
        None,
        assignee,
        assignee,
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
        to_assignee = await pick_assignee(session, body.to_unit)
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
