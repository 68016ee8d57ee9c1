"""sla-svc's API bodies: policies, calendars, clock actions, and what it shows."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal, get_args

from pydantic import BaseModel, Field, field_validator, model_validator

from shared.enums import CaseKind, CaseTier, Category, Channel, ClockState
from shared.types import Ref, Strict, Text200

#: The units a time limit is counted in: the one list (``UNITS``), everywhere.
Unit = Literal["working_days", "working_hours", "hours", "calendar_days"]
UNITS: tuple[Unit, ...] = get_args(Unit)
#: Counted in whole days only ("5 个工作日", never 1.5 of them).
WHOLE_DAY_UNITS: tuple[Unit, ...] = ("working_days", "calendar_days")
#: Counted on the calendar's working time (working days and business hours).
WORKING_UNITS: tuple[Unit, ...] = ("working_days", "working_hours")


def whole_days_error(unit: str, amount: float) -> str | None:
    """Why ``amount`` of ``unit`` is not a limit, or None (a Target, and the due-date API)."""
    if unit in WHOLE_DAY_UNITS and amount != int(amount):
        return f"{unit} are counted in whole days; {amount:g} is not one"
    return None


class Target(Strict):
    unit: Unit
    amount: float = Field(ge=0, le=10000, description="whole for working_days and calendar_days")

    @model_validator(mode="after")
    def _whole_days(self) -> Target:
        if (error := whole_days_error(self.unit, self.amount)) is not None:
            raise ValueError(error)
        return self


class Warning_(Strict):
    percent: float | None = Field(default=None, gt=0, lt=100, description="when this share of the target has passed")
    before: Target | None = Field(default=None, description="this long before the due time")


class Escalation(Strict):
    after: Target


class ClockSpec(Strict):
    name: Ref
    start: list[str] = Field(min_length=1, description="created | assigned | transferred:<kind> | updated:<action>")
    stop: list[str] = Field(min_length=1)
    restart_on: list[str] = Field(default_factory=list)
    pause_on: list[str] = Field(default_factory=list, description="events that pause it (time not counted)")
    resume_on: list[str] = Field(default_factory=list)
    target: Target
    after_transfer: Target | None = Field(
        default=None, description="the target once the case is transferred to another department"
    )
    warnings: list[Warning_] = Field(default_factory=list)
    escalations: list[Escalation] = Field(default_factory=list, max_length=3)
    extensions: list[Target] = Field(
        default_factory=list, description="targets an approved extension may move to, in order"
    )
    channels: list[Channel] | None = Field(default=None, description="only for cases from these channels")
    basis: Literal["rule", "company practice"] = Field(
        default="rule", description="a source rule's limit, or one the company set where the rules give none"
    )
    source: Text200 | None = Field(default=None, description="where the limit comes from, e.g. DOMAIN.md 4, [000 13]")

    @field_validator("start", "stop", "restart_on", "pause_on", "resume_on")
    @classmethod
    def _known_events(cls, events: list[str]) -> list[str]:
        for event in events:
            if event not in ("created", "assigned") and not event.startswith(("transferred:", "updated:")):
                raise ValueError(f"unknown event {event!r}")
        return events


class PolicyMatch(Strict):
    kind: CaseKind | None = None
    tier: CaseTier | None = None
    category: Category | None = None
    channels: list[Channel] | None = None
    agent_complaint: bool | None = Field(
        default=None, description="a complaint naming a sales agent, or about sales conduct"
    )


class PolicyIn(Strict):
    priority: int = Field(ge=0, le=100000)
    description: Text200
    match: PolicyMatch = Field(default_factory=PolicyMatch)
    clocks: list[ClockSpec] = Field(min_length=1)


class PolicyOut(PolicyIn):
    id: str


class CalendarIn(Strict):
    timezone: str = "Asia/Shanghai"
    business_hours: list[tuple[str, str]] = Field(default=[("08:30", "12:00"), ("13:30", "17:30")], min_length=1)
    branch_prefixes: list[str] = Field(default_factory=list, description="branches using it; [] = the default calendar")
    description: Text200 = "working-day calendar"


class CalendarOut(CalendarIn):
    name: str
    known_years: list[int]
    provisional_years: list[int] = Field(
        default_factory=list, description="statutory holidays only, until the State Council's notice is loaded"
    )


class YearSchedule(Strict):
    """One year of the official schedule: days off and make-up working days.

    Load the State Council's notice the day it is published with
    ``PUT /v1/calendars/CN/years/<year>``: every day off (the statutory holidays, their
    substitute days and the bridging days) in ``off``, every make-up working weekend
    day in ``work``. The year is then official, and every clock it touches is re-planned.
    """

    off: dict[date, str] = Field(default_factory=dict, description="public holidays (weekdays or weekends) off")
    work: dict[date, str] = Field(default_factory=dict, description="make-up working days (调休)")
    source: Text200 = "entered by operations"


class PauseIn(Strict):
    by: Ref
    reason: Text200 = Field(description="e.g. external appraisal, testing or assessment")
    complainant_informed: Literal[True] = Field(description="the complainant must be told time is not counted")


class ResumeIn(Strict):
    by: Ref


class ExtendIn(Strict):
    approved_by: Ref
    reason: Text200
    complainant_informed: bool = Field(description="required for the second extension")


class PauseOut(BaseModel):
    start: datetime
    end: datetime | None
    reason: str
    by: str


class ClockView(BaseModel):
    clock: str
    policy: str
    state: ClockState
    started_at: datetime
    due_at: datetime
    stopped_at: datetime | None
    breached_at: datetime | None
    target: Target
    calendar: str
    used_seconds: int = Field(
        description="time used so far, in the clock's measure (working seconds for working units)"
    )
    left_seconds: int = Field(description="time left before the due time, in the same measure; negative when late")
    used_in_unit: float = Field(
        default=0.0, description="used_seconds in the target's unit (a working day is the calendar's hours), 0.1"
    )
    left_in_unit: float = Field(default=0.0, description="left_seconds in the target's unit, 0.1; negative when late")
    timezone: str = Field(
        default="Asia/Shanghai", description="the calendar's time zone, the one its times are read in"
    )
    pauses: list[PauseOut]
    extensions: list[dict[str, Any]]
    changes: list[dict[str, Any]]
    last_level: str | None
    rule: str = Field(description="how the due time is counted")
    explanation: str = Field(description="the due time, in plain language")
    provisional_years: list[int] = Field(
        default_factory=list,
        description="years the clock runs through whose State Council notice is not loaded: statutory holidays only",
    )
    calendar_warning: str | None = Field(default=None, description="why the due time may still change")
    basis: str = Field(default="rule", description="rule | company practice")
    source: str | None = Field(default=None, description="where the limit comes from")


class CaseSla(BaseModel):
    case_id: uuid.UUID
    branch_code: str
    policy: str
    clocks: list[ClockView]


class DueItem(BaseModel):
    case_id: uuid.UUID
    case_no: str | None = Field(default=None, description="intake's case number")
    branch_code: str
    clock: str
    policy: str
    state: str
    due_at: datetime
    breached_at: datetime | None
    last_level: str | None
    owner: str | None
    assignee: str | None
    unit: str | None
    calendar_warning: str | None = Field(
        default=None, description="set when the due time is counted on a provisional (or missing) year"
    )


class TimelinessRow(BaseModel):
    group: str
    clocks: int
    met: int
    breached: int
    running: int
    timeliness_rate: float | None = Field(description="met / (met + breached) of finished clocks")
    average_hours: float | None = Field(description="average clock hours from start to stop, finished clocks")


class WorkingDays(BaseModel):
    """The working days of a branch's calendar from a date on (notify-svc plans digests with it)."""

    calendar: str
    timezone: str
    business_hours: list[tuple[str, str]] = Field(description="opening and closing times, e.g. 08:30-12:00")
    working_days: list[date]
