"""intake-svc's event handlers: other services' events about a case join its history.

Set-based, as the other services' consumers are (decision 0010): each handler takes a
polled batch of one topic and writes each table with one statement; the one-by-one
handler the consumer falls back to (to isolate a poison event) is the batch of one.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam, func
from sqlalchemy.ext.asyncio import AsyncSession

from intake import history
from intake import tables as t
from services import native
from services.consumer import Subscription
from services.runtime import Runtime
from shared.events import CaseOverdue, CaseTransferred, Envelope, Topics

#: Who holds the case now; the first responder only when the event names one.
UPDATE_HOLDER = (
    t.cases.update()
    .where(t.cases.c.id == bindparam("case_id"))
    .values(assignee=bindparam("holder"), owner=func.coalesce(bindparam("first_responder"), t.cases.c.owner))
)
TRANSFER_DETAILS = {"from_unit", "to_unit", "to_assignee", "owner", "reason", "rule_id"}
OVERDUE_DETAILS = {"clock", "policy", "due_at", "late_by_seconds", "owner", "assignee"}


async def on_case_transferred(
    session: AsyncSession, envelope: Envelope, payload: CaseTransferred, runtime: Runtime
) -> None:
    await on_cases_transferred(session, [(envelope, payload)], runtime)


async def on_cases_transferred(
    session: AsyncSession, items: Sequence[tuple[Envelope, CaseTransferred]], runtime: Runtime
) -> None:
    """History rows for every transfer, then the holder of each case, event by event in
    one executemany (a case transferred twice in a batch is updated twice, in order: the
    last transfer decides the assignee, the last naming an owner the owner, and an event
    whose values the table refuses fails the batch as it would fail alone)."""
    await history.record_events(
        session,
        [(e, str(p.transfer_kind), p.model_dump(mode="json", include=TRANSFER_DETAILS)) for e, p in items],
    )
    # Who holds the case decides who may see it (an assignee sees the cases assigned to them).
    await native.execute_many(
        session,
        UPDATE_HOLDER,
        [{"case_id": e.case_id, "holder": p.to_assignee, "first_responder": p.owner or None} for e, p in items],
    )


async def on_case_overdue(session: AsyncSession, envelope: Envelope, payload: CaseOverdue, runtime: Runtime) -> None:
    await on_cases_overdue(session, [(envelope, payload)], runtime)


async def on_cases_overdue(
    session: AsyncSession, items: Sequence[tuple[Envelope, CaseOverdue]], runtime: Runtime
) -> None:
    await history.record_events(
        session, [(e, f"overdue:{p.level}", p.model_dump(mode="json", include=OVERDUE_DETAILS)) for e, p in items]
    )


SUBSCRIPTIONS = [
    Subscription(Topics.case_transferred, on_case_transferred, batch=on_cases_transferred),
    Subscription(Topics.case_overdue, on_case_overdue, batch=on_cases_overdue),
]
