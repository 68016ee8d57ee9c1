from services.settings import ServiceSettings


class IntakeSettings(ServiceSettings):
    port: int = 8001
    #: Time zone of the case number's date and of "the day" a case arrived.
    local_timezone: str = "Asia/Shanghai"
    #: A closed case may be reopened within this many days of closing.
    reopen_window_days: int = 30
    #: Case numbers reserved at a time per branch and day (``intake.casenumbers``): at
    #: least ``case_number_block``; a branch whose blocks last under a second gets
    #: larger ones, up to ``case_number_block_max``.
    case_number_block: int = 20
    case_number_block_max: int = 1000
    #: intake's relay publishes at most 20 rounds a second (``services.relay``): intake
    #: alone at 100 cases/s cost 2.6-2.95 ms of CPU per case at this pace against
    #: 4.2-4.7 ms at 10 ms (measured, issue 14; decision 0019). A new case waits at most
    #: 50 ms more for the bus, within the 250 ms from POST to ``case.transferred``.
    outbox_coalesce_seconds: float = 0.05
