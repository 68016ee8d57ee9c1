"""What intake-svc's start-up builds, typed: routes reach it through ``StateDep``,
consumers and workers through ``state_of(runtime)`` (no string-keyed bag)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from zoneinfo import ZoneInfo

from intake.casenumbers import CaseNumbers
from intake.settings import IntakeSettings
from services.crypto import FieldCipher
from services.deps import state_dependency
from services.runtime import Runtime


@dataclass
class IntakeState:
    settings: IntakeSettings
    #: Personal data encrypted and hashed for lookup (the same object as ``Runtime.cipher``).
    cipher: FieldCipher
    case_numbers: CaseNumbers
    #: Where case numbers take their day, and received times are shown.
    local_tz: ZoneInfo


def state_of(runtime: Runtime) -> IntakeState:
    return runtime.state_as(IntakeState)


StateDep = Annotated[IntakeState, state_dependency(IntakeState)]
