"""What notify-svc's start-up builds, typed: routes reach it through ``StateDep``,
consumers and workers through ``state_of(runtime)`` (no string-keyed bag)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from sqlalchemy import Row

from notify.breaker import Breakers
from notify.channels import Senders
from notify.digest import DigestPlanner
from notify.directory import Directory
from notify.peers import Peers
from notify.settings import NotifySettings
from services.crypto import FieldCipher
from services.deps import state_dependency
from services.reference import Versioned
from services.runtime import Runtime


@dataclass
class NotifyState:
    settings: NotifySettings
    #: Subscription secrets encrypted, phones hashed for opt-outs (``Runtime.cipher`` too).
    cipher: FieldCipher
    #: The other services' APIs (case facts, the organisation), with notify's own token.
    peers: Peers
    senders: Senders
    breakers: Breakers
    digest: DigestPlanner
    #: The active subscriptions in memory, reloaded when their stamp moves (checked at
    #: most once a second by the fan-out), instead of read for every batch of events.
    subscriptions: Versioned[list[Row[Any]]]
    #: Who is who (routing's organisation), refreshed by ``peers.directory_worker``;
    #: None until routing has answered once.
    directory: Directory | None = None


def state_of(runtime: Runtime) -> NotifyState:
    return runtime.state_as(NotifyState)


StateDep = Annotated[NotifyState, state_dependency(NotifyState)]
