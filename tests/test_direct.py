"""A route that reads its own inputs (``services.direct``, decision 0025), through the
one there is, ``POST /v1/cases``: it answers as a route with FastAPI's dependencies
would (who is calling before what they sent, a bad body or header as the same 422
problem, nothing stored), and the start-up check, the access test and the OpenAPI
document see what it declares."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from intake import tables
from intake.service import SPEC
from services.permissions import routes_with_permissions
from tests.support.cases import complaint
from tests.support.inprocess import InProcess, auth_headers, running

JSON = {"content-type": "application/json"}


@pytest.fixture
async def intake(tmp_path: Path) -> AsyncIterator[InProcess]:
    async with running(SPEC, tmp_path, None) as service:
        yield service


async def stored_nothing(intake: InProcess) -> bool:
    return await intake.count(tables.cases) == 0 and await intake.count(tables.runtime.outbox) == 0


async def test_the_caller_is_refused_before_the_body_is_read(intake: InProcess) -> None:
    broken = b'{"kind": '
    anonymous = await intake.client.post("/v1/cases", content=broken, headers={**JSON, "Authorization": ""})
    assert anonymous.status_code == 401, anonymous.text
    reader = auth_headers(["auditor"], "GD-SZ", sub="u-auditor")
    forbidden = await intake.client.post("/v1/cases", content=broken, headers={**JSON, **reader})
    assert forbidden.status_code == 403, forbidden.text
    assert "case:create" in forbidden.json()["detail"]
    assert await stored_nothing(intake)


@pytest.mark.parametrize(
    ("label", "content", "headers", "field", "kind"),
    [
        ("no body", b"", JSON, "body", "missing"),
        ("not JSON", b"kind=complaint", {"content-type": "application/x-www-form-urlencoded"}, "body", "json_type"),
        ("broken JSON", b'{"kind": "complaint",', JSON, "body", "json_invalid"),
        ("a list", b"[]", JSON, "body", "model_type"),
    ],
)
async def test_a_bad_body_is_a_422_naming_it(
    intake: InProcess, label: str, content: bytes, headers: dict[str, str], field: str, kind: str
) -> None:
    response = await intake.client.post("/v1/cases", content=content, headers=headers)
    assert response.status_code == 422, (label, response.text)
    assert response.headers["content-type"].startswith("application/problem+json")
    [error] = response.json()["errors"]
    assert (error["field"], error["type"], error["loc"][0]) == (field, kind, "body"), label
    assert await stored_nothing(intake)


async def test_a_too_long_idempotency_key_is_a_422_naming_the_header(intake: InProcess) -> None:
    key = "k" * 201
    response = await intake.client.post("/v1/cases", json=complaint(), headers={"Idempotency-Key": key})
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["loc"] == ["header", "Idempotency-Key"]
    assert key not in response.text
    assert await stored_nothing(intake)
    fits = await intake.client.post("/v1/cases", json=complaint(), headers={"Idempotency-Key": "k" * 200})
    assert fits.status_code == 201, fits.text


async def test_json_by_any_json_media_type_is_taken(intake: InProcess) -> None:
    content = json.dumps(complaint()).encode()
    for media in ("application/json; charset=utf-8", "application/vnd.case+json"):
        answer = await intake.client.post("/v1/cases", content=content, headers={"content-type": media})
        assert answer.status_code in (200, 201), (media, answer.text)
    assert await intake.count(tables.cases) == 1  # the second is the first's retry (same source_ref)


async def test_what_it_declares_is_seen_by_the_checks_and_the_document(intake: InProcess) -> None:
    assert ("POST", "/v1/cases", "case:create") in {
        (sorted(route.methods)[0], route.path, permission)
        for route, permission in routes_with_permissions(intake.app.routes)
    }
    document = (await intake.client.get("/openapi.json")).json()
    operation = document["paths"]["/v1/cases"]["post"]
    content = operation["requestBody"]["content"]["application/json"]
    assert content["schema"] == {"$ref": "#/components/schemas/CaseCreate"}
    assert content["example"]["kind"] == "complaint"  # the worked example (shared.examples)
    [header] = [p for p in operation["parameters"] if p["in"] == "header"]
    assert header["name"] == "Idempotency-Key" and header["schema"]["anyOf"][0]["maxLength"] == 200
    assert {"401", "403", "413", "422"} <= set(operation["responses"])
    assert "case:create" in operation["description"]
    schemas = document["components"]["schemas"]
    assert {"CaseCreate", "CustomerIn"} <= set(schemas)
    assert "customer" in schemas["CaseCreate"]["properties"]
