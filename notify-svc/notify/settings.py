from pydantic import Field

from services.settings import ServiceSettings


class NotifySettings(ServiceSettings):
    port: int = 8004
    #: The delivery worker sleeps until the next delivery is due, and is woken when a commit
    #: adds deliveries (``services.wakeup``); this poll is only its safety net.
    delivery_poll_seconds: float = 5.0
    #: False: this process sends nothing (tests that look at pending deliveries).
    delivery_worker: bool = True
    delivery_batch_size: int = 50
    delivery_timeout_seconds: float = 10.0
    #: Attempts before a delivery is dead; waits grow as base * 2^(attempt-1), with jitter.
    delivery_max_attempts: int = 8
    delivery_retry_base_seconds: float = 2.0
    delivery_retry_max_seconds: float = 600.0
    #: A claimed delivery not finished by then (e.g. the process died) is tried again.
    delivery_lease_seconds: float = 60.0
    #: Circuit breaker per target: this many failures in a row open it for the cool-down,
    #: which doubles on each failed probe up to the maximum.
    breaker_failures: int = 5
    breaker_cooldown_seconds: float = 30.0
    breaker_max_cooldown_seconds: float = 600.0

    #: The other services, read over their HTTP APIs (never their tables).
    routing_url: str = "http://127.0.0.1:8002"
    intake_url: str = "http://127.0.0.1:8001"
    sla_url: str = "http://127.0.0.1:8003"
    peer_timeout_seconds: float = 5.0
    #: notify's bearer token for them (role ``service``), issued by the identity provider;
    #: in development mode notify signs one itself with the development issuer's key.
    peer_token: str | None = None
    directory_refresh_seconds: float = 60.0

    #: Digests go out at these local times on working days of the case's branch calendar.
    digest_times: str = Field(default="09:00,11:00,14:00,16:00", description="comma-separated HH:MM")
    #: The clocks whose due time is the date promised to a customer, first running one wins.
    customer_promise_clocks: str = "closure,reply"

    smtp_host: str | None = Field(default=None, description="unset: e-mail deliveries are skipped, not retried")
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_from: str = "notify@insurer.example"

    sms_gateway_url: str | None = Field(default=None, description="unset: SMS deliveries are skipped")
    sms_gateway_token: str | None = None
    sms_sign_name: str = "客服中心"

    #: The live feed keeps this many days of events for dashboards to resume from.
    feed_retention_days: float = 7.0

    #: How often the other services' reports of lost events are read (``notify.opsalerts``),
    #: and a mailbox that gets them through a built-in subscription (none: only those ops add).
    gap_watch_seconds: float = 15.0
    ops_alert_email: str | None = None

    console_url: str = Field(
        default="http://127.0.0.1:8000/cases/", description="case links in messages: the console's case page"
    )
