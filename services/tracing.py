"""Traces (OpenTelemetry): one trace from a request through the outbox, the bus and
each consumer to the delivery that tells somebody.

Off by default. The standard variables turn it on: ``OTEL_TRACES_EXPORTER``
(``otlp``, ``console``, or both, comma-separated; unset or ``none``: off),
``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` and the
other ``OTEL_EXPORTER_OTLP_*`` (read by the exporter itself; HTTP/protobuf),
``OTEL_SERVICE_NAME`` (default: the service's name), ``OTEL_RESOURCE_ATTRIBUTES``,
``OTEL_TRACES_SAMPLER`` and ``OTEL_BSP_*`` (read by the SDK), and
``OTEL_SDK_DISABLED=true``, which wins over the rest. Off, every function here returns
at its first line: the request path pays one attribute check.

How the context travels (W3C Trace Context, ``traceparent``):

- a request's server span continues the caller's ``traceparent`` header;
- an event staged in the outbox stores the ``traceparent`` of the work that staged it
  (``services.outbox``): the relay publishes later, from another task, so the context
  must be in the row; the relay's publish span is its child and goes on the bus as the
  message's ``traceparent`` header (never in the envelope: the contract is unchanged);
- a consumer's process span per message continues that header. A batch is applied
  set-based (``services.consumer``), so the events and deliveries a batch stages find
  their context by their case (:func:`for_cases`), not from "the current span";
- notify stores the context with each delivery, and the delivery span sends it on in
  the webhook's ``traceparent`` header, so a receiver can join the trace.

Decisions: ``tracestate`` is not carried (nothing here sets it). A timer that fires
days later starts a trace of its own: a trace that long helps nobody, and the clock
explains itself (``GET /v1/cases/{id}/sla``). No span holds personal data: paths are
masked as in the logs (``services.logging.loggable_path``), bodies are never recorded.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

from fastapi.telemetry import TelemetryConfig
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider

TRACEPARENT = "traceparent"
#: FastAPI's own telemetry (0.165+), off: once a tracer provider is set it would record
#: each request's raw path and query (a CTI URL's token, a searched phone number) and
#: validation failures with their messages. The request's span is ours
#: (``services.middleware``), with the path masked as in the logs.
FASTAPI_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}
_propagator = TraceContextTextMapPropagator()
_tracer = trace.get_tracer("insurer-cases")
_by_case: ContextVar[Mapping[uuid.UUID, Span] | None] = ContextVar("spans_by_case", default=None)


class _State:
    enabled = False
    provider: SdkTracerProvider | None = None


def exporters_named() -> list[str]:
    """The exporters ``OTEL_TRACES_EXPORTER`` asks for; none when tracing is off."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    names = [n.strip().lower() for n in os.environ.get("OTEL_TRACES_EXPORTER", "").split(",")]
    return [n for n in names if n and n != "none"]


def configure(service: str) -> None:
    """At start-up: the SDK with the exporters named, or nothing. An unknown exporter
    name stops the start-up, naming the ones there are."""
    names = exporters_named()
    if not names or _State.enabled:
        return
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

    exporters: list[SpanExporter] = []
    for name in names:
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporters.append(OTLPSpanExporter())
        elif name == "console":
            exporters.append(ConsoleSpanExporter())
        else:
            raise ValueError(f"OTEL_TRACES_EXPORTER: unknown exporter {name!r}; use otlp, console or none")
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME") or service})
    provider = TracerProvider(resource=resource)
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _State.enabled, _State.provider = True, provider


def shutdown() -> None:
    """At shutdown: what is still buffered is exported."""
    provider = _State.provider
    if provider is not None:
        provider.shutdown()


def enabled() -> bool:
    return _State.enabled


def extract(carrier: Mapping[str, str]) -> Context | None:
    """The context a ``traceparent`` in ``carrier`` names (None: start a new trace)."""
    if not _State.enabled or TRACEPARENT not in carrier:
        return None
    return _propagator.extract(carrier)


def from_headers(headers: Sequence[tuple[str, bytes]] | None) -> Context | None:
    """The context of a Kafka message's ``traceparent`` header."""
    if not _State.enabled or not headers:
        return None
    for key, value in headers:
        if key == TRACEPARENT and value:
            return _propagator.extract({TRACEPARENT: value.decode("ascii", "replace")})
    return None


def traceparent_of(span: Span) -> str | None:
    """``span``'s context as a ``traceparent`` value (None when traces are off)."""
    if not _State.enabled:
        return None
    carrier: dict[str, str] = {}
    _propagator.inject(carrier, trace.set_span_in_context(span))
    return carrier.get(TRACEPARENT)


def current_for(case_id: uuid.UUID | None) -> str | None:
    """The ``traceparent`` to store with an event or delivery for ``case_id``: the
    process span of the message about that case in the batch at hand, else the
    current span (a request's)."""
    if not _State.enabled:
        return None
    spans = _by_case.get()
    span = spans.get(case_id) if spans is not None and case_id is not None else None
    span = span or trace.get_current_span()
    return traceparent_of(span) if span.get_span_context().is_valid else None


def start(name: str, kind: SpanKind, parent: Context | None, attributes: Mapping[str, str | int] | None = None) -> Span:
    """A span begun now (the caller ends it): the non-recording one when off."""
    if not _State.enabled:
        return trace.INVALID_SPAN
    return _tracer.start_span(name, context=parent, kind=kind, attributes=dict(attributes or {}))


@contextmanager
def current(span: Span) -> Iterator[Span]:
    """``span`` as the current one (for logs and what is staged) until the block ends."""
    if not _State.enabled:
        yield span
        return
    token = otel_context.attach(trace.set_span_in_context(span))
    try:
        yield span
    finally:
        otel_context.detach(token)


@contextmanager
def for_cases(spans: Mapping[uuid.UUID, Span]) -> Iterator[None]:
    """While a batch is applied: each case's events and deliveries join its message's trace."""
    token = _by_case.set(spans)
    try:
        yield
    finally:
        _by_case.reset(token)


def log_ids() -> tuple[str, str] | None:
    """The current trace and span ids, as hex, for the JSON log line."""
    if not _State.enabled:
        return None
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")
