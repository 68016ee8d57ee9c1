"""What routing-svc's start-up builds, typed: routes reach it through ``StateDep``,
consumers and workers through ``state_of(runtime)`` (no string-keyed bag)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from routing.org import OrgCache
from routing.settings import RoutingSettings
from services.deps import state_dependency
from services.runtime import Runtime


@dataclass
class RoutingState:
    settings: RoutingSettings
    #: The organisation and rules, reloaded after a change here and at most 5 s old
    #: when another replica changed them.
    org: OrgCache = field(default_factory=OrgCache)


def state_of(runtime: Runtime) -> RoutingState:
    return runtime.state_as(RoutingState)


StateDep = Annotated[RoutingState, state_dependency(RoutingState)]
