"""The console's pages: sign-in, the board (live), a case's page, search.

Every page is read with the signed-in person's token (``console.apis``); what a
person's roles may not read is left out with a notice, and a case they may not see is
the same 404 the API gives. Forms post here with the session's CSRF token; personal
numbers searched for go in a form body, never in a URL.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from console import forms, operations, timeline
from console.apis import ApiRefused, answered
from console.oidc import FLOW_COOKIE
from console.pages import PAGE_HEADERS, render
from console.sessions import SIGNIN_COOKIE, Person, same
from console.state import state_of
from console.words import locale_of
from services.dev.issuer import mint
from services.metrics import CONTENT_TYPE
from shared.auth import DELIVERIES_READ, PII_READ, REPORTS_READ, permissions_of
from shared.enums import CaseKind, CaseStatus, Category, Channel

router = APIRouter()


class SignInNeeded(Exception):
    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


def person_of(request: Request) -> Person:
    person = state_of(request).sessions.read(request)
    if person is None:
        raise SignInNeeded(request.url.path)
    return person


PersonDep = Annotated[Person, Depends(person_of)]


async def form_of(request: Request, person: Person | None) -> dict[str, str]:
    """A posted form (urlencoded), after its CSRF token was checked against the session's."""
    fields = {k: v[-1] for k, v in parse_qs((await request.body()).decode(), keep_blank_values=True).items()}
    expected = person.csrf if person else request.cookies.get(SIGNIN_COOKIE)
    if not same(fields.get("csrf"), expected):
        raise ApiRefused("console", 403, "the form's CSRF token is missing or wrong; reload the page")
    return fields


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    """Prometheus text format: the console's requests by route (``services.metrics``)."""
    return Response(request.app.state.metrics.exposition(), media_type=CONTENT_TYPE)


@router.get("/signin")
async def signin_page(request: Request, next: Annotated[str, Query(max_length=300)] = "/") -> Response:
    state = state_of(request)
    locale = locale_of(request.query_params.get("lang"), state.settings.default_locale)
    users = state.sample_users if state.settings.dev_issuer_key else {}
    token = secrets.token_urlsafe(24)
    oidc = state.provider is not None
    response = render("signin.html", None, locale, users=users, next=_local(next), csrf=token, oidc=oidc)
    state.sessions.set_signin_token(response, token)
    return response


@router.get("/signin/oidc")
async def signin_oidc(request: Request, next: Annotated[str, Query(max_length=300)] = "/") -> Response:
    """To the identity provider (OpenID Connect, ``console.oidc``)."""
    state = state_of(request)
    if state.provider is None:
        raise ApiRefused("console", 404, "OpenID Connect is not configured")
    target, sealed = await state.provider.start(state.sessions, _local(next))
    response = RedirectResponse(target, status_code=303)
    # Lax: the provider's redirect back is a top-level GET from another site.
    response.set_cookie(
        FLOW_COOKIE, sealed, max_age=600, httponly=True, secure=state.sessions.secure, samesite="lax", path="/"
    )
    return response


@router.get("/signin/callback")
async def signin_callback(
    request: Request,
    code: Annotated[str, Query(max_length=2000)],
    state: Annotated[str, Query(max_length=200)],
) -> Response:
    console = state_of(request)
    if console.provider is None:
        raise ApiRefused("console", 404, "OpenID Connect is not configured")
    person, next_path = await console.provider.finish(console.sessions, request.cookies.get(FLOW_COOKIE), code, state)
    response = RedirectResponse(_local(next_path), status_code=303)
    console.sessions.write(response, person)
    response.delete_cookie(FLOW_COOKIE, path="/")
    return response


