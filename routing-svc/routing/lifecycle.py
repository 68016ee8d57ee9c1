"""Following a case's lifecycle (``case.updated``): closing frees the assignee's
capacity, reopening takes it again (and says so on the bus when the holder changes),
a reclassification re-weighs the case, and a case that became major goes to the
emergency group. Each returns a unit whose queue may now drain."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from routing import assignment, capacity
from routing import tables as t

#: Channels where nobody at the company took the request in person (DOMAIN.md section 3).
from routing.assignment import NO_UNIT, facts_columns
from routing.org import CaseFacts, Org
from services.database import insert_ignoring_conflicts, utcnow
from shared.enums import CaseStatus, CaseTier, TransferKind
from shared.events import CaseUpdated


async def on_case_updated(
    session: AsyncSession, case_id: uuid.UUID, update: CaseUpdated, org: Org, default_unit: str
) -> str | None:
    """Follow the case's lifecycle: free capacity on closing, take it again on reopening,
    re-weigh on reclassification and send a case that became major to the emergency group.
    Returns a unit whose queue may now drain."""
    current = await assignment.locked(session, case_id)
    now = utcnow()
    if current is None:
        if update.status is CaseStatus.closed:
            # Closed before routing saw it created: remember, so it is never charged.
            await session.execute(
                insert_ignoring_conflicts(session, t.assignments, ["case_id"]).values(
                    case_id=case_id, branch_code=update.branch_code, unit=NO_UNIT, status="closed", updated_at=now
                )
            )
        return None
    facts = CaseFacts(
        kind=update.kind,
        tier=update.tier,
        category=update.category,
        channel=current.channel,
        branch_code=current.branch_code,
        line_of_business=current.line_of_business,
        agent_code=update.agent_code,
    )
    if update.status is CaseStatus.closed and current.status == "open":
        await capacity.release(session, current.assignee, current.weight)
        await session.execute(
            t.assignments.update()
            .where(t.assignments.c.case_id == case_id)
            .values(status="closed", queued_since=None, updated_at=now)
        )
        return str(current.unit)
    if update.status is not CaseStatus.closed and current.status == "closed":
        await _reopen(session, current, facts, org, default_unit, now)
        return None
    if current.status == "open" and (facts.kind, facts.tier, facts.category) != (
        current.kind,
        current.tier,
        current.category,
    ):
        return await _reclassified(session, current, facts, org, default_unit, now)
    return None


async def _reopen(
    session: AsyncSession, current: Row[Any], facts: CaseFacts, org: Org, default_unit: str, now: datetime
) -> None:
    """Take capacity again: the former assignee if still in the unit, else the best member
    (or the queue). A case closed before it was ever routed is routed now. When the holder
    changes, ``case.transferred`` says so: intake, sla and notify keep who holds a case
    from that event alone."""
    unit = current.unit if current.unit != NO_UNIT else org.decide(facts, default_unit).unit
    person = current.assignee if current.assignee in {p.id for p in await capacity.members(session, unit)} else None
    assignee, w = await assignment.place(session, org, unit, facts, now, person)
    owner = current.owner or assignee
    await session.execute(
        t.assignments.update()
        .where(t.assignments.c.case_id == current.case_id)
        .values(
            status="open",
            unit=unit,
            assignee=assignee,
            owner=owner,
            weight=w,
            queued_since=None if assignee else now,
            updated_at=now,
            **facts_columns(facts),
        )
    )
    if (unit, assignee, owner) != (current.unit, current.assignee, current.owner):
        await assignment.record_transfer(
            session,
            current.case_id,
            current.branch_code,
            TransferKind.assign,
            None if current.unit == NO_UNIT else current.unit,
            unit,
            current.assignee,
            assignee,
            owner,
            "reopened: " + ("assigned again" if assignee else "waiting in the queue"),
            current.rule_id,
            priority=current.priority,
        )
    return None


async def _reclassified(
    session: AsyncSession, current: Row[Any], facts: CaseFacts, org: Org, default_unit: str, now: datetime
) -> str | None:
    await session.execute(
        t.assignments.update()
        .where(t.assignments.c.case_id == current.case_id)
        .values(updated_at=now, **facts_columns(facts))
    )
    if facts.tier == CaseTier.major and current.tier != CaseTier.major:
        decision = org.decide(facts, default_unit)
        if decision.unit != current.unit:
            await capacity.release(session, current.assignee, current.weight)
            assignee, w = await assignment.place(session, org, decision.unit, facts, now)
            await session.execute(
                t.assignments.update()
                .where(t.assignments.c.case_id == current.case_id)
                .values(
                    unit=decision.unit,
                    assignee=assignee,
                    weight=w,
                    priority=decision.priority,
                    rule_id=decision.rule_id,
                    queued_since=None if assignee else now,
                )
            )
            await assignment.record_transfer(
                session,
                current.case_id,
                current.branch_code,
                TransferKind.escalate,
                current.unit,
                decision.unit,
                current.assignee,
                assignee,
                current.owner,
                f"reclassified major: {decision.reason}",
                decision.rule_id,
                priority=decision.priority,
                inform=list(decision.inform),
            )
            return str(current.unit)
    w = capacity.weight(facts.kind, facts.tier, org.weights.get(current.unit))
    if w != current.weight and current.assignee:
        await session.execute(
            t.staff.update()
            .where(t.staff.c.id == current.assignee)
            .values(load_points=t.staff.c.load_points + w - current.weight)
        )
    await session.execute(t.assignments.update().where(t.assignments.c.case_id == current.case_id).values(weight=w))
    return None
