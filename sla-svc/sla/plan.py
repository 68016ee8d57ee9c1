"""When a clock is due, and when its warnings and escalations fire: pure functions
of the calendar, the start, the target and the time paused.

Paused time is kept in the clock's own measure: business seconds for working-day
and working-hour clocks (so a pause over a weekend costs nothing), real seconds
for clock-hour clocks, and whole days for calendar-day clocks: a pause excludes
as many days as midnights it spans, as the Civil Code counts a period in days
(the day it starts is not counted, the day it ends is), whatever the hour the
clock or the pause started (decision 0004).

Warnings are planned only for moments still ahead when the clock is planned (a
case received long ago is not warned that it is about to be late); escalations
count from the end of the limit's last day, so a calendar-day limit ending at
24:00 escalates one working day later at that next day's close of business.

Only a clock's next moment is stored as a timer (``next_moment``); the one after is
planned when it fires (``sla.firing``), so the moments fire in the same order and at
the same times as if all had been stored at the start (decision 0026).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime

from shared.sla import WORKING_UNITS, ClockSpec, Target
from sla.calendar import WorkCalendar


def measure(cal: WorkCalendar, unit: str, epoch: int) -> int:
    """A moment in the clock's measure."""
    return cal.tables.position(epoch) if unit in WORKING_UNITS else epoch


def paused_between(cal: WorkCalendar, unit: str, paused_at: int, resumed_at: int) -> int:
    """What a pause from ``paused_at`` to ``resumed_at`` adds, in the clock's measure."""
    if unit == "calendar_days":
        days = cal.from_epoch(resumed_at).date().toordinal() - cal.from_epoch(paused_at).date().toordinal()
        return max(days, 0) * 86400
    return max(measure(cal, unit, resumed_at) - measure(cal, unit, paused_at), 0)


def due(cal: WorkCalendar, start: int, target: Target, paused: int) -> int:
    if target.unit in WORKING_UNITS:
        base = cal.due_epoch(start, target.unit, target.amount)
        return cal.tables.at_position(cal.tables.position(base) + paused) if paused else base
    if target.unit == "calendar_days":
        return cal.due_epoch(start + paused, target.unit, target.amount)
    return cal.due_epoch(start, target.unit, target.amount) + paused


def shifted(cal: WorkCalendar, moment: int, by: Target, sign: int) -> int:
    """``moment`` moved by ``by`` (later for +1, earlier for -1), counted in ``by``'s own unit."""
    if by.unit in WORKING_UNITS:
        seconds = by.amount * (cal.tables.day_seconds if by.unit == "working_days" else 3600)
        return cal.tables.at_position(cal.tables.position(moment) + sign * int(seconds))
    seconds = by.amount * (86400 if by.unit == "calendar_days" else 3600)
    return moment + sign * int(seconds)


@dataclass(frozen=True)
class Moment:
    key: str
    level: str
    at: int


def threshold(spec: ClockSpec, key: str) -> str | None:
    """Which of the clock's warnings or escalations a timer key is, in words."""
    kind, _, n = key.partition("-")
    if kind == "warning" and n.isdigit() and int(n) <= len(spec.warnings):
        w = spec.warnings[int(n) - 1]
        if w.percent is not None:
            return f"{w.percent:g}% of the limit used"
        if w.before is not None:
            return f"{w.before.amount:g} {w.before.unit} before due"
    if kind == "escalation" and n.isdigit() and int(n) <= len(spec.escalations):
        e = spec.escalations[int(n) - 1].after
        return f"{e.amount:g} {e.unit} after due"
    return None


def timer_moments(
    cal: WorkCalendar, spec: ClockSpec, unit: str, start: int, due_at: int, now: int | None = None
) -> list[Moment]:
    """Warnings strictly between start and due and still ahead of ``now``, the breach at
    due, escalations after it (counted from the end of the limit's last day)."""
    now = int(datetime.now(UTC).timestamp()) if now is None else now
    moments: list[Moment] = []
    start_m, due_m = measure(cal, unit, start), measure(cal, unit, due_at)
    for n, warning in enumerate(spec.warnings, 1):
        if warning.percent is not None:
            at_m = start_m + int((due_m - start_m) * warning.percent / 100)
            at = cal.tables.at_position(at_m) if unit in WORKING_UNITS else at_m
        elif warning.before is not None:
            at = shifted(cal, due_at, warning.before, -1)
        else:
            continue
        if start < at < due_at and at > now:
            moments.append(Moment(f"warning-{n}", "warning", at))
    moments.append(Moment("breach", "breach", due_at))
    for n, escalation in enumerate(spec.escalations, 1):
        after = escalation.after
        # A limit ending at 24:00 (00:00 of the next day) ended on the day before.
        base = due_at - 1 if after.unit in ("working_days", "calendar_days") else due_at
        moments.append(Moment(f"escalation-{n}", f"escalation-{n}", cal.due_epoch(base, after.unit, after.amount)))
    return moments


def next_moment(moments: list[Moment], fired: Collection[str], after: int | None = None) -> Moment | None:
    """The clock's next timer: the earliest of ``moments`` whose key has not fired in this
    run, and, once a timer that was due at ``after`` has fired, none due before it.

    Why ``after``: the moment after a fired one is counted when it fires, with every
    warning (``timer_moments(..., now=0)``); a warning due before the fired moment was
    either fired or left out when the clock was planned (already past then), and is not
    the next. Ties keep ``timer_moments``' order (warnings, the breach, escalations)."""
    for moment in sorted(moments, key=lambda m: m.at):
        if moment.key not in fired and (after is None or moment.at >= after):
            return moment
    return None
