"""The primitives every contract is made of: codes, references, bounded texts, phone
and ID numbers, and ``Strict`` (a body that refuses unknown fields)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

BranchCode = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9.-]{0,31}$")]


Text200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


Text5000 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)]


#: Mainland mobile or landline, optionally with +86; digits, spaces and dashes only.
Phone = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9][0-9 -]{5,19}$")]


IdNumber = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9A-Za-z]{6,20}$")]


Ref = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")
