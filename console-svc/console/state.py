"""The console's state, built at start-up: typed, reached through ``state_of``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from console.apis import Apis
from console.oidc import Provider
from console.sessions import Sessions
from console.settings import ConsoleSettings


@dataclass
class ConsoleState:
    settings: ConsoleSettings
    sessions: Sessions
    apis: Apis
    #: Development sign-in: the sample users (``services.dev.issuer.SAMPLE_USERS``).
    sample_users: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: OpenID Connect sign-in, when configured (``console.oidc``).
    provider: Provider | None = None


def state_of(request: Request) -> ConsoleState:
    state = request.app.state.console
    assert isinstance(state, ConsoleState)
    return state
