"""The lifecycle of a case: which action is allowed when, and what it changes.

Each action is a row of ``ACTIONS``: the statuses (and kinds) it applies to, its
body, and a function that returns the new status and the facts to record. ``act``
does the rest the same way for all: a conditional update on the case's version (so
two concurrent actions cannot both apply), a history row, and ``case.updated``.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession

from intake import cases, history
from intake import tables as t
from services.database import utcnow
from services.errors import DomainError, field_error
from services.outbox import publish
from shared import actions as a
from shared.enums import TIERS_BY_KIND, CaseKind, CaseStatus, CaseTier, Category
from shared.events import CaseUpdated

S = CaseStatus
OPEN = frozenset({S.accepted, S.registered, S.in_progress, S.replied})


@dataclass
class Outcome:
    """What an action changes: the new status, other columns, and facts for the event."""

    status: CaseStatus
    updates: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)


Apply = Callable[[AsyncSession, Row[Any], Any, datetime], Awaitable[Outcome]]


@dataclass(frozen=True)
class Action:
    name: str
    body: type[a.ActionBody]
    from_statuses: frozenset[CaseStatus]
    apply: Apply
    kinds: frozenset[CaseKind] | None = None
    summary: str = ""


def is_agent_complaint(row: Row[Any]) -> bool:
    return row.kind == CaseKind.complaint and (
        row.agent_code is not None or row.category == Category.sales_agent_conduct
    )


def _conflict(row: Row[Any], message: str, reopen_window: timedelta) -> DomainError:
    return DomainError(409, {"message": message, "status": row.status, "allowed_actions": allowed(row, reopen_window)})


async def _register(session: AsyncSession, row: Row[Any], body: a.Register, now: datetime) -> Outcome:
    return Outcome(S.registered)


async def _answer(session: AsyncSession, row: Row[Any], body: a.AnswerOnTheSpot, now: datetime) -> Outcome:
    return Outcome(
        S.closed, {"resolution": "answered_on_the_spot", "closed_at": now}, {"resolution": "answered_on_the_spot"}
    )


async def _escalate(session: AsyncSession, row: Row[Any], body: a.EscalateToComplaint, now: datetime) -> Outcome:
    return Outcome(
        S.accepted,
        {"kind": CaseKind.complaint, "tier": CaseTier.general},
        {"from_kind": row.kind, "reason": body.reason},
    )


async def _reclassify(session: AsyncSession, row: Row[Any], body: a.Reclassify, now: datetime) -> Outcome:
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


async def _verify(session: AsyncSession, row: Row[Any], body: a.VerifyIdentity, now: datetime) -> Outcome:
    updates = {
        "identity_verified_at": now,
        "identity_verified_by": body.actor,
        "identity_document_type": body.document_type,
    }
    return Outcome(CaseStatus(row.status), updates, {"document_type": body.document_type})


async def _contact(session: AsyncSession, row: Row[Any], body: a.RecordContact, now: datetime) -> Outcome:
    status = S.in_progress if row.status in (S.accepted, S.registered) and body.outcome == "reached" else S(row.status)
    return Outcome(status, details={"outcome": body.outcome})


async def _opinion(session: AsyncSession, row: Row[Any], body: a.RecordOpinion, now: datetime) -> Outcome:
    return Outcome(S.in_progress, details={"department": body.department})


async def _appraisal(session: AsyncSession, row: Row[Any], body: a.ActionBody, now: datetime) -> Outcome:
    details: dict[str, str | int | float | bool | None] = {"reason": getattr(body, "reason", None)}
    if isinstance(body, a.StartAppraisal):
        details["complainant_informed"] = body.complainant_informed  # sla-svc pauses only then
    return Outcome(S(row.status), details=details)


async def _request_approval(session: AsyncSession, row: Row[Any], body: a.RequestApproval, now: datetime) -> Outcome:
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


async def _approve(session: AsyncSession, row: Row[Any], body: a.Decide, now: datetime) -> Outcome:
    return await _decide(session, row, body, now, "approved")


async def _reject(session: AsyncSession, row: Row[Any], body: a.Reject, now: datetime) -> Outcome:
    return await _decide(session, row, body, now, "rejected")


async def _reply(session: AsyncSession, row: Row[Any], body: a.Reply, now: datetime) -> Outcome:
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
                {
                    "message": "a written reply must be reviewed first: request-approval with type written_reply",
                    "status": row.status,
                },
            )
        await session.execute(t.approvals.update().where(t.approvals.c.id == review).values(status="used"))
    return Outcome(S.replied, details={"written": body.written})


async def _close(session: AsyncSession, row: Row[Any], body: a.Close, now: datetime) -> Outcome:
    pending = await session.scalar(
        select(t.approvals.c.id).where(t.approvals.c.case_id == row.id, t.approvals.c.status == "pending")
    )
    if pending is not None:
        raise DomainError(409, {"message": "an approval is pending", "status": row.status})
    if is_agent_complaint(row) and body.finding is None:
        raise field_error(
            "finding", "closing an agent complaint requires the finding (misconduct_found | no_misconduct)"
        )
    updates = {"closed_at": now, "resolution": "customer_accepted", "agent_finding": body.finding}
    return Outcome(S.closed, updates, {"finding": body.finding, "agent_code": row.agent_code})


async def _reopen(session: AsyncSession, row: Row[Any], body: a.Reopen, now: datetime) -> Outcome:
    return Outcome(S.in_progress, {"closed_at": None, "reopen_count": row.reopen_count + 1}, {"reason": body.reason})


async def _satisfaction(session: AsyncSession, row: Row[Any], body: a.RecordSatisfaction, now: datetime) -> Outcome:
    updates = {"satisfaction_score": body.score, "satisfaction_result": body.result}
    return Outcome(S.closed, updates, {"score": body.score})


NOT_ANSWERED = frozenset({CaseKind.inquiry, CaseKind.grievance})
ACTIONS: dict[str, Action] = {
    x.name: x
    for x in (
        Action(
            "register",
            a.Register,
            frozenset({S.accepted}),
            _register,
            frozenset({CaseKind.complaint}),
            "立案: open the complaint's case file",
        ),
        Action(
            "answer-on-the-spot",
            a.AnswerOnTheSpot,
            frozenset({S.accepted}),
            _answer,
            NOT_ANSWERED,
            "close an inquiry or grievance at first contact",
        ),
        Action(
            "escalate-to-complaint",
            a.EscalateToComplaint,
            OPEN,
            _escalate,
            frozenset({CaseKind.grievance}),
            "a grievance becomes a complaint",
        ),
        Action(
            "reclassify", a.Reclassify, OPEN | {S.pending_approval}, _reclassify, None, "change kind, tier or category"
        ),
        Action(
            "verify-identity",
            a.VerifyIdentity,
            OPEN | {S.pending_approval},
            _verify,
            None,
            "record the customer's identity check",
        ),
        Action("record-contact", a.RecordContact, OPEN, _contact, None, "the customer was called back or visited"),
        Action(
            "start-appraisal",
            a.StartAppraisal,
            OPEN,
            _appraisal,
            frozenset({CaseKind.complaint}),
            "external appraisal starts: time not counted",
        ),
        Action(
            "end-appraisal",
            a.EndAppraisal,
            OPEN,
            _appraisal,
            frozenset({CaseKind.complaint}),
            "external appraisal ends: the clocks run again",
        ),
        Action(
            "record-opinion",
            a.RecordOpinion,
            frozenset({S.registered, S.in_progress}),
            _opinion,
            frozenset({CaseKind.complaint}),
            "the responsible department returned its initial opinion",
        ),
        Action(
            "request-approval",
            a.RequestApproval,
            OPEN,
            _request_approval,
            None,
            "签报 for a payment, or review of a written reply",
        ),
        Action("approve", a.Decide, frozenset({S.pending_approval}), _approve, None, "approve the pending approval"),
        Action("reject", a.Reject, frozenset({S.pending_approval}), _reject, None, "reject the pending approval"),
        Action(
            "reply",
            a.Reply,
            frozenset({S.accepted, S.registered, S.in_progress}),
            _reply,
            None,
            "the customer was given a reply",
        ),
        Action("close", a.Close, frozenset({S.replied}), _close, None, "the customer accepted the final reply"),
        Action("reopen", a.Reopen, frozenset({S.closed}), _reopen, None, "reopen within the reopen window"),
        Action(
            "record-satisfaction",
            a.RecordSatisfaction,
            frozenset({S.closed}),
            _satisfaction,
            None,
            "回访: follow-up call result and score",
        ),
    )
}


def allowed(row: Row[Any], reopen_window: timedelta, now: datetime | None = None) -> list[str]:
    now = now or utcnow()
    names = []
    for action in ACTIONS.values():
        if row.status not in action.from_statuses or (action.kinds and row.kind not in action.kinds):
            continue
        if action.name == "reopen" and (row.closed_at is None or now - row.closed_at > reopen_window):
            continue
        names.append(action.name)
    return names


async def act(
    session: AsyncSession, case_id: uuid.UUID, name: str, body: a.ActionBody, reopen_window: timedelta
) -> Row[Any]:
    """Apply one action; raises 404 for an unknown case and 409 when it is not allowed now."""
    action = ACTIONS[name]
    row = await cases.get_case_row(session, case_id, for_update=True)
    if row is None:
        raise DomainError(404, "case not found")
    now = utcnow()
    if name not in allowed(row, reopen_window, now):
        why = f"{name} is not allowed for a {row.kind} that is {row.status}"
        if name == "reopen" and row.status == S.closed:
            why = f"reopen is allowed within {reopen_window.days} days of closing"
        raise _conflict(row, why, reopen_window)
    outcome = await action.apply(session, row, body, now)
    # The case as it now is, from the update itself (RETURNING): no read after the write.
    updated = (
        await session.execute(
            t.cases.update()
            .where(t.cases.c.id == case_id, t.cases.c.version == row.version)
            .values(status=outcome.status, updated_at=now, version=row.version + 1, **outcome.updates)
            .returning(*t.cases.c)
        )
    ).first()
    if updated is None:
        raise _conflict(row, "the case changed while this action was applied; read it again and retry", reopen_window)
    if body.note:
        await session.execute(t.notes.insert().values(case_id=case_id, author=body.actor, text=body.note, at=now))
    details = {k: (str(v) if isinstance(v, uuid.UUID) else v) for k, v in outcome.details.items()}
    payload = CaseUpdated(
        action=name,
        status=outcome.status,
        previous_status=row.status,
        kind=updated.kind,
        tier=updated.tier,
        category=updated.category,
        branch_code=updated.branch_code,
        channel=updated.channel,
        agent_code=updated.agent_code,
        actor=body.actor,
        details=details,
    )
    event = await publish(session, t.runtime, payload, case_id, now)
    await history.record(session, case_id, name, body.actor, row.status, outcome.status, details, event, now)
    return updated
