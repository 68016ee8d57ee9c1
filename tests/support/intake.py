"""Helpers for intake-svc tests in-process: post a case, act on it, read what it emitted."""

from __future__ import annotations

from typing import Any

from tests.support.inprocess import InProcess, auth_headers


async def new_case(intake: InProcess, body: dict[str, Any]) -> dict[str, Any]:
    response = await intake.client.post("/v1/cases", json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def act(intake: InProcess, case_id: str, action: str, expect: int = 200, **body: Any) -> dict[str, Any]:
    body.setdefault("actor", "u-sz-cs-1")
    # Signed in as the actor: a staff member acts as themself (the body's actor must be them).
    headers = auth_headers(sub=body["actor"])
    response = await intake.client.post(f"/v1/cases/{case_id}/actions/{action}", json=body, headers=headers)
    assert response.status_code == expect, (action, response.status_code, response.text)
    return response.json()  # type: ignore[no-any-return]
