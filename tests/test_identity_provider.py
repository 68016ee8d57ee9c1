"""The Keycloak realm shipped as the production identity-provider example
(``deploy/keycloak/realm-insurer.json``, ``docs/identity-provider.md``) says what the
code reads: its realm roles are the staff roles of ``shared.auth``, its console client
puts them in a flat ``roles`` claim with ``branch`` beside them, gives access tokens the
platform's audience, and is the authorization code flow with PKCE to the console's
callback. A role renamed in the code, or a mapper removed, fails here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from services.registry import ROOT
from shared.auth import Role

REALM = ROOT / "deploy" / "keycloak" / "realm-insurer.json"
MACHINE_ROLES = {Role.integration, Role.service}


def realm() -> dict[str, Any]:
    return json.loads(Path(REALM).read_text())  # type: ignore[no-any-return]


def client(data: dict[str, Any], client_id: str) -> dict[str, Any]:
    return next(c for c in data["clients"] if c["clientId"] == client_id)


def test_the_realm_roles_are_the_staff_roles_of_the_code() -> None:
    names = {r["name"] for r in realm()["roles"]["realm"]}
    assert names == {r.value for r in Role} - MACHINE_ROLES
    for user in realm()["users"]:
        assert set(user["realmRoles"]) <= names and user["attributes"]["branch"]


def test_the_console_client_emits_what_the_services_and_the_console_read() -> None:
    data = realm()
    console = client(data, "case-console")
    mappers = {m["config"].get("claim.name") or m["protocolMapper"]: m for m in console["protocolMappers"]}
    roles, branch = mappers["roles"], mappers["branch"]
    assert roles["protocolMapper"] == "oidc-usermodel-realm-role-mapper" and roles["config"]["multivalued"] == "true"
    assert branch["config"]["user.attribute"] == "branch"
    for mapper in (roles, branch):  # the services read the access token, the console the ID token
        assert mapper["config"]["access.token.claim"] == mapper["config"]["id.token.claim"] == "true"
    audience = mappers["oidc-audience-mapper"]["config"]
    assert audience["included.client.audience"] == client(data, "case-platform")["clientId"]
    assert audience["access.token.claim"] == "true"


def test_the_console_client_is_code_flow_with_pkce_to_its_callback_only() -> None:
    console = client(realm(), "case-console")
    assert console["standardFlowEnabled"] and not console["implicitFlowEnabled"]
    assert not console["directAccessGrantsEnabled"] and not console["publicClient"]
    assert console["attributes"]["pkce.code.challenge.method"] == "S256"
    assert [u.rsplit("/", 2)[-2:] for u in console["redirectUris"]] == [["signin", "callback"]]
    console_routes = (ROOT / "console-svc" / "console" / "routes.py").read_text()
    assert '@router.get("/signin/callback")' in console_routes
    assert client(realm(), "case-platform")["bearerOnly"]
