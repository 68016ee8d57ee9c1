"""The OpenAPI document as an integrator needs it: how to sign in, and what each
refusal means.

FastAPI derives paths and bodies from the routes; what it cannot know is kept here:

- the two ways in, as security schemes, so that ``/docs`` has an Authorize button:
  ``bearer`` (staff: the identity provider's JWT) and ``apiKey`` (machine clients,
  ``X-API-Key``). Each protected operation names both and the permission it needs
  (from its ``Allow``, ``services.permissions``); a public one names none, and one
  whose key is in its path (``AllowKeyInPath``) says so instead;
- the refusals every protected operation can give, in the one shape
  (``services.problems``, ``application/problem+json``) and with ``Retry-After`` where
  the client should wait: 401, 403, 404 for a case out of scope, 429, 503; and by
  what an operation is: 409 where it changes something, 413 and 422 where it takes
  a body, 404 where its path names something;
- a worked example for every request body (``shared.examples``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from services.auth import AllowKeyInPath
from services.direct import direct_of
from services.permissions import routes_with_allow
from services.problems import PROBLEM_JSON, Problem
from shared.auth import PUBLIC
from shared.examples import by_schema_name

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
ERROR = {"$ref": "#/components/schemas/Problem"}
#: The one error shape (RFC 9457) and what it holds, as JSON Schema components.
_PROBLEM = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
PROBLEM_SCHEMAS = {**_PROBLEM.pop("$defs", {}), "Problem": _PROBLEM}
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before trying again", "schema": {"type": "integer"}}}
REFUSALS: dict[str, tuple[str, bool]] = {
    "401": ("No credentials, or a token or API key that is invalid, expired or revoked.", False),
    "403": ("The caller's roles do not include the permission this operation needs.", False),
    "429": ("The API key's rate limit is used up.", True),
    "503": ("The database is unavailable, or the service is at its limit of requests in flight.", True),
}
#: Refusals by what an operation is: one that changes something can conflict with the
#: state it finds; one with a body can be sent too much or the wrong thing; one with an
#: id in its path can name something that is not there.
CONFLICT = (
    "The request conflicts with the current state: a lifecycle action the case's status does not "
    "allow (the problem lists `allowed_actions`), an Idempotency-Key reused with another body, "
    "or a change the resource refuses (`detail` says which)."
)
TOO_LARGE = "The body is larger than MAX_BODY_BYTES; nothing was read or stored."
INVALID = "The body, query or path is invalid; `errors` names each bad field. Nothing was stored."
NOT_FOUND = "Nothing with this id, or one outside the caller's scope (the same answer: ids cannot be probed)."
CHANGES = ("post", "put", "patch", "delete")


def with_security(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """``app.openapi``: FastAPI's document, with the schemes and refusals added once."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        components = schema.setdefault("components", {})
        components["securitySchemes"] = SCHEMES
        components.setdefault("schemas", {}).update(PROBLEM_SCHEMAS)
        declared = routes_with_allow(app.routes)
        _direct_inputs([route for route, _ in declared], schema)
        examples = by_schema_name()
        allows = {(method.lower(), route.path): allow for route, allow in declared for method in route.methods or ()}
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                _refusals_by_kind(operation, path, method)
                _example(operation, examples)
                allow = allows.get((method, path))
                if allow is None or allow.permission == PUBLIC:
                    operation["security"] = []
                    continue
                _protect(operation, path, allow.permission, isinstance(allow, AllowKeyInPath))
        if "HTTPValidationError" not in json.dumps(schema["paths"]):  # replaced by Problem everywhere
            for name in ("HTTPValidationError", "ValidationError"):
                components["schemas"].pop(name, None)
        app.openapi_schema = schema
        return schema

    return openapi


def _direct_inputs(routes: list[APIRoute], schema: dict[str, Any]) -> None:
    """A direct route's body and headers (``services.direct``), as FastAPI would have
    described them had they been parameters."""
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    for route in routes:
        direct = direct_of(route.endpoint)
        if direct is None or not route.include_in_schema:
            continue
        inputs, components = direct.openapi()
        for method in route.methods or ():
            operation = schema["paths"][route.path][method.lower()]
            operation["requestBody"] = inputs["requestBody"]
            operation["parameters"] = [*operation.get("parameters", []), *inputs["parameters"]]
        for name, component in components.items():
            schemas.setdefault(name, component)


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
        responses.setdefault(status, _refusal(text, retry))
    if "{case_id}" in path:
        responses["404"] = _refusal(
            "No such case, or one outside the caller's branches (the same answer: ids cannot be probed).", False
        )


def _refusal(text: str, retry: bool) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": text, "content": {PROBLEM_JSON: {"schema": ERROR}}}
    if retry:
        answer["headers"] = RETRY_AFTER
    return answer


def _refusals_by_kind(operation: dict[str, Any], path: str, method: str) -> None:
    responses = operation.setdefault("responses", {})
    if "422" in responses or "requestBody" in operation:
        responses["422"] = _refusal(INVALID, False)  # in place of FastAPI's own shape
    if "requestBody" in operation:
        responses.setdefault("413", _refusal(TOO_LARGE, False))
    if method in CHANGES:
        responses.setdefault("409", _refusal(CONFLICT, False))
    if "{" in path:
        responses.setdefault("404", _refusal(NOT_FOUND, False))
    for status, answer in responses.items():
        if status >= "400":  # a route's own (a lifecycle 409, say) says why; the shape is the one
            answer["content"] = {PROBLEM_JSON: {"schema": ERROR}}


def _example(operation: dict[str, Any], examples: dict[str, dict[str, Any]]) -> None:
    """The body's worked example (``shared.examples``) beside its schema."""
    for media in operation.get("requestBody", {}).get("content", {}).values():
        name = media.get("schema", {}).get("$ref", "").rsplit("/", 1)[-1]
        if name in examples:
            media["example"] = examples[name]
