"""The queue worker: a safety net that keeps assigning waiting cases.

Queues drain at once when capacity frees through this service (a case closing,
a person coming on duty, a transfer out); this loop catches whatever those miss,
such as a change of capacity made directly in the database.
"""

from __future__ import annotations

import asyncio
import logging

from routing import assignment
from routing.state import state_of
from services.runtime import Runtime

log = logging.getLogger(__name__)


async def queue_worker(runtime: Runtime) -> None:
    state = state_of(runtime)
    every = state.settings.queue_drain_seconds
    while True:
        await asyncio.sleep(every)
        try:
            async with runtime.db.session() as session:
                units = await assignment.queued_units(session)
                if not units:
                    continue  # nothing waits: one query a round at rest, the organisation left unread
                org = await state.org.get(session)
                for unit in units:
                    await assignment.drain_queue(session, unit, org)
                await session.commit()
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - database away: next round
            log.warning("queue round failed", exc_info=True)