@router.post("/signin")
async def signin(request: Request) -> Response:
    state = state_of(request)
    fields = await form_of(request, None)
    user = state.sample_users.get(fields.get("user", ""))
    if user is None or not state.settings.dev_issuer_key:
        raise ApiRefused("console", 403, "no such sample user")
    hours = state.settings.session_hours
    token = mint(state.settings.dev_issuer_key, user["sub"], user["roles"], user["branch"], int(hours * 3600))
    person = Person(
        sub=user["sub"],
        name=fields["user"],
        roles=list(user["roles"]),
        branch=user["branch"],
        token=token,
        expires=time.time() + hours * 3600,
        locale=state.settings.default_locale,
    )
    response = RedirectResponse(_local(fields.get("next", "/")), status_code=303)
    state.sessions.write(response, person)
    response.delete_cookie(SIGNIN_COOKIE, path="/")
    return response


@router.post("/signout")
async def signout(request: Request, person: PersonDep) -> Response:
    await form_of(request, person)
    response = RedirectResponse("/signin", status_code=303)
    state_of(request).sessions.clear(response)
    return response


@router.post("/locale")
async def switch_locale(request: Request, person: PersonDep) -> Response:
    fields = await form_of(request, person)
    changed = Person(**{**person.__dict__, "locale": locale_of(fields.get("locale"), person.locale)})
    response = RedirectResponse(_local(fields.get("back", "/")), status_code=303)
    state_of(request).sessions.write(response, changed)
    return response


#: Lines per board section, most overdue (or soonest due) first; a fuller section says
#: "500+" and the filters narrow it (bench/console_bench.py: 10,000 late cases).
BOARD_LINES = 500


@router.get("/")
async def home(request: Request, person: PersonDep) -> Response:
    if REPORTS_READ not in permissions_of(person.roles):
        return RedirectResponse("/work", status_code=303)  # the board is for those who read reports
    return await _board(request, person, "board.html")


@router.get("/board/rows")
async def board_rows(request: Request, person: PersonDep) -> Response:
    """The board's tables alone: what the live script swaps in when the feed says so."""
    return await _board(request, person, "board_rows.html")


async def _board(request: Request, person: Person, template: str) -> Response:
    apis = state_of(request).apis
    branch = request.query_params.get("branch_code") or None
    team = request.query_params.get("team") or None
    overdue, due_soon = await apis.gather(
        apis.get("sla", "/v1/overdue", person.token, branch_code=branch, team=team, limit=BOARD_LINES),
        apis.get(
            "sla", "/v1/due-soon", person.token, branch_code=branch, team=team, within_hours=24, limit=BOARD_LINES
        ),
    )
    query = request.url.query
    return render(
        template,
        person,
        person.locale,
        overdue=overdue,
        due_soon=due_soon,
        branch=branch,
        team=team,
        query=query,
        board_lines=BOARD_LINES,
        zone=state_of(request).settings.timezone,
    )


@router.get("/live")
async def live(request: Request, person: PersonDep) -> StreamingResponse:
    """notify's live feed for this person (their token, their scope), as one stream."""
    apis = state_of(request).apis
    after = request.headers.get("last-event-id")

    async def stream() -> AsyncIterator[str]:
        yield "retry: 2000\n\n"
        try:
            async for message in apis.feed(person.token, int(after) if after and after.isdigit() else None):
                if await request.is_disconnected():
                    return
                yield message
        except ApiRefused:
            return

    headers = {**PAGE_HEADERS, "X-Accel-Buffering": "no"}
    return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)


@router.get("/cases/{case_id}")
async def case_page(request: Request, case_id: uuid.UUID, person: PersonDep) -> Response:
    return await _case_page(request, person, case_id)


