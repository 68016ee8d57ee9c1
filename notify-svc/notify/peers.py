"""The other services' HTTP APIs, as notify-svc reads them.

Services never read each other's tables (README): the organisation comes from
routing-svc's ``GET /v1/org``, a customer's phone number from intake-svc's
``GET /v1/cases/{id}/contact`` at the moment an SMS is sent (so notify never
stores it), the promised reply date from sla-svc's clocks, and the working days
that digests follow from sla-svc's calendars.
"""

from __future__ import annotations

import logging
import uuid
from datetime import date, datetime
from typing import Any

import httpx

from notify.settings import NotifySettings
from shared.intake import ContactOut
from shared.sla import CaseSla, WorkingDays

log = logging.getLogger(__name__)


class PeerError(RuntimeError):
    """Another service did not answer as expected; the caller retries later."""


class Peers:
    def __init__(self, settings: NotifySettings, client: httpx.AsyncClient) -> None:
        self.s = settings
        self.client = client

    async def _get(self, url: str, params: dict[str, Any] | None = None) -> Any:
        try:
            response = await self.client.get(url, params=params)
        except httpx.HTTPError as exc:
            raise PeerError(f"{url.split('/v1/')[0]} unreachable: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise PeerError(f"GET {url.split('?')[0]} answered {response.status_code}")
        return response.json()

    async def org_document(self) -> dict[str, Any]:
        doc: dict[str, Any] = await self._get(f"{self.s.routing_url}/v1/org")
        return doc

    async def contact(self, case_id: uuid.UUID) -> ContactOut:
        return ContactOut.model_validate(await self._get(f"{self.s.intake_url}/v1/cases/{case_id}/contact"))

    async def promised_by(self, case_id: uuid.UUID) -> datetime | None:
        """The due time of the first running customer-facing clock (the date we promise)."""
        sla = CaseSla.model_validate(await self._get(f"{self.s.sla_url}/v1/cases/{case_id}/sla"))
        for name in self.s.customer_promise_clocks.split(","):
            for clock in sla.clocks:
                if clock.clock == name.strip() and clock.state in ("running", "paused"):
                    return clock.due_at
        return None

    async def working_days(self, branch_code: str, start: date, days: int) -> WorkingDays:
        params = {"branch_code": branch_code, "start": start.isoformat(), "days": days}
        return WorkingDays.model_validate(await self._get(f"{self.s.sla_url}/v1/working-days", params))
