"""The OpenAPI document as an integrator needs it: how to sign in, and what each
refusal means.

FastAPI derives paths and bodies from the routes; what it cannot know is kept here:

- the two ways in, as security schemes, so that ``/docs`` has an Authorize button:
  ``bearer`` (staff: the identity provider's JWT) and ``apiKey`` (machine clients,
  ``X-API-Key``). Each protected operation names both and the permission it needs
  (from its ``Allow``, ``services.permissions``); a public one names none, and one
  whose key is in its path (``AllowKeyInPath``) says so instead;
- the refusals every protected operation can give, with the one body shape of
  ``services.errors`` and ``Retry-After`` where the client should wait: 401, 403,
  404 for a case out of scope, 429, 503.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from services.auth import AllowKeyInPath
from services.permissions import routes_with_allow
from shared.auth import PUBLIC

SCHEMES = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "Staff: the identity provider's access token (docs/identity-provider.md); "
        "under `make run`, `python -m services.dev.issuer token <user>`.",
    },
    "apiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "Machine clients (CTI, counter apps): `<id>.<secret>`, made with `python -m services.keys`.",
    },
}
ERROR = {
    "type": "object",
    "properties": {
        "detail": {"description": "what is wrong: a sentence, or for 422 a list naming each bad field"},
        "correlation_id": {"type": "string", "description": "with 5xx: quote it when reporting"},
    },
}
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before trying again", "schema": {"type": "integer"}}}
REFUSALS: dict[str, tuple[str, bool]] = {
    "401": ("No credentials, or a token or API key that is invalid, expired or revoked.", False),
    "403": ("The caller's roles do not include the permission this operation needs.", False),
    "429": ("The API key's rate limit is used up.", True),
    "503": ("The database is unavailable, or the service is at its limit of requests in flight.", True),
}


def with_security(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """``app.openapi``: FastAPI's document, with the schemes and refusals added once."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        schema.setdefault("components", {})["securitySchemes"] = SCHEMES
        allows = {
            (method.lower(), route.path): allow
            for route, allow in routes_with_allow(app.routes)
            for method in route.methods or ()
        }
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                allow = allows.get((method, path))
                if allow is None or allow.permission == PUBLIC:
                    operation["security"] = []
                    continue
                _protect(operation, path, allow.permission, isinstance(allow, AllowKeyInPath))
        app.openapi_schema = schema
        return schema

    return openapi


def _protect(operation: dict[str, Any], path: str, permission: str, key_in_path: bool) -> None:
    if key_in_path:
        operation["security"] = []  # the API key is the path's last segment
        needed = f"An API key bound to the hotline channel, as the `token` path segment, with `{permission}`."
    else:
        operation["security"] = [{"bearer": []}, {"apiKey": []}]
        needed = f"Needs the permission `{permission}`."
    operation["description"] = f"{operation.get('description', '')}\n\n{needed}".strip()
    responses = operation.setdefault("responses", {})
    for status, (text, retry) in REFUSALS.items():
        answer: dict[str, Any] = {"description": text, "content": {"application/json": {"schema": ERROR}}}
        if retry:
            answer["headers"] = RETRY_AFTER
        responses.setdefault(status, answer)
    if "{case_id}" in path:
        responses.setdefault(
            "404",
            {
                "description": "No such case, or one outside the caller's branches (the same answer: ids cannot be probed).",
                "content": {"application/json": {"schema": ERROR}},
            },
        )
