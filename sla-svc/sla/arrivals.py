"""New cases in bulk: a polled batch of ``case.created`` in five statements.

One by one, ``engine.on_created`` costs about ten statements a case (insert the case,
log the event, read the case back, read its events, read its clocks, then per clock
a clock, a plan and its timers): 38% of sla's time in issue 14's profile. The
consumer hands the whole batch here instead, and each table is written with one
multi-row statement. The outcome is the same as ``on_created`` applied to each event
in order (``tests/test_batch_equivalence.py`` checks it with generated batches):

- a case seen before (or twice in the batch) changes nothing after its first arrival;
- every case starts the clocks its policy starts on ``created``, from its
  ``received_at``, built by ``clocks.new_clock`` as a single start would be;
- a case whose other events came first (a transfer logged before the creation, which
  partitions, redelivery and a consumer behind its producers allow) then has those
  events applied in the order ``engine.replay`` takes them. Replay orders a case's
  events by time, its creation at ``received_at``; when every earlier-logged event is
  later than that, the creation comes first, and starting its clocks with the batch is
  what replay's first step does. A case with an event logged at or before its
  ``received_at`` is replayed as ``on_created`` would replay it. (Replayed event by
  event, such a case cost 1.9 times one that came in order: ``python -m
  bench.instructions --service sla-svc --transfers before``.)
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
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
    arrived = [case_id for case_id in rows if case_id in new]  # in arrival order
    await native.execute_many(
        session,
        engine.INSERT_EVENT,
        [{"case_id": c, "event": "created", "at": rows[c]["received_at"]} for c in arrived],
    )
    logged = await _logged_before(session, new)
    starts: list[clocks.NewClock] = []
    then: list[tuple[Any, list[tuple[str, datetime]]]] = []
    replayed: list[uuid.UUID] = []
    for case_id in arrived:
        row = rows[case_id]
        received_at, events = row["received_at"], logged.get(case_id, [])
        assert isinstance(received_at, datetime)
        if any(at <= received_at for _, at in events):
            replayed.append(case_id)
            continue
        new_case: Any = SimpleNamespace(**row)  # read as the case's row is
        policy = ctx.policy_of(new_case)
        for spec in policies.applicable(policy, new_case):
            if "created" in spec.start:
                starts.append(clocks.new_clock(ctx, new_case, policy, spec, new_case.received_at))
        if events:
            then.append((new_case, events))
    for case_id in replayed:
        await engine.replay(session, ctx, case_id)
    await _start(session, ctx, starts)
    for case, events in then:
        for name, at in events:
            await engine.apply_event(session, ctx, case, name, at)


async def _logged_before(
    session: AsyncSession, case_ids: set[uuid.UUID]
) -> dict[uuid.UUID, list[tuple[str, datetime]]]:
    """Each case's events logged before its creation arrived, in replay's order."""
    rows = await session.execute(
        select(t.case_events.c.case_id, t.case_events.c.event, t.case_events.c.at)
        .where(t.case_events.c.case_id.in_(case_ids), t.case_events.c.event != "created")
        .order_by(t.case_events.c.at, t.case_events.c.id)
    )
    logged: dict[uuid.UUID, list[tuple[str, datetime]]] = {}
    for case_id, event, at in rows:
        logged.setdefault(case_id, []).append((event, at))
    return logged


async def _start(session: AsyncSession, ctx: clocks.Context, starts: list[clocks.NewClock]) -> None:
    """The new clocks, their plans and first timers: each table in one statement."""
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
