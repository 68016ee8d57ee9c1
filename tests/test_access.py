"""Access control across the four services (DOMAIN.md section 6).

The matrix: every endpoint of every service × every role × a caller of the
case's own branch and one of another branch. A role without the permission gets
403; with it, a case outside the caller's branch answers 404 (ids cannot be
probed) and one inside does not; and a role that may see a list sees only its
own branch's cases in it.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from intake.service import SPEC as INTAKE
from notify.service import SPEC as NOTIFY
from routing.service import SPEC as ROUTING
from services.app import ServiceSpec, create_app
from services.auth import AllowKeyInPath
from services.permissions import routes_with_allow
from services.security import InsecureConfiguration
from shared.auth import ROLE_PERMISSIONS, Role
from shared.events import Envelope
from sla.service import SPEC as SLA
from tests.support.cases import complaint
from tests.support.inprocess import InProcess, auth_headers, running, secrets_for_tests
from tests.support.wait import until

OWN, OTHER = "GD-SZ", "BJ"


@dataclass
class Services:
    by_name: dict[str, InProcess]
    case_id: str


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[Services]:
    """All four in-process on SQLite; one complaint of GD-SZ known to each of them."""
    async with (
        running(INTAKE, tmp_path, None) as intake,
        running(ROUTING, tmp_path, None) as routing,
        running(SLA, tmp_path, None, timer_worker=False) as sla,
        running(NOTIFY, tmp_path, None, directory_refresh_seconds=3600) as notify,
    ):
        created = await intake.client.post("/v1/cases", json=complaint(branch_code=OWN))
        assert created.status_code == 201, created.text
        case_id = created.json()["id"]
        [event] = [Envelope.model_validate(e) for e in await intake.emitted("case.created")]
        for service in (routing, sla, notify):
            assert await service.feeder().apply(event)
        by_name = {"intake-svc": intake, "routing-svc": routing, "sla-svc": sla, "notify-svc": notify}
        yield Services(by_name, case_id)


PATH_VALUES = {
    "unit": "GD-SZ.cs",
    "staff_id": "u-sz-cs-1",
    "rule_id": "no-such-rule",
    "clock": "closure",
    "name": "no-such-calendar",
    "year": "2030",
    "policy_id": "no-such-policy",
    "event": "sla.breach",
    "channel": "email",
    "locale": "zh-CN",
    "key_id": "no-such-key",
}


def fill(path: str, case_id: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "case_id":
            return case_id
        return PATH_VALUES.get(name, str(uuid.uuid4()))

    return re.sub(r"\{(\w+)\}", value, path)


async def probe(
    service: InProcess, label: str, method: str, url: str, case_scoped: bool, role: Role, branch: str, allowed: bool
) -> str | None:
    """One call of the matrix; a description of what went wrong, or None."""
    headers = auth_headers([role.value], branch, sub=f"u-{role.value}")
    body = {} if method in ("POST", "PUT", "PATCH") else None
    status = (await service.client.request(method, url, headers=headers, json=body)).status_code
    if not allowed:
        ok = status == 403
    elif case_scoped and branch == OTHER:
        ok = status == 404
    else:
        ok = status not in (401, 403) and not (case_scoped and status == 404)
    return None if ok else f"{label} {role.value}@{branch}: {status}"


async def test_every_endpoint_by_every_role_in_own_and_other_branch(services: Services) -> None:
    checked = 0
    problems: list[str] = []
    for name, service in services.by_name.items():
        app_routes = routes_with_allow(create_app(service.runtime.spec, service.runtime.settings).routes)
        for route, allow in app_routes:
            permission = allow.permission if allow else None
            if permission in (None, "public"):
                continue
            if isinstance(allow, AllowKeyInPath):
                continue  # its credential is an API key in the path, whoever calls: test_intake_cti
            method = sorted(route.methods)[0]
            url = fill(route.path, services.case_id)
            case_scoped = "{case_id}" in route.path
            calls = []
            for role in Role:
                allowed = permission in ROLE_PERMISSIONS[role]
                if route.path == "/v1/feed" and allowed:
                    continue  # an endless stream; its scoping is tested on its own
                for branch in (OWN, OTHER) if allowed else (OTHER,):  # refused whatever the branch
                    calls.append((role, branch, allowed))

            results = await asyncio.gather(
                *(probe(service, f"{name} {method} {route.path}", method, url, case_scoped, *c) for c in calls)
            )
            checked += len(results)
            problems += [r for r in results if r]
    assert not problems, "\n".join(problems[:40])
    assert checked > 700


async def test_lists_and_reports_show_only_the_callers_branches(services: Services) -> None:
    intake, sla = services.by_name["intake-svc"], services.by_name["sla-svc"]
    own = auth_headers(["branch_specialist"], OWN, sub="u-x")
    other = auth_headers(["branch_specialist"], OTHER, sub="u-y")
    lead_other = auth_headers(["team_lead"], OTHER, sub="u-z")
    assert [c["id"] for c in (await intake.client.get("/v1/cases", headers=own)).json()["items"]] == [services.case_id]
    assert (await intake.client.get("/v1/cases", headers=other)).json()["items"] == []
    # Even when asking for the other branch by name.
    asked = await intake.client.get("/v1/cases", params={"branch_code": OWN}, headers=other)
    assert asked.json()["items"] == []
    assert (await sla.client.get("/v1/timeliness", headers=lead_other)).json() == []
    assert (await sla.client.get("/v1/timeliness", headers=auth_headers(["team_lead"], OWN))).json()


async def test_an_assignee_sees_the_case_assigned_to_them(services: Services) -> None:
    intake = services.by_name["intake-svc"]
    routing = services.by_name["routing-svc"]
    assignee = (await routing.client.get(f"/v1/cases/{services.case_id}/assignment")).json()["assignee"]
    [transferred] = [Envelope.model_validate(e) for e in await routing.emitted("case.transferred")]
    assert await intake.feeder().apply(transferred)
    # The same person, signed in from a branch outside the case's: sees it because it is theirs.
    theirs = auth_headers(["branch_specialist"], OTHER, sub=assignee)
    assert (await intake.client.get(f"/v1/cases/{services.case_id}", headers=theirs)).status_code == 200
    someone_else = auth_headers(["branch_specialist"], OTHER, sub="u-not-assigned")
    assert (await intake.client.get(f"/v1/cases/{services.case_id}", headers=someone_else)).status_code == 404


async def test_personal_data_masked_unless_asked_and_allowed_and_every_reveal_audited(services: Services) -> None:
    intake = services.by_name["intake-svc"]
    url = f"/v1/cases/{services.case_id}"
    liaison = auth_headers(["liaison"], OWN, sub="u-liaison")
    specialist = auth_headers(["branch_specialist"], OWN, sub="u-specialist")
    assert (await intake.client.get(url, headers=specialist)).json()["customer"]["phone"] == "138****5678"
    assert (await intake.client.get(url, params={"reveal": "pii"}, headers=liaison)).status_code == 403
    clear = (await intake.client.get(url, params={"reveal": "pii"}, headers=specialist)).json()["customer"]
    assert (clear["phone"], clear["id_number"]) == ("13812345678", "110101199003071234")

    auditor = auth_headers(["auditor"], "HO", sub="u-auditor")
    entries = (await intake.client.get("/v1/audit", params={"pii_reads": "true"}, headers=auditor)).json()
    assert [(e["actor"], e["target"], e["status"]) for e in entries] == [("u-specialist", services.case_id, 200)]
    assert "phone" in entries[0]["details"]["pii_read"] and entries[0]["source_ip"]
    # Only admins and auditors read it; nobody can change it through the API.
    assert (await intake.client.get("/v1/audit", headers=specialist)).status_code == 403
    assert (await intake.client.delete("/v1/audit", headers=auditor)).status_code == 405
    writes = (await intake.client.get("/v1/audit", params={"actor": "test-superuser"}, headers=auditor)).json()
    assert [e["action"] for e in writes] == ["POST /v1/cases"]


async def test_api_keys_bound_to_channels_revoked_at_once_and_rate_limited(services: Services) -> None:
    intake = services.by_name["intake-svc"]
    admin = auth_headers(["admin"], "HO", sub="u-admin")
    made = await intake.client.post(
        "/v1/api-keys",
        json={"client": "cti-test", "channels": ["hotline"], "branches": ["GD"], "rate_per_minute": 3},
        headers=admin,
    )
    assert made.status_code == 201, made.text
    key = made.json()["key"]
    as_client = {"X-API-Key": key, "Authorization": ""}
    hotline = complaint(channel="hotline", branch_code="GD-GZ")
    assert (await intake.client.post("/v1/cases", json=hotline, headers=as_client)).status_code == 201
    letter = await intake.client.post("/v1/cases", json=complaint(branch_code="GD-GZ"), headers=as_client)
    assert letter.status_code == 403 and "channel" in letter.text
    beijing = await intake.client.post(
        "/v1/cases", json=complaint(channel="hotline", branch_code="BJ"), headers=as_client
    )
    assert beijing.status_code == 403
    listed = (await intake.client.get("/v1/api-keys", headers=admin)).json()
    assert listed[0]["last_used_at"] and listed[0]["key"] is None  # used, and never shown again
    async with intake.runtime.db.session() as session:
        stored = (await session.execute(select(intake.runtime.tables.api_keys.c.secret_hash))).scalar_one()
    assert key.split(".")[1] not in stored

    limited = await intake.client.post("/v1/cases", json=hotline | {"source_ref": "x-2"}, headers=as_client)
    assert limited.status_code == 429 and "rate limit" in limited.text  # 3 a minute, 3 used
    assert int(limited.headers["Retry-After"]) == limited.json()["retry_after_seconds"] >= 1

    assert (await intake.client.delete(f"/v1/api-keys/{made.json()['id']}", headers=admin)).status_code == 204
    revoked = await intake.client.get("/v1/cases", headers=as_client)
    assert revoked.status_code == 401
    assert (await intake.client.get("/v1/cases", headers={"Authorization": ""})).status_code == 401
    assert (await intake.client.get("/v1/cases", headers={"Authorization": "Bearer forged.token.x"})).status_code == 401


async def test_audit_log_is_append_only_on_postgres(backend: tuple[Path, str | None]) -> None:
    var_dir, url = backend
    if url is None:
        pytest.skip("the trigger is Postgres's; SQLite has no API path to it either")
    async with running(INTAKE, var_dir, url) as intake:
        await intake.client.post("/v1/cases", json=complaint())
        async with intake.runtime.db.session() as session:
            with pytest.raises(Exception, match="append-only"):
                await session.execute(text("UPDATE intake.audit_log SET actor = 'someone else'"))


async def test_hardening_headers_cors_closed_no_traces(services: Services) -> None:
    intake = services.by_name["intake-svc"]
    response = await intake.client.get("/v1/cases")
    for header in ("x-content-type-options", "x-frame-options", "content-security-policy", "cache-control"):
        assert header in response.headers
    preflight = await intake.client.options(
        "/v1/cases", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in preflight.headers


def test_refuses_to_start_insecurely(tmp_path: Path) -> None:
    production = {**secrets_for_tests(), "environment": "production", "var_dir": tmp_path}
    with pytest.raises(InsecureConfiguration, match="DEV_ISSUER_KEY"):
        create_app(INTAKE, INTAKE.settings_class(**production))
    without_dev = {**production, "dev_issuer_key": None}
    with pytest.raises(InsecureConfiguration, match="JWT_ISSUER"):
        create_app(INTAKE, INTAKE.settings_class(**without_dev))
    configured = {**without_dev, "jwt_issuer": "https://idp.insurer.example", "jwt_jwks": '{"keys": []}'}
    create_app(INTAKE, INTAKE.settings_class(**configured))  # starts


def test_a_route_without_a_permission_is_refused() -> None:
    from fastapi import APIRouter

    careless = APIRouter()

    @careless.get("/v1/forgotten")
    async def forgotten() -> dict[str, Any]:
        return {}

    spec = ServiceSpec(**{**INTAKE.__dict__, "routers": [*INTAKE.routers, careless]})
    with pytest.raises(RuntimeError, match="/v1/forgotten"):
        create_app(spec)


async def test_key_rotation_re_encrypts_in_the_background(tmp_path: Path) -> None:
    old_secrets = secrets_for_tests()
    async with running(INTAKE, tmp_path, None, **old_secrets) as intake:
        ids = [(await intake.client.post("/v1/cases", json=complaint())).json()["id"] for _ in range(3)]
    new_key = secrets_for_tests()["field_encryption_key"]
    rotated = {**old_secrets, "field_encryption_key": f"{new_key},{old_secrets['field_encryption_key']}"}
    async with running(INTAKE, tmp_path, None, **rotated) as intake:

        async def done() -> bool:
            return (await intake.client.get("/readyz")).json().get("key_rotation", {}).get("state") == "done"

        await until(done, what="rotation done")
        assert (await intake.client.get("/readyz")).json()["key_rotation"]["rows_rotated"] == 3
    only_new = {**old_secrets, "field_encryption_key": new_key}
    async with running(INTAKE, tmp_path, None, **only_new) as intake:  # the old key is gone
        for case_id in ids:
            shown = (await intake.client.get(f"/v1/cases/{case_id}", params={"reveal": "pii"})).json()
            assert shown["customer"]["phone"] == "13812345678"


async def test_tokens_of_the_configured_identity_provider(tmp_path: Path) -> None:
    """Production's path: the issuer's JWKS (here inline), not the development key."""
    import json

    import jwt as pyjwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    idp_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(pyjwt.algorithms.RSAAlgorithm.to_jwk(idp_key.public_key()))
    jwks = json.dumps({"keys": [{**jwk, "kid": "idp-1", "use": "sig", "alg": "RS256"}]})
    settings = {"jwt_issuer": "https://idp.insurer.example", "jwt_jwks": jwks, "jwt_audience": "complaints"}

    def signed(**claims: Any) -> dict[str, str]:
        base = {"iss": "https://idp.insurer.example", "aud": "complaints", "sub": "u-sz-cs-1", "exp": 4102444800}
        token = pyjwt.encode({**base, **claims}, idp_key, algorithm="RS256", headers={"kid": "idp-1"})
        return {"Authorization": f"Bearer {token}"}

    async with running(INTAKE, tmp_path, None, **settings) as intake:
        ok = signed(roles=["branch_specialist"], branch="GD-SZ")
        assert (await intake.client.get("/v1/cases", headers=ok)).status_code == 200
        for bad in (signed(iss="https://elsewhere.example"), signed(aud="other-app"), signed(exp=1_000_000)):
            assert (await intake.client.get("/v1/cases", headers=bad)).status_code == 401
        no_roles = signed(branch="GD-SZ")
        assert (await intake.client.get("/v1/cases", headers=no_roles)).status_code == 403
        # A verified token is remembered (services.auth.TOKEN_CACHE_SECONDS), never past its
        # exp (+ the 30 s leeway): one that runs out in a second is refused once it has.
        import time

        short = signed(roles=["branch_specialist"], branch="GD-SZ", exp=int(time.time()) - 30 + 2)
        assert (await intake.client.get("/v1/cases", headers=short)).status_code == 200
        assert (await intake.client.get("/v1/cases", headers=short)).status_code == 200
        await asyncio.sleep(2.5)
        assert (await intake.client.get("/v1/cases", headers=short)).status_code == 401


async def test_an_unexpected_error_shows_no_trace_but_the_correlation_id(tmp_path: Path) -> None:
    import httpx
    from fastapi import APIRouter, Depends

    from services.auth import Allow
    from services.database import resolve_url
    from services.migrate import upgrade

    failing = APIRouter()

    @failing.get("/v1/boom", dependencies=[Depends(Allow("public"))])
    async def boom() -> None:
        raise RuntimeError("internal detail: table intake.cases, key 42")

    spec = ServiceSpec(**{**INTAKE.__dict__, "routers": [*INTAKE.routers, failing]})
    settings = spec.settings_class(
        environment="test", var_dir=tmp_path, kafka_bootstrap_servers="127.0.0.1:9", **secrets_for_tests()
    )
    await asyncio.to_thread(upgrade, spec.migrations_dir, resolve_url(None, tmp_path, spec.name), spec.schema)
    app = create_app(spec, settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.get("/v1/boom", headers={"X-Correlation-Id": "corr-boom-1"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "about:blank",
        "title": "Internal Server Error",
        "status": 500,
        "detail": "internal error",
        "instance": "/v1/boom",
        "correlation_id": "corr-boom-1",
    }
