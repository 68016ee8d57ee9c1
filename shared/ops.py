"""Ops alerts about the platform itself, as each service reports them in ``/readyz``.

Not case events: they concern no case, and they must reach ops even when the bus is
what failed, so notify-svc reads them from every service's ``/readyz`` over HTTP
(``notify.opsalerts``) and tells the subscriptions that ask for them, once per ``key``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

OpsAlertName = Literal["ops.event_gap", "ops.calendar_notice"]


class OpsAlert(BaseModel):
    alert: OpsAlertName
    key: str = Field(description="one alert per key: the same key is never told twice")
    summary: str = Field(description="what is wrong, in a sentence")
    details: dict[str, str | int | float | bool | None] = Field(default_factory=dict)
