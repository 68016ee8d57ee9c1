from pathlib import Path

from services.settings import ServiceSettings


class SlaSettings(ServiceSettings):
    port: int = 8003
    calendar: str = "CN"
    local_timezone: str = "Asia/Shanghai"
    #: Close of business: a "within N working days" limit ends at this time of day N.
    close_of_business: str = "17:30"
    #: Official holiday schedules loaded at start-up (ops corrections already in the table win).
    holiday_file: Path = Path(__file__).parent / "data" / "cn_holidays.json"
    timer_poll_seconds: float = 0.5
    timer_batch_size: int = 500
    #: A timer that fires later than this after its due time is marked late (e.g. after downtime).
    late_tolerance_seconds: float = 60.0
    #: A timer due as soon as its clock starts (a case received long ago) waits this long for
    #: routing's ``case.transferred``, so that the alert can name the owner and the assignee.
    owner_grace_seconds: float = 10.0
