"""sla-svc: the time limits: working-day calendars, one clock per stage, breaches."""
