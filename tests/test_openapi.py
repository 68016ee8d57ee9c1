"""The OpenAPI documents say how to sign in and what each refusal means
(``services.openapi``): ``/docs`` gets an Authorize button for staff tokens and API
keys; every protected operation names both, its permission, and its 401, 403, 429 and
503 (those two with ``Retry-After``), and 404 where a case is in the path; public
ones and the key-in-path CTI push name no header scheme."""

from __future__ import annotations

from pathlib import Path

from intake.service import SPEC as INTAKE
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
