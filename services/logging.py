"""JSON logs, one object per line, with the correlation id of the request or event.

The correlation id lives in a context variable: the HTTP middleware sets it from
``X-Correlation-Id`` (or a new one), the consumer sets it from the envelope, and
every event produced in that context carries it on.
"""

from __future__ import annotations

import logging
import re
import sys
import uuid
from collections.abc import Iterable, MutableMapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from services import json_text, tracing

correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)
#: Path parameters that are credentials (a Zammad-style CTI URL carries its API key as
#: its last segment, ``services.auth.AllowKeyInPath``): masked in every log line.
SECRET_PATH_PARAMS = ("token",)


def loggable_path(scope: MutableMapping[str, Any]) -> str:
    """The request's path with any credential in it masked."""
    path: str = scope["path"]
    params = scope.get("path_params") or {}
    for name in SECRET_PATH_PARAMS:
        if params.get(name):
            path = path.replace(str(params[name]), "***")
    return path


_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
            "correlation_id": correlation_id.get(),
        }
        if ids := tracing.log_ids():
            entry["trace_id"], entry["span_id"] = ids
        entry.update({k: v for k, v in record.__dict__.items() if k not in _RESERVED})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json_text.dumps_any(entry)


def configure(service: str, level: str = "INFO") -> None:
    """JSON lines on stdout for every logger. A record's caller, thread and process are
    not looked up: no line shows them, and the lookups (finding the caller walks up the
    stack per record) were 1.6% of a new case's instructions, a third of its request log
    line's (measured with ``bench.instructions``; the logging HOWTO's "Optimization"
    lists these switches)."""
    logging._srcfile = None  # noqa: SLF001 - the switch the logging HOWTO documents
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Access logs would print paths and query strings; our middleware logs requests instead.
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    # httpx logs every request URL at INFO; robot URLs carry their access tokens.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def new_correlation_id() -> str:
    return uuid.uuid4().hex


_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")


def correlation_id_from(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """A request's correlation id: the caller's ``X-Correlation-Id`` when it is a plain
    token (anything else could forge log lines), or a new one."""
    for name, value in headers:
        if name == b"x-correlation-id":
            given = value.decode("latin-1")
            return given if _VALID_ID.match(given) else new_correlation_id()
    return new_correlation_id()
