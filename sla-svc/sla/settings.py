from services.settings import ServiceSettings


class SlaSettings(ServiceSettings):
    port: int = 8003
    #: The calendar of branches no other calendar claims.
    default_calendar: str = "CN"
    timer_poll_seconds: float = 0.5
    timer_batch_size: int = 2000
    #: A timer that fires later than this after its due time is marked late (e.g. after downtime).
    late_tolerance_seconds: float = 60.0
    #: A timer due as soon as its clock starts (a case received long ago) waits this long for
    #: routing's ``case.transferred``, so that the alert can name the owner and the assignee.
    owner_grace_seconds: float = 10.0
