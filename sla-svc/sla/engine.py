"""Clocks driven by events: each event of a case (``created``, ``assigned``,
``transferred:<kind>``, ``updated:<action>``) is logged, then applied to the clocks of
the case's policy: it may start a clock, stop it, restart it (a reopen), pause or
resume it, or re-target it (a transfer to another department). A reclassification
re-plans the case under its new policy: clocks the new policy also has keep running
with its targets, the others are cancelled, and new ones start from the logged events.
An event that arrives before its case is logged and replayed when the case arrives.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.database import insert_ignoring_conflicts, prebuilt, upsert, utcnow
from shared.enums import CaseStatus, ClockState
from shared.events import CaseCreated, CaseTransferred, CaseUpdated
from shared.sla import PolicyOut
from sla import calendars as cals
from sla import clocks, policies
from sla import tables as t
from sla.clock import clocks_of, save
from sla.clocks import Context

INSERT_EVENT = t.case_events.insert()


def case_row(ctx: Context, case_id: uuid.UUID, case: CaseCreated) -> dict[str, Any]:
    """The ``sla.cases`` row of a new case: its policy and calendar chosen once, here."""
    policy = policies.matching(ctx.policies, case)
    cal = cals.for_branch(ctx.calendars, case.branch_code, ctx.default_calendar)
    return {
        "case_id": case_id,
        "case_no": case.case_no,
        "kind": case.kind,
        "tier": case.tier,
        "category": case.category,
        "channel": case.channel,
        "branch_code": case.branch_code,
        "agent_code": case.agent_code,
        "status": case.status,
        "received_at": case.received_at,
        "policy": policy.id,
        "calendar": cal.name,
    }


def insert_case(session: AsyncSession) -> Any:
    return prebuilt(
        session,
        "sla.cases",
        lambda s: insert_ignoring_conflicts(s, t.cases, ["case_id"]).returning(t.cases.c.case_id),
    )


async def on_created(session: AsyncSession, ctx: Context, case_id: uuid.UUID, case: CaseCreated) -> None:
    if (await session.execute(insert_case(session), case_row(ctx, case_id, case))).first() is None:
        return  # seen before
    await _log(session, case_id, "created", case.received_at)
    await replay(session, ctx, case_id)


def transfer_names(event: CaseTransferred) -> list[str]:
    """The clock events a transfer is: its kind, and ``assigned`` when someone has it."""
    return [f"transferred:{event.transfer_kind}"] + (["assigned"] if event.to_assignee else [])


def parties(case_id: uuid.UUID, event: CaseTransferred) -> dict[str, Any]:
    """Who has the case after a transfer (``sla.case_parties``), for alerts and reports."""
    return {
        "case_id": case_id,
        "unit": event.to_unit,
        "assignee": event.to_assignee,
        "owner": event.owner,
        "updated_at": utcnow(),
    }


def upsert_parties(session: AsyncSession) -> Any:
    """One statement for one transfer or, executed with a list, for a batch in order."""

    def build(s: AsyncSession) -> Any:
        stmt = upsert(s, t.case_parties)
        kept = ("unit", "assignee", "owner", "updated_at")
        return stmt.on_conflict_do_update(index_elements=["case_id"], set_={name: stmt.excluded[name] for name in kept})

    return prebuilt(session, "sla.case_parties", build)


async def on_updated(session: AsyncSession, ctx: Context, case_id: uuid.UUID, event: CaseUpdated, at: datetime) -> None:
    case = await case_of(session, case_id)
    if case is not None:
        await session.execute(
            t.cases.update()
            .where(t.cases.c.case_id == case_id)
            .values(
                kind=event.kind,
                tier=event.tier,
                category=event.category,
                status=event.status,
                agent_code=event.agent_code,
            )
        )
        if event.action in ("reclassify", "escalate-to-complaint"):
            await replan_policy(
                session, ctx, case_id, at, f"{event.action}: {event.kind}/{event.tier}/{event.category}"
            )
    name = f"updated:{event.action}"
    if event.action == "start-appraisal" and event.details.get("complainant_informed") is not True:
        name += " (complainant not informed: not a pause)"  # logged, never matches pause_on
    await _apply_events(session, ctx, case_id, [name], at)
    if event.status == CaseStatus.closed and case is not None:
        await stop_all(session, case_id, at, f"the case was closed ({event.action})")


async def stop_all(session: AsyncSession, case_id: uuid.UUID, at: datetime, why: str) -> None:
    """Closing a case stops every clock still open: met if within its limit (a paused
    clock's time was not running), breached if it had already run out."""
    for clock in await clocks_of(session, case_id):
        if clock.open:
            await clocks.stop_clock(session, clock, at, why)


async def _log(session: AsyncSession, case_id: uuid.UUID, event: str, at: datetime) -> None:
    await session.execute(INSERT_EVENT, {"case_id": case_id, "event": event, "at": at})


async def case_of(session: AsyncSession, case_id: uuid.UUID) -> Row[Any] | None:
    return (await session.execute(select(t.cases).where(t.cases.c.case_id == case_id))).first()


async def _apply_events(
    session: AsyncSession, ctx: Context, case_id: uuid.UUID, names: list[str], at: datetime
) -> None:
    for name in names:
        await _log(session, case_id, name, at)
    case = await case_of(session, case_id)
    if case is None:
        return  # replayed when the case arrives
    for name in names:
        await apply_event(session, ctx, case, name, at)


async def replay(session: AsyncSession, ctx: Context, case_id: uuid.UUID, only: set[str] | None = None) -> None:
    """Apply the logged events in time order (after the case arrives, or a new policy)."""
    case = await case_of(session, case_id)
    assert case is not None
    logged = (
        await session.execute(
            select(t.case_events)
            .where(t.case_events.c.case_id == case_id)
            .order_by(t.case_events.c.at, t.case_events.c.id)
        )
    ).all()
    for row in logged:
        await apply_event(session, ctx, case, row.event, row.at, only)


def _reacts(policy: PolicyOut, case: Any, name: str) -> bool:
    """Whether an event of this name could start, stop, restart, re-target, pause or
    resume any clock of the case (``apply_event`` acts on nothing else)."""
    return any(
        name in spec.start
        or name in spec.stop
        or name in spec.restart_on
        or name in spec.pause_on
        or name in spec.resume_on
        or (name == "transferred:transfer" and spec.after_transfer is not None)
        for spec in policies.applicable(policy, case)
    )


async def apply_event(
    session: AsyncSession, ctx: Context, case: Row[Any], name: str, at: datetime, only: set[str] | None = None
) -> None:
    """One event on the case's clocks; a name no clock reacts to costs no read."""
    policy = ctx.policy_of(case)
    if not _reacts(policy, case, name):
        return
    existing = {c.name: c for c in await clocks_of(session, case.case_id)}
    for spec in policies.applicable(policy, case):
        if only is not None and spec.name not in only:
            continue
        clock = existing.get(spec.name)
        if clock is not None and clock.state != ClockState.cancelled:
            if name in spec.stop and clock.stopped_at is None:
                await clocks.stop_clock(session, clock, at)
            elif name in spec.restart_on and clock.stopped_at is not None:
                await clocks.restart_clock(session, ctx, clock, spec, at)
            elif name == "transferred:transfer" and spec.after_transfer and clock.stopped_at is None:
                await clocks.retarget(session, ctx, clock, spec.after_transfer, "transferred to another department", at)
            elif name in spec.pause_on and clock.state == ClockState.running:
                await clocks.pause_clock(session, clock, at, name.removeprefix("updated:"), "intake-svc")
            elif name in spec.resume_on and clock.state == ClockState.paused:
                await clocks.resume_clock(session, ctx, clock, at, "intake-svc")
        elif clock is None and name in spec.start:
            start = case.received_at if name == "created" else at
            await clocks.start_clock(session, ctx, case, policy, spec, start)


async def replan_policy(session: AsyncSession, ctx: Context, case_id: uuid.UUID, at: datetime, why: str) -> None:
    case = await case_of(session, case_id)
    assert case is not None
    new = policies.matching(ctx.policies, case)
    if new.id == case.policy:
        return
    await session.execute(t.cases.update().where(t.cases.c.case_id == case_id).values(policy=new.id))
    specs = {s.name: s for s in policies.applicable(new, case)}
    existing = await clocks_of(session, case_id)
    for clock in existing:
        if not clock.open:
            continue
        spec = specs.get(clock.name)
        if spec is None:
            await clocks.drop_timers(session, clock.id)
            await save(session, replace(clock, state=ClockState.cancelled, stopped_at=at))
            continue
        change = {
            "at": at.isoformat(),
            "change": f"re-planned under policy {new.id} ({why})",
            "from": {"unit": clock.unit, "amount": clock.amount},
            "to": spec.target.model_dump(),
        }
        moved = replace(clock, policy=new.id, tier=case.tier, kind=case.kind, spec=spec)
        await clocks.replan(session, ctx, moved, spec.target, clock.paused_total, change)
    await replay(session, ctx, case_id, only=set(specs) - {c.name for c in existing})
