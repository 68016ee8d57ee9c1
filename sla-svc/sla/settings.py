from services.settings import ServiceSettings


class SlaSettings(ServiceSettings):
    port: int = 8003
    #: The calendar of branches no other calendar claims.
    default_calendar: str = "CN"
    #: The timer worker sleeps until the next timer is due, and is woken when a commit plans
    #: timers (``services.wakeup``); this poll is only its safety net.
    timer_poll_seconds: float = 5.0
    #: False: this process never fires timers (tests that fire them by hand; a replica
    #: that leaves firing to the others).
    timer_worker: bool = True
    timer_batch_size: int = 2000
    #: A timer that fires later than this after its due time is marked late (e.g. after downtime).
    late_tolerance_seconds: float = 60.0
    #: A timer due as soon as its clock starts (a case received long ago) waits this long for
    #: routing's ``case.transferred``, so that the alert can name the owner and the assignee.
    owner_grace_seconds: float = 10.0
