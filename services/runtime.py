"""What a running service holds: its settings, database, tables, bus clients and status.

Built once in the app's lifespan and kept on ``app.state.runtime``; route
dependencies, consumers and workers receive it instead of reaching for globals.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from services.database import Database
from services.kafka import BrokerStatus
from services.metrics import Metrics
from services.settings import ServiceSettings
from services.tables import RuntimeTables

if TYPE_CHECKING:
    from services.app import ServiceSpec
    from services.auth import Authenticator
    from services.consumer import ConsumerRunner
    from services.crypto import FieldCipher
    from services.relay import OutboxRelay


T = TypeVar("T")
SettingsT = TypeVar("SettingsT", bound=ServiceSettings)


@dataclass
class Runtime:
    spec: ServiceSpec
    settings: ServiceSettings
    db: Database
    status: BrokerStatus = field(default_factory=BrokerStatus)
    #: This service's Prometheus registry and the metrics every service keeps (``GET /metrics``).
    metrics: Metrics = field(default_factory=Metrics)
    relay: OutboxRelay | None = None
    consumer: ConsumerRunner | None = None
    #: Checks the callers of this service's API (built at start-up, ``services.app``).
    auth: Authenticator | None = None
    #: The field cipher, for a service that stores personal data (``services.rotation``
    #: re-encrypts its ``ServiceSpec.encrypted`` columns after a key rotation).
    cipher: FieldCipher | None = None
    #: Field-key rotation progress while it runs (``/readyz``).
    key_rotation: dict[str, Any] | None = None
    #: What this service's start-up built (``ServiceSpec.on_startup``): one typed object
    #: per service (``intake.state.IntakeState`` ...), read through ``state_as``.
    state: object = None
    #: Called at shutdown, after the workers stopped (e.g. closing HTTP clients).
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    def state_as(self, kind: type[T]) -> T:
        """This service's own state, typed; fails loudly before start-up built it."""
        if not isinstance(self.state, kind):
            raise RuntimeError(f"{self.name} has no {kind.__name__} (its start-up has not run)")
        return self.state

    def settings_as(self, kind: type[SettingsT]) -> SettingsT:
        """This service's own settings class, typed (``ServiceSpec.settings_class``)."""
        if not isinstance(self.settings, kind):
            raise RuntimeError(f"{self.name} runs with {type(self.settings).__name__}, not {kind.__name__}")
        return self.settings

    @property
    def authenticator(self) -> Authenticator:
        if self.auth is None:
            raise RuntimeError(f"{self.name} has no authenticator (its start-up has not run)")
        return self.auth

    @property
    def tables(self) -> RuntimeTables:
        return self.spec.runtime_tables

    @property
    def name(self) -> str:
        return self.spec.name
