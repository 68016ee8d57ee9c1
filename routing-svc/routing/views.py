"""What routing shows: a case's assignment and history, queues, workload, and why a
draft case would go where it goes."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from routing import capacity
from routing import tables as t
from routing.assignment import NO_UNIT, waiting_in
from routing.org import CaseFacts, Org
from services.auth import ScopedCase
from shared.routing import AssignmentOut, ExplainOut, QueueItemOut, TransferOut, WorkloadOut


async def get_assignment(session: AsyncSession, case_id: uuid.UUID) -> AssignmentOut | None:
    current = (await session.execute(select(t.assignments).where(t.assignments.c.case_id == case_id))).first()
    if current is None or current.unit == NO_UNIT:
        return None
    history = (
        await session.execute(select(t.transfers).where(t.transfers.c.case_id == case_id).order_by(t.transfers.c.id))
    ).all()
    return AssignmentOut.model_validate(
        {**current._mapping, "history": [TransferOut.model_validate(h, from_attributes=True) for h in history]}
    )


async def queue(session: AsyncSession, unit: str) -> list[QueueItemOut]:
    rows = (await session.execute(waiting_in(unit))).all()
    return [QueueItemOut.model_validate(r, from_attributes=True) for r in rows]


def _workload(p: capacity.Person, name: str, role: str, open_cases: int) -> WorkloadOut:
    return WorkloadOut(
        id=p.id,
        name=name,
        unit_code=p.unit_code,
        role=role,
        on_duty=p.on_duty,
        open_cases=open_cases,
        load_points=p.load,
        capacity_points=p.capacity,
        remaining_points=p.remaining,
    )


async def workload(session: AsyncSession, unit: str | None = None, branch: str | None = None) -> list[WorkloadOut]:
    query = select(t.staff.c.id, t.staff.c.name, t.staff.c.role, t.staff.c.unit_code, t.staff.c.open_cases).join(
        t.units, t.units.c.code == t.staff.c.unit_code
    )
    if unit:
        query = query.where(t.staff.c.unit_code == unit)
    if branch:
        query = query.where(t.units.c.branch_code == branch)
    rows = (await session.execute(query.order_by(t.staff.c.unit_code, t.staff.c.id))).all()
    people: dict[str, capacity.Person] = {}
    for code in {r.unit_code for r in rows}:
        people |= {p.id: p for p in await capacity.members(session, code)}
    return [_workload(people[r.id], r.name, r.role, r.open_cases) for r in rows]


async def explain(session: AsyncSession, org: Org, facts: CaseFacts, default_unit: str) -> ExplainOut:
    decision = org.decide(facts, default_unit)
    w = capacity.weight(facts.kind, facts.tier, org.weights.get(decision.unit))
    members = await capacity.members(session, decision.unit)
    names = dict(
        (await session.execute(select(t.staff.c.id, t.staff.c.name).where(t.staff.c.unit_code == decision.unit))).all()
    )
    roles = dict(
        (await session.execute(select(t.staff.c.id, t.staff.c.role).where(t.staff.c.unit_code == decision.unit))).all()
    )
    counts = dict(
        (
            await session.execute(
                select(t.staff.c.id, t.staff.c.open_cases).where(t.staff.c.unit_code == decision.unit)
            )
        ).all()
    )
    ranked = capacity.ranked(members, w, facts.category, facts.line_of_business)
    return ExplainOut(
        unit=decision.unit,
        rule_id=decision.rule_id,
        reason=decision.reason,
        priority=decision.priority,
        work_order=decision.work_order,
        inform=list(decision.inform),
        trace=list(decision.trace),
        weight=w,
        candidates=[_workload(p, names[p.id], roles[p.id], counts[p.id]) for p in ranked],
        owner_if_unattended=org.designated_receiver(facts.branch_code),
    )


async def case_scope(session: AsyncSession, case_id: uuid.UUID) -> ScopedCase | None:
    """The branch, assignee and owner: who may see the case (``ServiceSpec.case_loader``)."""
    a = t.assignments.c
    row = (await session.execute(select(a.branch_code, a.assignee, a.owner).where(a.case_id == case_id))).first()
    return row
