"""A trace collector for tests: the OTLP/HTTP endpoint (``POST /v1/traces``,
protobuf) that an OpenTelemetry Collector or a tracing backend offers, keeping every
span it is sent. The services export to it as they would in production
(``OTEL_TRACES_EXPORTER=otlp``), so the test reads what an operator's backend would.

Decision (issue 18 asks for "an in-memory exporter"): the four services run as real
processes in the pipeline test, where an in-memory exporter cannot be read from
outside; this collector is that memory, one HTTP hop away, and it tests the
exporter's configuration by the standard variables too.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from services.dev.broker import free_port


@dataclass(frozen=True)
class CollectedSpan:
    service: str
    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    kind: int
    attributes: dict[str, str | int]


class _Server(ThreadingHTTPServer):
    daemon_threads = True


class TraceCollector:
    def __init__(self) -> None:
        self.spans: list[CollectedSpan] = []
        self.port = free_port()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                collector._take(ExportTraceServiceRequest.FromString(body))
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *_args: object) -> None:
                pass

        self._server = _Server(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def env(self) -> dict[str, str]:
        """What a service needs to export here, by the standard variables only."""
        return {
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{self.port}",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
        }

    def start(self) -> TraceCollector:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def trace(self, trace_id: str) -> list[CollectedSpan]:
        return [s for s in list(self.spans) if s.trace_id == trace_id]

    def _take(self, request: ExportTraceServiceRequest) -> None:
        for resource_spans in request.resource_spans:
            attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            service = attributes.get("service.name", "")
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    self.spans.append(
                        CollectedSpan(
                            service=service,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            name=span.name,
                            kind=span.kind,
                            attributes={a.key: a.value.string_value or a.value.int_value for a in span.attributes},
                        )
                    )
