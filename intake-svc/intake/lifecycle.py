"""The lifecycle of a case: which action is allowed when, and what it changes.

Each action is a row of ``ACTIONS``: the statuses (and kinds) it applies to, its
body, and the function of ``intake.outcomes`` that returns the new status and the
facts to record. ``act``
does the rest the same way for all: a conditional update on the case's version (so
two concurrent actions cannot both apply), a history row, and ``case.updated``.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from intake import cases, history
from intake import outcomes as o
from intake import tables as t
from services.database import utcnow
from services.errors import DomainError
from services.outbox import publish
from shared import actions as a
from shared.enums import CaseKind, CaseStatus
from shared.events import CaseUpdated

S = CaseStatus
OPEN = frozenset({S.accepted, S.registered, S.in_progress, S.replied})


Apply = Callable[[AsyncSession, Row[Any], Any, datetime], Awaitable[o.Outcome]]


@dataclass(frozen=True)
class Action:
    name: str
    from_statuses: frozenset[CaseStatus]
    apply: Apply
    kinds: frozenset[CaseKind] | None = None
    summary: str = ""

    @property
    def body(self) -> type[a.ActionBody]:
        """Its body, from the contract's one list (``shared.actions.BODIES``)."""
        return a.BODIES[self.name]


def _conflict(row: Row[Any], message: str, reopen_window: timedelta) -> DomainError:
    return DomainError(409, message, case_status=row.status, allowed_actions=allowed(row, reopen_window))


NOT_ANSWERED = frozenset({CaseKind.inquiry, CaseKind.grievance})
ACTIONS: dict[str, Action] = {
    x.name: x
    for x in (
        Action(
            "register",
            frozenset({S.accepted}),
            o.register,
            frozenset({CaseKind.complaint}),
            "立案: open the complaint's case file",
        ),
        Action(
            "answer-on-the-spot",
            frozenset({S.accepted}),
            o.answer,
            NOT_ANSWERED,
            "close an inquiry or grievance at first contact",
        ),
        Action(
            "escalate-to-complaint",
            OPEN,
            o.escalate,
            frozenset({CaseKind.grievance}),
            "a grievance becomes a complaint",
        ),
        Action("reclassify", OPEN | {S.pending_approval}, o.reclassify, None, "change kind, tier or category"),
        Action(
            "verify-identity",
            OPEN | {S.pending_approval},
            o.verify,
            None,
            "record the customer's identity check",
        ),
        Action("record-contact", OPEN, o.contact, None, "the customer was called back or visited"),
        Action(
            "start-appraisal",
            OPEN,
            o.appraisal,
            frozenset({CaseKind.complaint}),
            "external appraisal starts: time not counted",
        ),
        Action(
            "end-appraisal",
            OPEN,
            o.appraisal,
            frozenset({CaseKind.complaint}),
            "external appraisal ends: the clocks run again",
        ),
        Action(
            "record-opinion",
            frozenset({S.registered, S.in_progress}),
            o.opinion,
            frozenset({CaseKind.complaint}),
            "the responsible department returned its initial opinion",
        ),
        Action(
            "request-approval",
            OPEN,
            o.request_approval,
            None,
            "签报 for a payment, or review of a written reply",
        ),
        Action("approve", frozenset({S.pending_approval}), o.approve, None, "approve the pending approval"),
        Action("reject", frozenset({S.pending_approval}), o.reject, None, "reject the pending approval"),
        Action(
            "reply",
            frozenset({S.accepted, S.registered, S.in_progress}),
            o.reply,
            None,
            "the customer was given a reply",
        ),
        Action("close", frozenset({S.replied}), o.close, None, "the customer accepted the final reply"),
        Action("reopen", frozenset({S.closed}), o.reopen, None, "reopen within the reopen window"),
        Action(
            "record-satisfaction",
            frozenset({S.closed}),
            o.satisfaction,
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
    history.record(session, case_id, name, body.actor, row.status, outcome.status, details, event, now)
    return updated
