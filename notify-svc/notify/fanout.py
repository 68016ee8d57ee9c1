"""From an event to the deliveries it causes; runs in the consumer's transaction.

1. notify's view of the case (``cases``) takes in what the event says.
2. The event is named as notifications: its topic (``case.overdue``) and what it
   means (``sla.breach``, ``case.major``, ``case.registered`` ...).
3. The event goes on the live feed.
4. Each active subscription that asks for one of those names and whose filters
   pass is resolved to recipients, and one delivery per (event, recipient, channel)
   is written; a second subscription reaching the same person on the same channel,
   or the same event delivered again, adds nothing.

Because all of it commits with the consumer's inbox row, an event is turned into
its deliveries exactly once, even across restarts.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from notify import subscriptions
from notify import tables as t
from notify.directory import CaseFacts, Directory
from notify.state import state_of
from services import native, tracing, wakeup
from services.database import insert_ignoring_conflicts, prebuilt, upsert, utcnow
from services.runtime import Runtime
from shared.enums import OverdueLevel
from shared.events import CaseCreated, CaseOverdue, CaseTransferred, CaseUpdated, Envelope

URGENT = ("sla.breach", "sla.escalation", "case.major")


async def handle(session: AsyncSession, envelope: Envelope, payload: Any, runtime: Runtime) -> None:
    await handle_batch(session, [(envelope, payload)], runtime)


async def handle_batch(session: AsyncSession, items: list[tuple[Envelope, Any]], runtime: Runtime) -> None:
    """Events in order, each seeing the case as the events before it left it; every table
    written with one statement per batch (one by one is a batch of one). Long on purpose:
    one ordered pass over the events, folding each case's facts as it goes."""
    known = await _facts_of(session, {e.case_id for e, _ in items})
    state = state_of(runtime)
    directory, planner = state.directory, state.digest
    now = utcnow()
    active = await state.subscriptions.get(session)
    changed: dict[uuid.UUID, CaseFacts] = {}
    feed: list[dict[str, Any]] = []
    deliveries: list[dict[str, Any]] = []
    for envelope, payload in items:
        before = known.get(envelope.case_id)
        after = _apply(before or CaseFacts(case_id=str(envelope.case_id)), payload)
        known[envelope.case_id] = changed[envelope.case_id] = after
        names = notification_names(envelope, payload, before, after)
        level: str | list[str] | None = None
        if isinstance(payload, CaseOverdue):
            level = payload.withdrawn if payload.level == OverdueLevel.withdrawn else payload.level.value
        feed.append(
            {
                "event_id": envelope.event_id,
                "event": names[0],
                "case_id": envelope.case_id,
                "branch_code": after.branch_code,
                "at": envelope.occurred_at,
                "data": {
                    "type": envelope.type,
                    "notifications": names,
                    "case": after.as_dict(),
                    "payload": envelope.payload,
                },
            }
        )
        body = None
        for sub in active:
            name = subscriptions.wanted(sub, names)
            if name is None or not subscriptions.passes(sub.filters or {}, after, level):
                continue
            recipients = [f"subscription:{sub.id}"] if sub.target else _resolve(sub.recipients, after, directory)
            digest = sub.mode == "digest" and not (after.major and name in URGENT)
            due: datetime = await planner.next_slot(after.branch_code, now) if digest else now
            body = body or envelope.model_dump_json()
            traceparent = tracing.current_for(envelope.case_id)
            facts = {**after.as_dict(), "level": level if isinstance(level, str) else None, "notification": name}
            deliveries.extend(
                {
                    "id": uuid.uuid4(),
                    "subscription_id": sub.id,
                    "event_id": envelope.event_id,
                    "event_type": name,
                    "case_id": envelope.case_id,
                    "channel": sub.channel,
                    "recipient": recipient,
                    "mode": "digest" if digest else "immediate",
                    "body": body,
                    "facts": facts,
                    "status": "pending",
                    "attempts": 0,
                    "budget_from": 0,
                    "next_attempt_at": due,
                    "created_at": now,
                    "updated_at": now,
                    "traceparent": traceparent,
                }
                for recipient in recipients
            )
    rows = [{**facts.as_dict(), "case_id": case_id, "updated_at": now} for case_id, facts in changed.items()]
    await native.execute_many(session, prebuilt(session, "notify.cases", _upsert_case), rows)
    await native.execute_many(
        session, prebuilt(session, "notify.feed", lambda s: insert_ignoring_conflicts(s, t.feed, ["event_id"])), feed
    )
    if deliveries:
        stmt = prebuilt(
            session,
            "notify.deliveries",
            lambda s: insert_ignoring_conflicts(s, t.deliveries, ["event_id", "recipient", "channel"]),
        )
        await native.execute_many(session, stmt, deliveries)
        wakeup.mark(session, "deliveries")


