"""A form for an API body, built from its pydantic model, and the JSON back from it.

The console has one form per action, transfer and clock operation, and none of them is
written by hand: each is read off the body the API validates (``shared.actions``,
``shared.routing.TransferCreate``, ``shared.sla.PauseIn``...), so a field added to a
body appears in its form, and the API stays the judge of what is valid (a 422 names
the field and the form is shown again with it).
"""

from __future__ import annotations

import enum
import types
import typing
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal, Union

from pydantic import BaseModel

#: The body fields that name who acts: filled with the signed-in person, never typed.
PERSON_FIELDS = ("actor", "by", "approved_by", "author")


def values(kind: type[enum.Enum]) -> list[str]:
    """An enumeration's values, as a form's choices (the API validates against the same)."""
    return [str(member.value) for member in kind]


@dataclass(frozen=True)
class FormField:
    name: str
    kind: Literal["text", "textarea", "choice", "confirm", "check", "number"]
    required: bool
    description: str
    choices: tuple[str, ...] = ()


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """(the type inside ``X | None``, whether None was allowed)."""
    if typing.get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return (args[0] if len(args) == 1 else annotation), len(args) < len(typing.get_args(annotation))
    return annotation, False


def fields_of(body: type[BaseModel]) -> list[FormField]:
    found = []
    for name, info in body.model_fields.items():
        if name in PERSON_FIELDS:
            continue
        kind_of, _ = _unwrap(info.annotation)
        if typing.get_origin(kind_of) is typing.Annotated:
            kind_of = typing.get_args(kind_of)[0]
        required, text = info.is_required(), info.description or ""
        if typing.get_origin(kind_of) is Literal:
            literals = typing.get_args(kind_of)
            if literals == (True,):
                found.append(FormField(name, "confirm", True, text))
            else:
                found.append(FormField(name, "choice", required, text, tuple(str(v) for v in literals)))
        elif isinstance(kind_of, type) and issubclass(kind_of, enum.Enum):
            found.append(FormField(name, "choice", required, text, tuple(values(kind_of))))
        elif kind_of is bool:
            found.append(FormField(name, "check", False, text))
        elif kind_of in (int, float, Decimal):
            found.append(FormField(name, "number", required, text))
        else:
            found.append(FormField(name, "textarea" if name == "note" else "text", required, text))
    return found


def values_from(body: type[BaseModel], form: dict[str, str], person: str) -> dict[str, Any]:
    """The JSON body from a posted form: empty fields left out (the API's defaults
    apply), checkboxes true when ticked, and the acting person from the session."""
    values: dict[str, Any] = {name: person for name in PERSON_FIELDS if name in body.model_fields}
    for field in fields_of(body):
        raw = form.get(field.name, "").strip()
        if field.kind in ("confirm", "check"):
            if raw:
                values[field.name] = True
            elif field.kind == "check":
                values[field.name] = False
        elif raw:
            values[field.name] = raw
    return values
