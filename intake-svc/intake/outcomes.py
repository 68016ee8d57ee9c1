"""What each lifecycle action changes: one function per action, taking the case as
locked by ``lifecycle.act`` and the action's body, returning the ``Outcome`` (the new
status, the columns to set, the facts for ``case.updated``). Some check the case's
approvals or write them; none touches the case row itself (``act`` does, once).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession

from intake import tables as t
from services.errors import DomainError, field_error
from shared import actions as a
from shared.enums import TIERS_BY_KIND, CaseKind, CaseStatus, CaseTier, Category

S = CaseStatus


@dataclass
class Outcome:
    """What an action changes: the new status, other columns, and facts for the event."""

    status: CaseStatus
    updates: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)


def is_agent_complaint(row: Row[Any]) -> bool:
    return row.kind == CaseKind.complaint and (
        row.agent_code is not None or row.category == Category.sales_agent_conduct
    )


async def register(session: AsyncSession, row: Row[Any], body: a.Register, now: datetime) -> Outcome:
    return Outcome(S.registered)


async def answer(session: AsyncSession, row: Row[Any], body: a.AnswerOnTheSpot, now: datetime) -> Outcome:
    return Outcome(
        S.closed, {"resolution": "answered_on_the_spot", "closed_at": now}, {"resolution": "answered_on_the_spot"}
    )


async def escalate(session: AsyncSession, row: Row[Any], body: a.EscalateToComplaint, now: datetime) -> Outcome:
    return Outcome(
        S.accepted,
        {"kind": CaseKind.complaint, "tier": CaseTier.general},
        {"from_kind": row.kind, "reason": body.reason},
    )


async def reclassify(session: AsyncSession, row: Row[Any], body: a.Reclassify, now: datetime) -> Outcome:
    kind = body.kind or CaseKind(row.kind)
    tier = body.tier if body.tier is not None else (CaseTier(row.tier) if row.tier else None)
    if kind is CaseKind.grievance:
        tier = None
    elif tier not in TIERS_BY_KIND[kind]:
        if body.tier is not None:
            raise field_error("tier", f"tier {body.tier} does not fit kind {kind}")
        tier = CaseTier.general
    updates: dict[str, Any] = {"kind": kind, "tier": tier}
    if body.category is not None:
        updates |= {"category": body.category, "category_suggested": False}
    details = {"from_kind": row.kind, "from_tier": row.tier, "from_category": row.category, "reason": body.reason}
    return Outcome(CaseStatus(row.status), updates, details)


async def verify(session: AsyncSession, row: Row[Any], body: a.VerifyIdentity, now: datetime) -> Outcome:
    updates = {
        "identity_verified_at": now,
        "identity_verified_by": body.actor,
        "identity_document_type": body.document_type,
    }
    return Outcome(CaseStatus(row.status), updates, {"document_type": body.document_type})


async def contact(session: AsyncSession, row: Row[Any], body: a.RecordContact, now: datetime) -> Outcome:
    status = S.in_progress if row.status in (S.accepted, S.registered) and body.outcome == "reached" else S(row.status)
    return Outcome(status, details={"outcome": body.outcome})


async def opinion(session: AsyncSession, row: Row[Any], body: a.RecordOpinion, now: datetime) -> Outcome:
    return Outcome(S.in_progress, details={"department": body.department})


async def appraisal(session: AsyncSession, row: Row[Any], body: a.ActionBody, now: datetime) -> Outcome:
    details: dict[str, str | int | float | bool | None] = {"reason": getattr(body, "reason", None)}
    if isinstance(body, a.StartAppraisal):
        details["complainant_informed"] = body.complainant_informed  # sla-svc pauses only then
    return Outcome(S(row.status), details=details)


async def request_approval(session: AsyncSession, row: Row[Any], body: a.RequestApproval, now: datetime) -> Outcome:
    amount = str(body.amount) if body.amount is not None else None
    await session.execute(
        t.approvals.insert().values(
            case_id=row.id,
            type=body.type,
            status="pending",
            reason=body.reason,
            amount=amount,
            resume_status=row.status,
            requested_by=body.actor,
            requested_at=now,
        )
    )
    return Outcome(S.pending_approval, details={"approval_type": body.type, "amount": amount})


async def _pending_approval(session: AsyncSession, row: Row[Any], approval_id: int | None) -> Row[Any]:
    query = select(t.approvals).where(t.approvals.c.case_id == row.id, t.approvals.c.status == "pending")
    if approval_id is not None:
        query = query.where(t.approvals.c.id == approval_id)
    found = (await session.execute(query.order_by(t.approvals.c.id.desc()).limit(1))).first()
    if found is None:
        raise field_error("approval_id", "no pending approval with this id on the case")
    return found


async def _decide(session: AsyncSession, row: Row[Any], body: a.Decide, now: datetime, decision: str) -> Outcome:
    approval = await _pending_approval(session, row, body.approval_id)
    await session.execute(
        t.approvals.update()
        .where(t.approvals.c.id == approval.id)
        .values(status=decision, decided_by=body.actor, decided_at=now, decision_note=body.decision_note)
    )
    return Outcome(S(approval.resume_status), details={"approval_id": approval.id, "approval_type": approval.type})


async def approve(session: AsyncSession, row: Row[Any], body: a.Decide, now: datetime) -> Outcome:
    return await _decide(session, row, body, now, "approved")


async def reject(session: AsyncSession, row: Row[Any], body: a.Reject, now: datetime) -> Outcome:
    return await _decide(session, row, body, now, "rejected")


async def reply(session: AsyncSession, row: Row[Any], body: a.Reply, now: datetime) -> Outcome:
    if body.written:
        review = await session.scalar(
            select(t.approvals.c.id).where(
                t.approvals.c.case_id == row.id,
                t.approvals.c.type == "written_reply",
                t.approvals.c.status == "approved",
            )
        )
        if review is None:
            raise DomainError(
                409,
                "a written reply must be reviewed first: request-approval with type written_reply",
                case_status=row.status,
            )
        await session.execute(t.approvals.update().where(t.approvals.c.id == review).values(status="used"))
    return Outcome(S.replied, details={"written": body.written})


async def close(session: AsyncSession, row: Row[Any], body: a.Close, now: datetime) -> Outcome:
    pending = await session.scalar(
        select(t.approvals.c.id).where(t.approvals.c.case_id == row.id, t.approvals.c.status == "pending")
    )
    if pending is not None:
        raise DomainError(409, "an approval is pending", case_status=row.status)
    if is_agent_complaint(row) and body.finding is None:
        raise field_error(
            "finding", "closing an agent complaint requires the finding (misconduct_found | no_misconduct)"
        )
    updates = {"closed_at": now, "resolution": "customer_accepted", "agent_finding": body.finding}
    return Outcome(S.closed, updates, {"finding": body.finding, "agent_code": row.agent_code})


async def reopen(session: AsyncSession, row: Row[Any], body: a.Reopen, now: datetime) -> Outcome:
    return Outcome(S.in_progress, {"closed_at": None, "reopen_count": row.reopen_count + 1}, {"reason": body.reason})


async def satisfaction(session: AsyncSession, row: Row[Any], body: a.RecordSatisfaction, now: datetime) -> Outcome:
    updates = {"satisfaction_score": body.score, "satisfaction_result": body.result}
    return Outcome(S.closed, updates, {"score": body.score})
