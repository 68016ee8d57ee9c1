"""The local webhook receiver stands in for a subscriber's HTTP server, so it must
behave like one when notify-svc is killed mid-request: a request cut short is never
handed on (CI once failed on an empty body recorded from such a request)."""

from __future__ import annotations

import socket
import time

import httpx

from tests.support.receiver import WebhookReceiver


def _send_raw(port: int, data: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(data)


def test_a_request_cut_short_is_not_recorded_and_a_whole_one_is() -> None:
    receiver = WebhookReceiver().start()
    try:
        port = receiver.server.server_port
        head = b"POST /hooks/overdue HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        _send_raw(port, head + b'Content-Length: 40\r\n\r\n{"case_id": "C-')  # the sender dies here
        whole = httpx.post(receiver.url, json={"case_id": "C-1"}, timeout=5)
        assert whole.status_code == 200
        deadline = time.monotonic() + 5
        while len(receiver.requests) < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)  # the cut request's handler has long finished by now
        assert [r.json() for r in receiver.requests] == [{"case_id": "C-1"}]
    finally:
        receiver.stop()
