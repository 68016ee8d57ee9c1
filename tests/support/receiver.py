"""Local receivers for what notify-svc sends: an HTTP endpoint (webhook, robot, SMS
gateway) that checks signatures as a subscriber would, and an SMTP server."""

from __future__ import annotations

import email
import email.policy
import json
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.controller import Controller

from notify.signing import verify
from services.dev.broker import free_port


@dataclass(frozen=True)
class Received:
    body: bytes
    headers: dict[str, str]
    signature_ok: bool
    path: str = "/"

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def query(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}


class _Server(ThreadingHTTPServer):
    """A listen backlog for a burst of deliveries (the default of 5 refused connections
    when notify sent many at once, and its circuit breaker then held the rest back)."""

    request_queue_size = 256
    daemon_threads = True


class WebhookReceiver:
    """Answers the first ``fail_first`` requests with 500 (all, with ``fail_first=-1``),
    then 200 with ``reply`` as JSON body; records every request. ``delay``: seconds each
    answer takes (a slow integrator), the request being recorded when it arrives."""

    def __init__(self, secret: str | None = None, fail_first: int = 0, reply: Any = None, delay: float = 0) -> None:
        self.secret = secret
        self.fail_first = fail_first
        self.reply = reply
        self.delay = delay
        self.requests: list[Received] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                if len(body) < length:
                    # The sender died mid-request (a test SIGKILLs notify-svc while it
                    # sends): an HTTP server hands no such request to its application.
                    self.close_connection = True
                    return
                headers = {k.lower(): v for k, v in self.headers.items()}
                ok = bool(receiver.secret) and verify(receiver.secret or "", body, headers.get("x-signature", ""))
                receiver.requests.append(Received(body, headers, ok, self.path))
                failing = receiver.fail_first < 0 or len(receiver.requests) <= receiver.fail_first
                payload = b"" if receiver.reply is None else json.dumps(receiver.reply).encode()
                time.sleep(receiver.delay)
                self.send_response(500 if failing else 200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                try:
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the sender gave up waiting or died

            def log_message(self, *_: Any) -> None:
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    @property
    def url(self) -> str:
        return f"{self.base}/hooks/overdue"

    def start(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class SmtpReceiver:
    """A real SMTP server (aiosmtpd) on a free port; keeps each message parsed."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        receiver = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
                message = email.message_from_bytes(envelope.content, policy=email.policy.default)
                receiver.messages.append(message)  # type: ignore[arg-type]
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def start(self) -> SmtpReceiver:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()
