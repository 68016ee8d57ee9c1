"""The one error shape of every API: RFC 9457 ``application/problem+json``.

Every refusal and failure, from a route, a dependency, the edge middleware (413),
the shedder (503) or the server (500), is a :class:`Problem`:

- ``type`` is ``about:blank`` (RFC 9457 §4.2.1: the status says what happened) and
  ``title`` its HTTP phrase; ``detail`` is one sentence for a person;
- ``instance`` is the request's path, with a credential in it masked
  (``services.logging.loggable_path``): a CTI URL's token never comes back;
- extension members, typed here rather than a free bag: ``errors`` on a 422, one per
  bad field, shaped as FastAPI's own (``loc``, ``field``, ``msg``, ``type``), so the
  contract's "422 naming each bad field" holds; ``retry_after_seconds`` beside the
  ``Retry-After`` header of a 429 or 503; ``case_status`` and ``allowed_actions`` on
  a lifecycle 409, so a client can offer what is allowed now; ``correlation_id``
  always, to quote when reporting.

Decision: ``detail`` is always a string, as the RFC says. Before this, a 422's
``detail`` was the list of field errors and a 409's a dict; clients now read the
list from ``errors`` and the rest from the typed members (``docs/decisions/0017``).
"""

from __future__ import annotations

from http import HTTPStatus

from pydantic import BaseModel, ConfigDict, Field

PROBLEM_JSON = "application/problem+json"


class FieldProblem(BaseModel):
    """One bad field: where it is (``["body", "customer", "phone"]``), its dotted name, why."""

    loc: list[str | int]
    field: str
    msg: str
    type: str


class Problem(BaseModel):
    """RFC 9457 problem details, with this platform's extension members."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "type": "about:blank",
                    "title": "Unprocessable Entity",
                    "status": 422,
                    "detail": "1 field is invalid: customer.phone",
                    "instance": "/v1/cases",
                    "correlation_id": "7f3c2a9e0b1d4c55",
                    "errors": [
                        {
                            "loc": ["body", "customer", "phone"],
                            "field": "customer.phone",
                            "msg": "String should match pattern '^\\+?[0-9][0-9 -]{5,19}$'",
                            "type": "string_pattern_mismatch",
                        }
                    ],
                }
            ]
        },
    )

    type: str = Field("about:blank", description="a URI naming the kind of problem; about:blank: see status")
    title: str = Field(description="the HTTP status phrase")
    status: int = Field(description="the HTTP status code, repeated")
    detail: str = Field(description="what is wrong, in one sentence")
    instance: str | None = Field(None, description="the request's path (credentials in it masked)")
    correlation_id: str | None = Field(None, description="quote it when reporting; it is in the logs")
    errors: list[FieldProblem] | None = Field(None, description="422: each bad field and why")
    retry_after_seconds: int | None = Field(None, description="429, 503: as the Retry-After header")
    case_status: str | None = Field(None, description="a lifecycle 409: the case's status now")
    allowed_actions: list[str] | None = Field(None, description="a lifecycle 409: the actions allowed now")


def problem(status: int, detail: str, **members: object) -> Problem:
    """A problem for ``status``, its title the status phrase."""
    return Problem.model_validate({"title": HTTPStatus(status).phrase, "status": status, "detail": detail, **members})


def problem_bytes(status: int, detail: str, **members: object) -> bytes:
    """The body, for the plain-ASGI answers (413, the shedder's 503)."""
    return problem(status, detail, **members).model_dump_json(exclude_none=True).encode()


def headers(retry_after_seconds: int | None) -> dict[str, str]:
    return {"Retry-After": str(retry_after_seconds)} if retry_after_seconds is not None else {}


def fields_summary(errors: list[FieldProblem]) -> str:
    names = ", ".join(dict.fromkeys(e.field for e in errors))
    return (
        f"{len(errors)} field{'' if len(errors) == 1 else 's'} {'is' if len(errors) == 1 else 'are'} invalid: {names}"
    )
