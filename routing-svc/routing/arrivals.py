"""New cases in bulk: a polled batch of ``case.created`` assigned in a few statements.

One by one, ``assignment.assign_new_case`` reads the unit's people, charges one, and
writes the assignment, its history row and its ``case.transferred`` event: six or
seven statements a case. Here the people of every unit the batch needs are read
once, each case is placed in order on that picture (``capacity.ranked``, the same
choice as one by one, each case a microsecond after the one before so that the
round-robin order is the same), and each table is written with one statement.

Capacity stays a guarantee: each person's total is charged with one conditional
``UPDATE`` (``load_points + w <= capacity``), as one by one does per case. If it
fails (someone took the room meanwhile), or a case was assigned meanwhile, the batch
raises ``BatchConflict`` and the consumer applies the batch one by one instead.
``tests/test_batch_equivalence.py`` checks that both leave the same state.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from routing import capacity
from routing import tables as t
from routing.assignment import facts_columns, first_responder, transfer_row
from routing.org import CaseFacts, Org
from services import native
from services.database import changed_rows, insert_ignoring_conflicts, prebuilt, utcnow
from services.outbox import Outgoing, publish_many
from shared.enums import TransferKind
from shared.events import CaseCreated, CaseTransferred, Envelope

#: A batch's transfers, one row each (``services.native.execute_many``).
INSERT_TRANSFER = t.transfers.insert()


class BatchConflict(Exception):
    """The picture the batch was planned on changed; apply it one by one."""


async def assign_new_cases(
    session: AsyncSession, items: Sequence[tuple[Envelope, CaseCreated]], org: Org, default_unit: str
) -> None:
    """Assign a batch of new cases, as ``assignment.assign_new_case`` would one by one.
    Long on purpose: one pass that plans every case against an in-memory copy of the
    teams' capacity, then writes each table once; splitting the pass would split the
    plan that the writes must agree with (``BatchConflict`` when the database does not)."""
    first: dict[uuid.UUID, tuple[Envelope, CaseCreated]] = {}
    for envelope, case in items:
        first.setdefault(envelope.case_id, (envelope, case))
    known = set(await session.scalars(select(t.assignments.c.case_id).where(t.assignments.c.case_id.in_(first))))
    todo = [(e, c) for case_id, (e, c) in first.items() if case_id not in known]
    if not todo:
        return
    decisions = {e.case_id: org.decide(CaseFacts.of(c), default_unit) for e, c in todo}
    people = await capacity.members_of(session, {d.unit for d in decisions.values()})
    receivers = {c.received_by for e, c in todo if decisions[e.case_id].work_order and c.received_by}
    unit_of: dict[str, str] = {}
    if receivers:
        rows = await session.execute(select(t.staff.c.id, t.staff.c.unit_code).where(t.staff.c.id.in_(receivers)))
        unit_of = {r.id: r.unit_code for r in rows}
    charged: dict[str, capacity.Person] = {}
    charges: dict[str, int] = {}
    counts: dict[str, int] = {}
    assignments: list[dict[str, Any]] = []
    transfers: list[dict[str, Any]] = []
    events: list[Outgoing] = []
    start = utcnow()
    for i, (envelope, case) in enumerate(todo):
        now = start + timedelta(microseconds=i)
        facts, decision = CaseFacts.of(case), decisions[envelope.case_id]
        w = capacity.weight(facts.kind, facts.tier, org.weights.get(decision.unit))
        best = next(iter(capacity.ranked(people[decision.unit], w, facts.category, facts.line_of_business)), None)
        assignee = best.id if best else None
        if best is not None:
            taken = dataclasses.replace(best, load=best.load + w, last_assigned_at=now)
            people[decision.unit] = [taken if p.id == best.id else p for p in people[decision.unit]]
            charged[best.id] = taken
            charges[best.id] = charges.get(best.id, 0) + w
            counts[best.id] = counts.get(best.id, 0) + 1
        owner = first_responder(case, org, assignee)
        assignments.append(
            {
                "case_id": envelope.case_id,
                "branch_code": case.branch_code,
                "unit": decision.unit,
                "rule_id": decision.rule_id,
                "updated_at": now,
                "priority": decision.priority,
                "assignee": assignee,
                "owner": owner,
                "weight": w,
                "queued_since": None if assignee else now,
                **facts_columns(facts),
            }
        )
        from_unit = unit_of.get(case.received_by) if decision.work_order and case.received_by else None
        kind = TransferKind.work_order if decision.work_order else TransferKind.assign
        from_assignee = case.received_by if from_unit else None
        payload = CaseTransferred(
            transfer_kind=kind,
            branch_code=case.branch_code,
            from_unit=from_unit,
            to_unit=decision.unit,
            from_assignee=from_assignee,
            to_assignee=assignee,
            owner=owner,
            reason=decision.reason,
            rule_id=decision.rule_id,
            priority=decision.priority,
            queued=assignee is None,
            inform=list(decision.inform),
        )
        transfers.append(transfer_row(envelope.case_id, payload, now))
        events.append(Outgoing(payload, envelope.case_id, now, envelope.correlation_id))
    claim = prebuilt(
        session,
        "routing.assignments.claim",
        lambda s: insert_ignoring_conflicts(s, t.assignments, ["case_id"]).returning(t.assignments.c.case_id),
    )
    if len(await native.fetch_many(session, claim, assignments)) != len(assignments):
        raise BatchConflict("a case of the batch was assigned meanwhile")
    for person_id, w in charges.items():
        person = charged[person_id]
        took = await changed_rows(
            session,
            t.staff.update()
            .where(t.staff.c.id == person_id, t.staff.c.load_points + w <= person.capacity)
            .values(
                load_points=t.staff.c.load_points + w,
                open_cases=t.staff.c.open_cases + counts[person_id],
                last_assigned_at=person.last_assigned_at,
            ),
        )
        if took != 1:
            raise BatchConflict(f"{person_id} has no room left for the batch")
    await native.execute_many(session, INSERT_TRANSFER, transfers)
    await publish_many(session, t.runtime, events)
