from services.settings import ServiceSettings


class IntakeSettings(ServiceSettings):
    port: int = 8001
    #: Time zone of the case number's date and of "the day" a case arrived.
    local_timezone: str = "Asia/Shanghai"
    #: A closed case may be reopened within this many days of closing.
    reopen_window_days: int = 30
    #: Case numbers reserved at a time per branch and day (``intake.casenumbers``).
    case_number_block: int = 20
