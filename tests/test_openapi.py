"""The OpenAPI documents say how to sign in and what each refusal means
(``services.openapi``): ``/docs`` gets an Authorize button for staff tokens and API
keys; every protected operation names both, its permission, and its 401, 403, 429 and
503 (those two with ``Retry-After``), and 404 where a case is in the path; public
ones and the key-in-path CTI push name no header scheme. Every refusal is one shape, an
RFC 9457 problem (``services.problems``), and every request body has a worked example
(``shared.examples``) that its model accepts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from intake.service import SPEC as INTAKE
from notify.service import SPEC as NOTIFY
from routing.service import SPEC as ROUTING
from services.app import create_app
from shared.examples import EXAMPLES
from shared.intake import CaseCreate
from sla.service import SPEC as SLA
from tests.support.inprocess import running


async def test_protected_operations_name_their_schemes_permission_and_refusals(tmp_path: Path) -> None:
    async with running(INTAKE, tmp_path, None) as intake:
        doc = (await intake.client.get("/openapi.json")).json()
    assert set(doc["components"]["securitySchemes"]) == {"bearer", "apiKey"}
    create = doc["paths"]["/v1/cases"]["post"]
    assert create["security"] == [{"bearer": []}, {"apiKey": []}]
    assert "`case:create`" in create["description"]
    assert {"401", "403", "422", "429", "503"} <= set(create["responses"])
    assert "Retry-After" in create["responses"]["429"]["headers"]
    assert "Retry-After" in create["responses"]["503"]["headers"]
    assert "404" in doc["paths"]["/v1/cases/{case_id}"]["get"]["responses"]
    assert doc["paths"]["/v1/cti/zammad/{token}"]["post"]["security"] == []  # the key is in the path
    assert doc["paths"]["/healthz"]["get"]["security"] == []
    unprotected = [
        f"{method.upper()} {path}"
        for path, operations in doc["paths"].items()
        for method, operation in operations.items()
        if operation.get("security") is None
    ]
    assert not unprotected, unprotected


async def test_every_service_documents_its_security(tmp_path: Path) -> None:
    async with running(SLA, tmp_path, None) as sla:
        doc = (await sla.client.get("/openapi.json")).json()
    assert "securitySchemes" in doc["components"]
    clocks = doc["paths"]["/v1/cases/{case_id}/sla"]["get"]
    assert clocks["security"] and "404" in clocks["responses"] and "401" in clocks["responses"]


def _documents() -> list[dict[str, Any]]:
    return [create_app(spec).openapi() for spec in (INTAKE, ROUTING, SLA, NOTIFY)]


def test_every_request_body_has_an_example_its_model_accepts() -> None:
    for model, example in EXAMPLES.items():
        model.model_validate(example)  # raises, naming the field, if an example went stale
    missing = [
        f"{doc['info']['title']} {method.upper()} {path} {media}"
        for doc in _documents()
        for path, operations in doc["paths"].items()
        for method, operation in operations.items()
        for media, content in operation.get("requestBody", {}).get("content", {}).items()
        if "example" not in content
    ]
    assert not missing, missing


def test_every_refusal_is_documented_as_a_problem() -> None:
    for doc in _documents():
        assert doc["components"]["schemas"]["Problem"]["required"] == ["title", "status", "detail"]
        assert "HTTPValidationError" not in doc["components"]["schemas"]
        for path, operations in doc["paths"].items():
            for method, operation in operations.items():
                responses = operation["responses"]
                where = f"{doc['info']['title']} {method.upper()} {path}"
                for status, answer in responses.items():
                    if status >= "400":
                        assert list(answer["content"]) == ["application/problem+json"], where
                if method in ("post", "put", "patch", "delete"):
                    assert "409" in responses, where
                if "requestBody" in operation:
                    assert {"413", "422"} <= set(responses), where
                if "{" in path:
                    assert "404" in responses, where


async def test_the_documented_example_creates_a_case(tmp_path: Path) -> None:
    async with running(INTAKE, tmp_path, None) as intake:
        created = await intake.client.post("/v1/cases", json=EXAMPLES[CaseCreate])
    assert created.status_code == 201, created.text


async def test_refusals_are_problems_naming_what_is_wrong(tmp_path: Path) -> None:
    async with running(INTAKE, tmp_path, None) as intake:
        bad = await intake.client.post("/v1/cases", json={**EXAMPLES[CaseCreate], "customer": {"name": "x"}})
        unknown = await intake.client.get("/v1/no-such-thing")
        secret = "kid123.not-a-real-secret"
        wrong_key = await intake.client.post(f"/v1/cti/zammad/{secret}", data={"event": "newCall"})
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
    problem = bad.json()
    assert problem["title"] == "Unprocessable Entity" and problem["instance"] == "/v1/cases"
    assert [e["field"] for e in problem["errors"]] == ["customer.phone"]
    assert problem["detail"] == "1 field is invalid: customer.phone"
    assert unknown.status_code == 404 and unknown.json()["detail"] == "Not Found"
    assert wrong_key.status_code == 401 and secret not in wrong_key.text
    assert wrong_key.json()["instance"] == "/v1/cti/zammad/***"
