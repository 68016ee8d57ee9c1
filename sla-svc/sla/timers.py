"""The timer worker: fires due timers from the database, so none is lost to a restart."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from services.database import utcnow
from services.runtime import Runtime
from sla import clocks

log = logging.getLogger(__name__)


async def timer_worker(runtime: Runtime) -> None:
    settings = runtime.settings
    poll: float = settings.timer_poll_seconds  # type: ignore[attr-defined]
    batch: int = settings.timer_batch_size  # type: ignore[attr-defined]
    tolerance = timedelta(seconds=settings.late_tolerance_seconds)  # type: ignore[attr-defined]
    grace = timedelta(seconds=settings.owner_grace_seconds)  # type: ignore[attr-defined]
    while True:
        try:
            async with runtime.db.session() as session:
                fired = await clocks.fire_due_timers(session, utcnow(), batch, tolerance, grace)
                await session.commit()
            if fired:
                log.info("timers fired", extra={"count": fired})
                if fired >= batch:
                    continue
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - database away: try again next round
            log.warning("timer round failed", exc_info=True)
        await asyncio.sleep(poll)
