"""Settings from the environment, in one place (CONTRACT.md, "Configuration").

Each service subclasses ``ServiceSettings`` only to add its own knobs; the
names below are shared so that one ``.env`` configures the whole system.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Values that ``make run`` generates for development; refused outside development.
DEV_MODE_VALUES = ("development", "test")


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    environment: str = Field(default="development", description="development | test | production")
    host: str = "127.0.0.1"
    port: int = 0  # each service sets its CONTRACT.md default
    database_url: str | None = Field(default=None, description="unset: SQLite file under VAR_DIR")
    var_dir: Path = Path("./var")
    #: Several processes of this service on one host, sharing its port (SO_REUSEPORT: the
    #: kernel spreads connections over them), so that one service can use more than one
    #: core without a load balancer in front; each process is a replica (decision 0011:
    #: turn ``WAKEUP_NOTIFY`` on with it). In Kubernetes, replicas are pods instead.
    reuse_port: bool = False
    #: Database connections a process keeps once opened (opened as needed). Decision
    #: 0021: kept, not opened and closed with the load as overflow connections were.
    db_pool_size: int = Field(default=20, ge=1)
    #: Connections opened past ``db_pool_size`` when every kept one is busy, and closed
    #: as soon as they are returned: each costs Postgres a new backend process.
    db_pool_overflow: int = Field(default=0, ge=0)
    #: Requests worked on at once before the next is answered 503 (``services.shedding``);
    #: unset: twice the connections the pool can open (``db_pool_size + db_pool_overflow``).
    max_in_flight: int | None = Field(default=None, ge=1)
    #: Seconds a crowd over ``max_in_flight`` is still admitted (up to four times the
    #: bound) before the next request is refused; 0: the bound is strict (decision 0029).
    shed_grace_seconds: float = Field(default=0.25, ge=0)
    db_wait_seconds: float = 30.0
    #: How often the event loop's lateness is sampled (``services.loop_lag``); 0: never.
    #: Off by default: each wake-up of an idle process costs it CPU at rest.
    loop_lag_period_seconds: float = Field(default=0.0, ge=0)
    #: SQLite (the embedded default): how long a statement waits for another writer's
    #: lock before giving up; the request is then answered 503 with ``Retry-After``
    #: (``services.errors``), a bounded wait instead of a hung client. Decision 0016.
    db_lock_wait_seconds: float = Field(default=10.0, gt=0)

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_enable_idempotence: bool = Field(default=True, description="on for Apache Kafka; off for brokers without it")
    kafka_create_topics: bool = True
    kafka_partitions: int = 3
    kafka_replication_factor: int = 1
    kafka_request_timeout_ms: int = 5000
    kafka_session_timeout_ms: int = 10000
    #: Apache Kafka's default; a third of the session timeout, as Kafka advises. Each
    #: heartbeat wakes every service at rest (issue 14's idle budget).
    kafka_heartbeat_interval_ms: int = 3000
    #: How long a fetch may wait at the broker for new records (aiokafka's default: 500).
    kafka_fetch_max_wait_ms: int = 500
    #: The same while records flow (``services.kafka.FetchPace``): after a poll that
    #: brought records, until the consumer has been idle for two seconds. Off (equal to
    #: the idle wait) by default: 50 ms cut routing's hop from 143 to 12 ms (p50) but
    #: more than doubled the consumers' CPU per case at 100 cases/s, 200 ms cost them
    #: +40-70% (decision 0019). Lower it where bus latency matters more than CPU.
    kafka_fetch_busy_wait_ms: int = 500

    #: The relay is woken by commits (``services.wakeup``); this poll is only its safety net.
    outbox_poll_seconds: float = 5.0
    #: Several replicas of this service on Postgres: turn on, so that a replica's commits
    #: wake the relay of the one holding the lock (LISTEN/NOTIFY) instead of its poll.
    #: Off for one process: the NOTIFYs cost intake about a tenth of its CPU per case
    #: (measured, decision 0011).
    wakeup_notify: bool = False
    outbox_batch_size: int = 500
    #: The relay's pace (``services.relay.OutboxRelay._pace``): at most one publish round
    #: per this long, so that under load the commits meanwhile share one round; an event
    #: waits at most this long, and one after a quiet spell not at all. Short by default:
    #: sla's breach alerts must reach the bus within 100 ms (issue 14).
    outbox_coalesce_seconds: float = 0.01
    outbox_retention_hours: float = 24.0
    #: How often a producer says how far it has published (``platform.watermarks``), and
    #: how long a consumer waits, with nothing arriving to fill it, before a hole in a
    #: producer's sequence is reported as lost events (``services.streams``).
    stream_watermark_seconds: float = 5.0
    stream_gap_grace_seconds: float = 60.0
    stream_check_seconds: float = 5.0
    consumer_max_attempts: int = 5
    consumer_retry_base_seconds: float = 0.2

    field_encryption_key: str | None = Field(default=None, description="Fernet key(s), comma-separated, newest first")
    field_hash_key: str | None = Field(default=None, description="key of the keyed hash used to find personal data")
    max_body_bytes: int = 256 * 1024

    #: Staff tokens: the identity provider's issuer and keys (a JWKS URL or the JWKS itself).
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_jwks_url: str | None = None
    jwt_jwks: str | None = None
    #: Development token issuer's key (``make run`` generates it); refused outside development.
    dev_issuer_key: str | None = None
    #: Staff whose token names this branch see every branch.
    head_office_branch: str = "HO"
    #: Origins allowed to call from a browser; none by default (CORS closed).
    cors_origins: list[str] = Field(default_factory=list)
    log_level: str = "INFO"
    #: Fault tests only: places where this process kills itself (``services.failpoints``);
    #: refused in production.
    failpoints: str = ""

    @property
    def is_development(self) -> bool:
        return self.environment in DEV_MODE_VALUES
