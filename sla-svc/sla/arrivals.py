"""New cases in bulk: a polled batch of ``case.created`` in five statements.

One by one, ``engine.on_created`` costs about ten statements a case (insert the case,
log the event, read the case back, read its events, read its clocks, then per clock
a clock, a plan and its timers): 38% of sla's time in issue 14's profile. The
consumer hands the whole batch here instead, and each table is written with one
multi-row statement. The outcome is the same as ``on_created`` applied to each event
in order (``tests/test_batch_equivalence.py`` checks it with generated batches):

- a case seen before (or twice in the batch) changes nothing after its first arrival;
- a case whose other events came first (a transfer logged before the creation, which
  partitions and redelivery allow) goes through ``engine.replay``, event by event,
  exactly as ``on_created`` would take it;
- every other case starts the clocks its policy starts on ``created``, from its
  ``received_at``, built by ``clocks.new_clock`` as a single start would be.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services import native
from shared.events import CaseCreated
from sla import clocks, engine, policies
from sla import tables as t


async def on_created_batch(
    session: AsyncSession, ctx: clocks.Context, items: Sequence[tuple[uuid.UUID, CaseCreated]]
) -> None:
    rows: dict[uuid.UUID, dict[str, object]] = {}
    for case_id, case in items:
        rows.setdefault(case_id, engine.case_row(ctx, case_id, case))  # the first arrival wins
    if not rows:
        return
    new = {r[0] for r in await native.fetch_many(session, engine.insert_case(session), list(rows.values()))}
    if not new:
        return
    arrived = [rows[case_id] for case_id in rows if case_id in new]
    await native.execute_many(
        session,
        engine.INSERT_EVENT,
        [{"case_id": r["case_id"], "event": "created", "at": r["received_at"]} for r in arrived],
    )
    early = set(
        await session.scalars(
            select(t.case_events.c.case_id)
            .where(t.case_events.c.case_id.in_(new), t.case_events.c.event != "created")
            .distinct()
        )
    )
    starts: list[clocks.NewClock] = []
    for row in arrived:
        if row["case_id"] in early:
            continue
        new_case = SimpleNamespace(**row)
        policy = ctx.policy_of(new_case)
        for spec in policies.applicable(policy, new_case):
            if "created" in spec.start:
                starts.append(clocks.new_clock(ctx, new_case, policy, spec, new_case.received_at))
    for case_id in rows:
        if case_id in early:
            await engine.replay(session, ctx, case_id)
    if not starts:
        return
    inserted = await native.fetch_many(session, clocks.insert_clock(session), [s.row for s in starts])
    ids = {(r[1], r[2]): r[0] for r in inserted}  # RETURNING id, case_id, clock
    plans: list[dict[str, Any]] = []
    timers: list[dict[str, Any]] = []
    for s in starts:
        clock_id = ids.get((s.row["case_id"], s.row["clock"]))
        if clock_id is None:
            continue
        plans.append({**s.plan, "clock_id": clock_id})
        timers.extend({**m, "clock_id": clock_id} for m in s.timers)
    await native.execute_many(session, clocks.INSERT_PLAN, plans)
    await clocks.add_timers(session, ctx, timers)