async def _case_page(
    request: Request,
    person: Person,
    case_id: uuid.UUID,
    problem: Any = None,
    status: int = 200,
    reveal: bool = False,
) -> Response:
    apis = state_of(request).apis
    tok, path = person.token, f"/v1/cases/{case_id}"
    may = permissions_of(person.roles)
    # 404 for a case out of scope, as the API says; in clear only when asked (intake audits it).
    case = await apis.get("intake", path, tok, reveal="pii" if reveal else None)
    history, assignment, sla, deliveries = await apis.gather(
        apis.get("intake", f"{path}/history", tok),
        apis.optional("routing", f"{path}/assignment", tok),
        apis.optional("sla", f"{path}/sla", tok),
        apis.optional("notify", "/v1/deliveries", tok, case_id=str(case_id))
        if DELIVERIES_READ in may
        else answered(None),
    )
    entries = timeline.merge(history, assignment, sla, deliveries)
    zone = next((c["timezone"] for c in (sla or {}).get("clocks", [])), None)  # the case's calendar's
    return render(
        "case.html",
        person,
        person.locale,
        status=status,
        case=case,
        entries=entries,
        assignment=assignment,
        sla=sla,
        deliveries=deliveries,
        operations=operations.offered(case, assignment, sla, person.roles),
        problem=problem,
        revealed=reveal,
        may_reveal=PII_READ in may,
        zone=zone or state_of(request).settings.timezone,
    )


@router.post("/cases/{case_id}/reveal")
async def reveal(request: Request, case_id: uuid.UUID, person: PersonDep) -> Response:
    """The case page once with the customer's phone and ID number in clear: a POST (with
    the form's CSRF token) so that a link or a prefetch never reveals anything, and
    intake records the reveal in its audit log. The answer is not cached (no-store)."""
    await form_of(request, person)
    return await _case_page(request, person, case_id, reveal=True)


@router.post("/cases/{case_id}/do/{key}")
async def act(request: Request, case_id: uuid.UUID, key: str, person: PersonDep) -> Response:
    """One operation from the case page, as the person; then the page again (303), or
    the page with what the API said when it refused (409: what is allowed instead;
    422: which field is wrong)."""
    fields = await form_of(request, person)
    op = operations.operation(key)
    if op is None:
        raise ApiRefused("console", 404, f"no operation {key}")
    body = {**forms.values_from(op.body, fields, person.sub), **dict(op.fixed)}
    try:
        await state_of(request).apis.call(op.service, "POST", f"/v1/cases/{case_id}{op.path}", person.token, body=body)
    except ApiRefused as refused:
        if refused.status not in (409, 422):
            raise
        return await _case_page(request, person, case_id, problem=refused.detail, status=refused.status)
    return RedirectResponse(f"/cases/{case_id}", status_code=303)


SEARCH_TEXT = ("case_no", "phone", "id_number", "policy_no", "customer_name", "branch_code", "agent_code", "cursor")
#: The choices a search offers, from the enumerations the API validates against.
SEARCH_CHOICES = {
    "status": forms.values(CaseStatus),
    "kind": forms.values(CaseKind),
    "category": forms.values(Category),
    "channel": forms.values(Channel),
}


@router.get("/search")
async def search_page(request: Request, person: PersonDep) -> Response:
    zone = state_of(request).settings.timezone
    return render(
        "search.html", person, person.locale, fields={}, results=None, problem=None, choices=SEARCH_CHOICES, zone=zone
    )


@router.post("/search")
async def search(request: Request, person: PersonDep) -> Response:
    state = state_of(request)
    fields = await form_of(request, person)
    body: dict[str, Any] = {k: fields[k].strip() for k in (*SEARCH_TEXT, *SEARCH_CHOICES) if fields.get(k, "").strip()}
    zone = ZoneInfo(state.settings.timezone)
    for name in ("received_from", "received_to"):  # a date, as the branch reads it
        if fields.get(name):
            body[name] = datetime.fromisoformat(fields[name]).replace(tzinfo=zone).isoformat()
    body["limit"] = 20
    try:
        results = await state.apis.call("intake", "POST", "/v1/cases/search", person.token, body=body)
        problem = None
    except ApiRefused as refused:
        if refused.status != 422:
            raise
        results, problem = None, refused.detail
    shown = {k: v for k, v in fields.items() if k not in ("csrf", "cursor")}
    return render(
        "search.html",
        person,
        person.locale,
        fields=shown,
        results=results,
        problem=problem,
        choices=SEARCH_CHOICES,
        zone=state.settings.timezone,
    )


def _local(path: str) -> str:
    """Only a path on this site: a sign-in never sends anyone elsewhere."""
    return path if path.startswith("/") and not path.startswith("//") else "/"
