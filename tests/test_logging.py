"""The JSON log line: what it carries, and that configuring it turns off the lookups
no line shows (the caller's file and line, thread, process), which cost a new case
1.6% of its instructions (``bench.instructions``)."""

from __future__ import annotations

import json
import logging

import pytest

from services import logging as service_logging


def test_a_line_carries_the_request_fields_and_nothing_of_the_caller(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        service_logging.configure("intake-svc")
        token = service_logging.correlation_id.set("abc-123")
        logging.getLogger("request").info(
            "request", extra={"method": "POST", "path": "/v1/cases", "status": 201, "ms": 3.2}
        )
        service_logging.correlation_id.reset(token)
        line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    finally:
        root.handlers[:], root.level = handlers, level
    assert line.pop("ts").endswith("+00:00")
    assert line == {
        "level": "INFO",
        "service": "intake-svc",
        "logger": "request",
        "msg": "request",
        "correlation_id": "abc-123",
        "method": "POST",
        "path": "/v1/cases",
        "status": 201,
        "ms": 3.2,
    }
    assert logging._srcfile is None  # noqa: SLF001 - no stack walk per record
    assert not (logging.logThreads or logging.logProcesses or logging.logMultiprocessing)
