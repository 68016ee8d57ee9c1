"""A new case at the counter (or the hotline): the form, what intake would make of it
as the clerk types, and the same customer's open cases.

- The customer's identity is checked before policy details are taken: the policy
  number field opens only once the clerk records the document seen (DOMAIN.md
  section 6), and a policy number sent without it is dropped here, as intake would
  withhold it.
- As the clerk types, ``POST /new/check`` asks intake what accepting would decide
  (major complaint and why, the suggested category: ``POST /v1/cases/classify``) and
  lists the customer's open cases found by phone (``POST /v1/cases/search``), so a
  second case for the same matter is seen before it is made.
- The form carries an idempotency key made when it was shown: a double click, or a
  retry after a timeout, makes one case.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from console.apis import ApiRefused
from console.forms import values
from console.pages import render
from console.routes import PersonDep, form_of
from console.sessions import Person
from console.state import state_of
from shared.enums import CaseKind, CaseStatus, Category, Channel, DocumentType, LineOfBusiness

router = APIRouter()

CHOICES = {
    "kind": values(CaseKind),
    "channel": values(Channel),
    "line_of_business": values(LineOfBusiness),
    "category": values(Category),
    "document_type": values(DocumentType),
}


@router.get("/new")
async def new_case_form(request: Request, person: PersonDep) -> Response:
    defaults = {"kind": "complaint", "channel": "counter", "branch_code": person.branch or "", "complainant_count": "1"}
    return _form(person, defaults, status=200)


@router.post("/new/check")
async def check(request: Request, person: PersonDep) -> Response:
    """The hints beside the form, as an HTML fragment the page swaps in."""
    fields = await form_of(request, person)
    apis, token = state_of(request).apis, person.token
    hints: dict[str, Any] | None = None
    if fields.get("channel") in CHOICES["channel"] and fields.get("kind") in CHOICES["kind"]:
        body: dict[str, Any] = {k: fields.get(k, "") for k in ("kind", "channel", "subject", "description")}
        body["complainant_count"] = _count(fields.get("complainant_count"))
        try:
            hints = await apis.call("intake", "POST", "/v1/cases/classify", token, body=body)
        except ApiRefused:
            hints = None
    duplicates: list[dict[str, Any]] = []
    if fields.get("phone", "").strip():
        try:
            found = await apis.call(
                "intake", "POST", "/v1/cases/search", token, body={"phone": fields["phone"].strip(), "limit": 20}
            )
            duplicates = [c for c in found["items"] if c["status"] != CaseStatus.closed]
        except ApiRefused:
            duplicates = []  # not a phone number yet, or not allowed: nothing to warn of
    return render("new_check.html", person, person.locale, hints=hints, duplicates=duplicates)


@router.post("/new")
async def create(request: Request, person: PersonDep) -> Response:
    fields = await form_of(request, person)
    body = case_body(fields, person)
    key = fields.get("idempotency_key") or str(uuid.uuid4())
    try:
        made = await state_of(request).apis.call(
            "intake", "POST", "/v1/cases", person.token, body=body, headers={"Idempotency-Key": key}
        )
    except ApiRefused as refused:
        if refused.status not in (409, 422):
            raise
        return _form(person, fields, status=refused.status, problem=refused.detail)
    return RedirectResponse(f"/cases/{made['id']}", status_code=303)


def case_body(fields: dict[str, str], person: Person) -> dict[str, Any]:
    """``CaseCreate`` from the form: empty fields left out, the clerk as receiver and
    verifier, the policy number only after the identity check."""
    value = {k: v.strip() for k, v in fields.items() if v.strip()}
    verified = "identity_verified" in value and "document_type" in value
    customer = {
        k: value[f]
        for k, f in (("name", "customer_name"), ("phone", "phone"), ("id_number", "id_number"))
        if f in value
    }
    if verified and "policy_no" in value:
        customer["policy_no"] = value["policy_no"]
    body: dict[str, Any] = {
        k: value[k]
        for k in ("kind", "channel", "branch_code", "line_of_business", "subject", "description")
        if k in value
    }
    body.update({k: value[k] for k in ("category", "agent_code") if k in value})
    body["complainant_count"] = _count(value.get("complainant_count"))
    body["customer"] = customer
    body["received_by"] = person.sub
    if verified:
        body["identity"] = {"document_type": value["document_type"], "verified_by": person.sub}
    return body


def _count(raw: str | None) -> int | str:
    """A whole number for the API, or what was typed (the API names it in its 422)."""
    text = (raw or "1").strip()
    return int(text) if text.isdigit() else text


def _form(person: Person, values: dict[str, str], status: int, problem: Any = None) -> Response:
    shown = {k: v for k, v in values.items() if k not in ("csrf",)}
    shown.setdefault("idempotency_key", str(uuid.uuid4()))
    return render("new.html", person, person.locale, status=status, values=shown, choices=CHOICES, problem=problem)
