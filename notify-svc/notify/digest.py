"""When a digest goes out: the next digest time on a working day of the case's branch.

Digests exist so that nobody is woken at 03:00 by something that can wait: a
non-urgent notification joins the recipient's next summary, sent at one of
``DIGEST_TIMES`` (local time of the branch's calendar) on a working day of that
calendar, which sla-svc owns (``GET /v1/working-days``: public holidays and
make-up working days included). Breaches and escalations of major complaints never
wait (``fanout.URGENT``).

The working days are asked for once a day per branch and kept. When sla-svc does
not answer, Monday to Friday in the default time zone stand in, and the fallback is
logged: a digest a day early beats one that never goes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from notify.peers import PeerError, Peers

log = logging.getLogger(__name__)
HORIZON_DAYS = 40


@dataclass(frozen=True)
class _Days:
    fetched: date
    valid_until: datetime
    tz: ZoneInfo
    working: frozenset[date]
    exact: bool


class DigestPlanner:
    def __init__(self, peers: Peers, times: str, default_tz: str = "Asia/Shanghai") -> None:
        self.peers = peers
        self.times = sorted(time.fromisoformat(x.strip()) for x in times.split(",") if x.strip())
        self.default_tz = ZoneInfo(default_tz)
        self._cache: dict[str, _Days] = {}

    async def next_slot(self, branch_code: str | None, now: datetime) -> datetime:
        days = await self._days(branch_code or "HO", now)
        local = now.astimezone(days.tz)
        for offset in range(HORIZON_DAYS):
            day = local.date() + timedelta(days=offset)
            if not self._working(days, day):
                continue
            for slot in self.times:
                moment = datetime.combine(day, slot, days.tz)
                if moment > local:
                    return moment.astimezone(UTC)
        return now  # no working day in sight: better sent than held forever

    @staticmethod
    def _working(days: _Days, day: date) -> bool:
        return day in days.working if days.exact else day.weekday() < 5

    async def _days(self, branch_code: str, now: datetime) -> _Days:
        today = now.astimezone(self.default_tz).date()
        cached = self._cache.get(branch_code)
        if cached and cached.fetched == today and now < cached.valid_until:
            return cached
        try:
            wd = await self.peers.working_days(branch_code, today - timedelta(days=1), HORIZON_DAYS + 1)
            days = _Days(today, now + timedelta(days=1), ZoneInfo(wd.timezone), frozenset(wd.working_days), True)
        except PeerError as exc:
            log.warning("working days unknown, digests follow Monday to Friday", extra={"error": str(exc)})
            days = _Days(today, now + timedelta(seconds=60), self.default_tz, frozenset(), False)
        self._cache[branch_code] = days
        return days
