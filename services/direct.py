"""A route that reads its own inputs: for the hot path only, where FastAPI's solving of a
route's parameters is a measured share of each request (decision 0025).

FastAPI solves every declared dependency and parameter anew for each request. For
``POST /v1/cases``, the session, the state, the caller and the ``Idempotency-Key``
header cost 418,000 of a new case's 3.34 million instructions, and the body 95,000
more (``python -m bench.instructions``). A direct route declares the same things in a
``Direct`` (its ``Allow``, its body model, its headers) and takes only the request;
in its body it

1. enters the request's session (``services.deps.request_session``: the one place a
   request commits, the same as ``SessionDep``);
2. asks ``direct.allow.check`` who is calling: 401/403 before the body is looked at,
   as when ``Allow`` is a dependency;
3. reads its body (``read_body``) and headers (``Header.read``): a bad one is a
   ``RequestValidationError``, the same 422 problem FastAPI's own validation gives,
   with ``loc`` starting ``body`` or ``header``.

``Direct.route`` marks the endpoint, so that the start-up check and the access test
find its permission (``services.permissions``) and the OpenAPI document shows its body
and headers as FastAPI would have (``services.openapi``). Every other route keeps
FastAPI's dependencies: they are the readable way, and cost nothing that matters at
their rates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from services.auth import Allow

B = TypeVar("B", bound=BaseModel)
E = TypeVar("E", bound=Callable[..., Any])
#: The endpoint attribute a ``Direct`` is kept in.
MARK = "direct"
REF = "#/components/schemas/{model}"


@dataclass(frozen=True)
class Header:
    """An optional request header the route reads itself."""

    name: str
    max_length: int
    description: str

    def read(self, request: Request) -> str | None:
        value = request.headers.get(self.name)
        if value is not None and len(value) > self.max_length:
            raise RequestValidationError(
                [
                    {
                        "type": "string_too_long",
                        "loc": ("header", self.name),
                        "msg": f"String should have at most {self.max_length} characters",
                        "input": None,  # never echoed: a header can carry a secret
                        "ctx": {"max_length": self.max_length},
                    }
                ]
            )
        return value

    def openapi(self) -> dict[str, Any]:
        """The parameter as FastAPI describes an optional ``Header(max_length=...)``."""
        schema = {
            "anyOf": [{"type": "string", "maxLength": self.max_length}, {"type": "null"}],
            "title": self.name,
            "description": self.description,
        }
        return {"name": self.name, "in": "header", "required": False, "schema": schema, "description": self.description}


@dataclass(frozen=True)
class Direct(Generic[B]):
    """What a direct route reads: the caller (``allow``), a JSON body, headers."""

    allow: Allow
    body: type[B]
    headers: tuple[Header, ...] = ()

    def route(self, endpoint: E) -> E:
        """Mark ``endpoint`` as reading these inputs itself (under ``@router.post``)."""
        setattr(endpoint, MARK, self)
        return endpoint

    async def read_body(self, request: Request) -> B:
        """The body as ``body``: JSON (no ``Content-Type``, ``application/json`` or
        ``+json``, as FastAPI takes it), validated by pydantic's JSON parser in one pass."""
        raw = await request.body()
        if not raw:
            raise _invalid([{"type": "missing", "loc": (), "msg": "Field required", "input": None}])
        content_type = request.headers.get("content-type")
        if content_type and not _is_json(content_type):
            problem = {"type": "json_type", "loc": (), "msg": "the body must be JSON (Content-Type: application/json)"}
            raise _invalid([{**problem, "input": None}])
        try:
            return self.body.model_validate_json(raw)
        except ValidationError as exc:
            raise _invalid(exc.errors(include_url=False)) from None

    def openapi(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The operation's part (``requestBody``, ``parameters``) and the schemas it refers to."""
        schema = self.body.model_json_schema(ref_template=REF)
        components = {**schema.pop("$defs", {}), self.body.__name__: schema}
        operation = {
            "requestBody": {
                "content": {"application/json": {"schema": {"$ref": REF.format(model=self.body.__name__)}}},
                "required": True,
            },
            "parameters": [h.openapi() for h in self.headers],
        }
        return operation, components


def direct_of(endpoint: Any) -> Direct[Any] | None:
    found = getattr(endpoint, MARK, None)
    return found if isinstance(found, Direct) else None


def _is_json(content_type: str) -> bool:
    """``application/json`` or ``application/<anything>+json``, parameters aside (what
    FastAPI accepts, without building an ``email.message.Message`` per request)."""
    media = content_type.partition(";")[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _invalid(errors: Any) -> RequestValidationError:
    """Pydantic's errors as FastAPI reports a body's: ``loc`` starts with ``body``. The
    value that failed is left out: it may be a phone or an ID number, and nothing
    downstream of here (the 422 problem, a log line) needs it."""
    return RequestValidationError([{**e, "loc": ("body", *e.get("loc", ())), "input": None} for e in errors])
