"""What routing-svc's start-up builds, typed: routes reach it through ``StateDep``,
consumers and workers through ``state_of(runtime)`` (no string-keyed bag)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from routing.org import Org, load_org
from routing.settings import RoutingSettings
from services.deps import state_dependency
from services.reference import Versioned
from services.runtime import Runtime

#: The name of the organisation's stamp (``services.reference``).
ORGANISATION = "organisation"


@dataclass
class RoutingState:
    settings: RoutingSettings
    #: The organisation and rules in memory; reloaded when their stamp moves (a change
    #: here or in another replica: seen within a second), never read per event.
    org: Versioned[Org]


def new_state(runtime: Runtime) -> RoutingState:
    return RoutingState(runtime.settings_as(RoutingSettings), Versioned(runtime.tables, ORGANISATION, load_org))


def state_of(runtime: Runtime) -> RoutingState:
    return runtime.state_as(RoutingState)


StateDep = Annotated[RoutingState, state_dependency(RoutingState)]
