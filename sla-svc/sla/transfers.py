"""Transfers in bulk: a polled batch of ``case.transferred`` in a few statements.

One by one, a transfer cost an upsert of the case's parties, two logged events, a
read of the case, and a read of its clocks per event name, before anything happened
to a clock: a third of sla's time in issue 14's second profile. A batch now takes:

- the parties of every transfer, in order, in one executemany (a case transferred
  twice ends with its last parties; a value the table refuses fails the batch, as it
  would fail alone, and the consumer then isolates it);
- every event name logged in one multi-row insert, in arrival order;
- every case in one read; a case that has not arrived yet has its logged events
  replayed when it does (``engine.on_created``), as one by one;
- per case, in arrival order, each name through ``engine.apply_event``, which reads
  the clocks only for a name some clock of the policy reacts to.

The one-by-one handler is this batch of one. ``tests/test_batch_equivalence.py``
compares a batch with its records applied one at a time.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.events import CaseTransferred
from sla import clocks, engine
from sla import tables as t


async def on_transferred_batch(
    session: AsyncSession, ctx: clocks.Context, items: Sequence[tuple[uuid.UUID, CaseTransferred, datetime]]
) -> None:
    if not items:
        return
    await session.execute(engine.upsert_parties(session), [engine.parties(c, e) for c, e, _ in items])
    named = [(case_id, engine.transfer_names(event), at) for case_id, event, at in items]
    await session.execute(
        engine.INSERT_EVENT,
        [{"case_id": case_id, "event": name, "at": at} for case_id, names, at in named for name in names],
    )
    ids = {case_id for case_id, _, _ in items}
    cases = {r.case_id: r for r in await session.execute(select(t.cases).where(t.cases.c.case_id.in_(ids)))}
    for case_id, names, at in named:
        case = cases.get(case_id)
        if case is None:
            continue  # replayed when the case arrives
        for name in names:
            await engine.apply_event(session, ctx, case, name, at)
