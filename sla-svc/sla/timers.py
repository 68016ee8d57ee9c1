"""The timer worker: fires due timers from the database, so none is lost to a restart."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services import failpoints
from services.database import utcnow
from services.runtime import Runtime
from sla import tables as t
from sla.firing import fire_due_timers, next_due
from sla.state import TimerMetrics, state_of

log = logging.getLogger(__name__)
WAKE_COALESCE_SECONDS = 0.1


def count(metrics: TimerMetrics, fired: int, tally: Counter[tuple[str, str, bool]]) -> None:
    """A committed round on ``/metrics``."""
    metrics.fired.inc(fired)
    for (clock, level, late), n in tally.items():
        metrics.alerts.labels(clock, level).inc(n)
        if late:
            metrics.late.inc(n)


async def due_now(runtime: Runtime, session: AsyncSession) -> None:
    """``ServiceSpec.on_scrape``: timers past due and not fired (one partial-index count)."""
    due = await session.scalar(
        select(func.count()).select_from(t.timers).where(t.timers.c.fired_at.is_(None), t.timers.c.due_at <= utcnow())
    )
    state_of(runtime).metrics.due.set(due or 0)


async def timer_worker(runtime: Runtime) -> None:
    state = state_of(runtime)
    s = state.settings
    if not s.timer_worker:
        return
    tolerance, grace = timedelta(seconds=s.late_tolerance_seconds), timedelta(seconds=s.owner_grace_seconds)
    planned = runtime.db.wakeups.signal("timers")  # set by commits that plan timers due sooner
    while True:
        planned.clear()  # before looking: timers planned during this round wake the next
        wait = s.timer_poll_seconds
        try:
            async with runtime.db.session() as session:
                ctx = await state.context_in(session)  # replaced when policies or calendars change
                ctx.timers_sleep_until = None  # during the round, any new timer wakes the next one
                tally: Counter[tuple[str, str, bool]] = Counter()
                fired = await fire_due_timers(session, ctx, utcnow(), s.timer_batch_size, tolerance, grace, tally)
                await session.commit()
                if fired:
                    failpoints.reached("timers.round_committed")
                    count(state.metrics, fired, tally)
                    log.info("timers fired", extra={"count": fired})
                    if fired >= s.timer_batch_size:
                        continue
                upcoming = await next_due(session)
            # Sleep until the next timer is due, so breaches fire on time, not a poll later.
            if upcoming is not None:
                wait = min(max((upcoming - utcnow()).total_seconds(), 0.005), s.timer_poll_seconds)
            ctx.timers_sleep_until = utcnow() + timedelta(seconds=wait)  # earlier new timers wake us
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - database away: try again next round
            log.warning("timer round failed", exc_info=True)
        if await planned.wait(wait):
            # Woken by a commit that planned timers: let a burst of such commits (a busy
            # consumer) share one round. New timers are due days ahead, or wait the owner
            # grace, so this costs no alert its moment.
            await asyncio.sleep(WAKE_COALESCE_SECONDS)
