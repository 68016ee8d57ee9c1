from services.settings import ServiceSettings


class NotifySettings(ServiceSettings):
    port: int = 8004
    delivery_poll_seconds: float = 0.5
    delivery_batch_size: int = 50
    delivery_timeout_seconds: float = 10.0
    #: Attempts before a delivery is dead; waits grow as base * 2^(attempt-1), with jitter.
    delivery_max_attempts: int = 8
    delivery_retry_base_seconds: float = 2.0
    delivery_retry_max_seconds: float = 600.0
    #: A claimed delivery not finished by then (e.g. the process died) is tried again.
    delivery_lease_seconds: float = 60.0