def _resolve(roles: list[str], case: CaseFacts, directory: Directory | None) -> list[str]:
    if directory is None:
        # Before the organisation was ever read, people named on the case can still be told.
        found = [f"staff:{p}" for r in roles if (p := {"assignee": case.assignee, "owner": case.owner}.get(r))]
        return found + (["customer"] if "customer" in roles else [])
    return list(dict.fromkeys(k for role in roles for k in directory.resolve(role, case)))


def notification_names(envelope: Envelope, payload: Any, before: CaseFacts | None, after: CaseFacts) -> list[str]:
    """What the event means, most specific first, its topic last."""
    names: list[str] = []
    if isinstance(payload, CaseOverdue):
        names.append(
            {"warning": "sla.warning", "breach": "sla.breach", "withdrawn": "sla.withdrawn"}.get(
                payload.level.value, "sla.escalation"
            )
        )
    elif isinstance(payload, CaseTransferred):
        names.append("case.assigned")
    elif isinstance(payload, CaseUpdated):
        if payload.action == "register":
            names.append("case.registered")
        if payload.status.value == "closed" and (before is None or before.status != "closed"):
            names.append("case.closed")
    if after.major and not (before and before.major):
        names.append("case.major")
    return [*names, envelope.type]


def _apply(facts: CaseFacts, p: Any) -> CaseFacts:
    v = facts.as_dict()
    if isinstance(p, CaseCreated):
        v.update(case_no=p.case_no, kind=p.kind.value, category=p.category and p.category.value, status=p.status.value)
        v["major"] = v["major"] or bool(p.major_reasons)
    elif isinstance(p, CaseTransferred):
        v.update(unit=p.to_unit, assignee=p.to_assignee, owner=p.owner or v["owner"])
    elif isinstance(p, CaseOverdue):
        v.update(kind=p.kind.value, owner=p.owner or v["owner"], assignee=p.assignee or v["assignee"])
    elif isinstance(p, CaseUpdated):
        v.update(kind=p.kind.value, status=p.status.value, category=p.category and p.category.value)
    v["branch_code"] = p.branch_code
    if not isinstance(p, CaseTransferred):
        v["tier"] = p.tier and p.tier.value
    v["major"] = v["major"] or v["tier"] == "major"
    return CaseFacts(**v)


async def _facts_of(session: AsyncSession, case_ids: set[uuid.UUID]) -> dict[uuid.UUID, CaseFacts]:
    rows = (await session.execute(select(t.cases).where(t.cases.c.case_id.in_(case_ids)))).all()
    fields = [k for k in CaseFacts.__dataclass_fields__ if k != "case_id"]
    return {r.case_id: CaseFacts(case_id=str(r.case_id), **{k: getattr(r, k) for k in fields}) for r in rows}


def _upsert_case(session: AsyncSession) -> Any:
    """Insert a case's facts, or replace them all: built once (``prebuilt``)."""
    stmt = upsert(session, t.cases)
    columns = [c.name for c in t.cases.c if c.name != "case_id"]
    return stmt.on_conflict_do_update(index_elements=["case_id"], set_={c: stmt.excluded[c] for c in columns})
