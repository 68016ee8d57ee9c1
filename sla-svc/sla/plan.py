"""When a clock is due, and when its warnings and escalations fire: pure functions
of the calendar, the start, the target and the time paused.

Paused time is kept in the clock's own measure: business seconds for working-day
and working-hour clocks (so a pause over a weekend costs nothing), real seconds
for clock-hour and calendar-day clocks.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.sla import ClockSpec, Target
from sla.calendar import WorkCalendar

WORKING_UNITS = ("working_days", "working_hours")


def measure(cal: WorkCalendar, unit: str, epoch: int) -> int:
    """A moment in the clock's measure."""
    return cal.tables.position(epoch) if unit in WORKING_UNITS else epoch


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


def timer_moments(cal: WorkCalendar, spec: ClockSpec, unit: str, start: int, due_at: int) -> list[Moment]:
    """Warnings strictly between start and due, the breach at due, escalations after it."""
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
        if start < at < due_at:
            moments.append(Moment(f"warning-{n}", "warning", at))
    moments.append(Moment("breach", "breach", due_at))
    for n, escalation in enumerate(spec.escalations, 1):
        moments.append(
            Moment(
                f"escalation-{n}",
                f"escalation-{n}",
                cal.due_epoch(due_at, escalation.after.unit, escalation.after.amount),
            )
        )
    return moments
