"""My work: what waits for the signed-in person.

- the open cases they hold now, and those they are first responder (首问责任人) for;
- for those who approve (签报, written-reply review), the cases pending approval in
  their scope;
- for team leads and heads, each of their units' queue (cases waiting for someone
  with capacity) and who in the unit holds how much, so they can reassign.

Each list is the owning API's answer with the person's token; a list their roles may
not read is not shown.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from console.apis import Apis, answered
from console.pages import render
from console.routes import PersonDep
from console.sessions import Person
from console.state import state_of
from shared.auth import CASE_APPROVE, REPORTS_READ, permissions_of

router = APIRouter()


async def _search(apis: Apis, person: Person, **body: Any) -> list[dict[str, Any]]:
    found = await apis.call("intake", "POST", "/v1/cases/search", person.token, body={"limit": 100, **body})
    items: list[dict[str, Any]] = found["items"]
    return items


async def _teams(apis: Apis, person: Person) -> list[dict[str, Any]]:
    """The units the person works in, each with its queue and its people's load."""
    workload = await apis.optional("routing", "/v1/workload", person.token, branch_code=person.branch)
    if not workload:
        return []
    units = sorted({w["unit_code"] for w in workload if w["id"] == person.sub})
    queues = await apis.gather(*(apis.optional("routing", f"/v1/queues/{u}", person.token) for u in units))
    return [
        {"unit": u, "queue": q or [], "people": [w for w in workload if w["unit_code"] == u]}
        for u, q in zip(units, queues, strict=True)
    ]


@router.get("/work")
async def my_work(request: Request, person: PersonDep) -> Response:
    state = state_of(request)
    apis, may = state.apis, permissions_of(person.roles)
    held, owned, approvals, teams = await apis.gather(
        _search(apis, person, assignee=person.sub, open=True),
        _search(apis, person, owner=person.sub, open=True),
        _search(apis, person, status="pending_approval") if CASE_APPROVE in may else answered([]),
        _teams(apis, person) if REPORTS_READ in may else answered([]),
    )
    return render(
        "work.html",
        person,
        person.locale,
        held=held,
        owned=[c for c in owned if c["id"] not in {h["id"] for h in held}],
        approvals=approvals,
        approves=CASE_APPROVE in may,
        teams=teams,
        zone=state.settings.timezone,
    )
