"""Runs the whole system as real processes: the broker (unless one is given) and
the four services, each migrated, on its own port. ``make run`` uses it, and so do
the cross-service tests and the benchmark, so all three run the same thing.

    python -m services.dev.stack            # make run: CONTRACT.md ports, Ctrl-C stops all

Ctrl-C stops the system in pipeline order: intake first (no new cases), then each
consumer once its producers' outboxes are empty and it has applied what reached
it (bounded waits), the broker last. That is a courtesy, not what keeps cases
safe: a ``kill -9`` stops everything at once (every child dies with this process),
and the next start still settles every case, because each outbox publishes its
retained events again to the new, empty broker (docs/decisions/0009).
"""

from __future__ import annotations

import base64
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from services.dev.broker import LocalBroker, die_with_parent, free_port
from services.dev.issuer import generate_key, peer_token
from services.registry import ROOT, SERVICES

DEFAULT_PORTS = {"intake-svc": 8001, "routing-svc": 8002, "sla-svc": 8003, "notify-svc": 8004}
CONSOLE = "console-svc"
CONSOLE_PORT = 8000


def dev_secrets(var_dir: Path) -> dict[str, str]:
    """Development secrets, made on first start and kept in ``var/dev-secrets.env``."""
    path = var_dir / "dev-secrets.env"
    if not path.exists():
        var_dir.mkdir(parents=True, exist_ok=True)
        fernet_key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
        path.write_text(f"FIELD_ENCRYPTION_KEY={fernet_key}\nFIELD_HASH_KEY={secrets.token_urlsafe(32)}\n")
        print(f"generated development secrets in {path} (development only)", file=sys.stderr)
    values = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    if "DEV_ISSUER_KEY" not in values:  # a var/ from before the development token issuer
        values["DEV_ISSUER_KEY"] = generate_key()
        with path.open("a") as f:
            f.write(f"DEV_ISSUER_KEY={values['DEV_ISSUER_KEY']}\n")
    return values


@dataclass
class Stack:
    var_dir: Path
    database_url: str | None = None
    bootstrap: str | None = None
    ports: dict[str, int] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    #: The console's own settings on top of ``env`` (e.g. production mode with OpenID
    #: Connect; an empty value unsets a variable).
    console_env: dict[str, str] = field(default_factory=dict)
    broker: LocalBroker | None = None
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    #: Processes of a service sharing its one port (``REUSE_PORT``), e.g. ``{"intake-svc":
    #: 2}``: the further ones are named ``intake-svc#2`` and so on. Default: one each.
    processes_of: dict[str, int] = field(default_factory=dict)

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def start(
        self, *, broker_port: int | None = None, only: tuple[str, ...] = SERVICES, console: bool = False
    ) -> Stack:
        """The broker (unless given), the services, and with ``console`` the staff's console."""
        self.var_dir.mkdir(parents=True, exist_ok=True)
        if self.bootstrap is None:
            self.broker = LocalBroker(broker_port, self.var_dir / "broker.log").start()
            self.bootstrap = self.broker.bootstrap
            # The local broker has no idempotent producer (Apache Kafka does: keep it on there).
            self.env.setdefault("KAFKA_ENABLE_IDEMPOTENCE", "false")
        for name in only:
            self.ports.setdefault(name, free_port())
        if console:  # notify's links point at the console's case page
            self.ports.setdefault(CONSOLE, free_port())
            self.env.setdefault("CONSOLE_URL", f"{self.url(CONSOLE)}/cases/")
        for name in only:
            self.start_service(name)
            for n in range(2, self.processes_of.get(name, 1) + 1):
                self.ports[f"{name}#{n}"] = self.ports[name]
                self.start_service(name, replica=f"{name}#{n}")
        for key in list(self.processes):
            if key.split("#")[0] in only:
                self.wait_ready(key)
        if console:
            self.start_console()
        return self

    def start_console(self) -> None:
        """console-svc: no database or broker, the four APIs where this stack put them."""
        env = {**self.service_env(CONSOLE), **self.console_env}
        env = {k: v for k, v in env.items() if v != "" or k not in self.console_env}
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT / CONSOLE), str(ROOT)])
        self._spawn(CONSOLE, ["-m", "console"], env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.processes[CONSOLE].poll() is not None:
                raise RuntimeError(f"{CONSOLE} exited; see {self.var_dir / (CONSOLE + '.log')}")
            try:
                if httpx.get(f"{self.url(CONSOLE)}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{CONSOLE} not ready; see {self.var_dir / (CONSOLE + '.log')}")

    def service_env(self, name: str) -> dict[str, str]:
        env = {**os.environ, **dev_secrets(self.var_dir), **self.env}
        env.update(
            PORT=str(self.ports[name]),
            VAR_DIR=str(self.var_dir),
            KAFKA_BOOTSTRAP_SERVERS=self.bootstrap or "",
            PYTHONUNBUFFERED="1",
        )
        # Services that call each other's APIs (notify-svc) find them where this stack put them.
        env.update(
            {
                f"{other.split('-')[0].upper()}_URL": f"http://127.0.0.1:{port}"
                for other, port in self.ports.items()
                if other in DEFAULT_PORTS
            }
        )
        if name == "notify-svc" and "PEER_TOKEN" not in env:  # its credentials towards the others
            env["PEER_TOKEN"] = peer_token(env["DEV_ISSUER_KEY"])
        if self.processes_of.get(name, 1) > 1:
            env["REUSE_PORT"] = "true"
        if self.database_url:
            env["DATABASE_URL"] = self.database_url
        else:
            env.pop("DATABASE_URL", None)
        return env

    def start_service(self, name: str, replica: str | None = None, env: dict[str, str] | None = None) -> None:
        """Start a service; ``replica`` names a further process of it (e.g. ``sla-svc#2``) on
        its own port; ``env``, settings of this start alone (e.g. a fault test's ``FAILPOINTS``)."""
        key = replica or name
        if replica:
            self.ports.setdefault(replica, free_port())
        env = {**self.service_env(name), **(env or {})}
        env["PORT"] = str(self.ports[key])
        self._spawn(key, ["-m", "services.serve", name], env)

    def _spawn(self, key: str, args: list[str], env: dict[str, str]) -> None:
        """A child process of this stack's Python, logging to ``<key>.log``, dying with us."""
        log = open(self.var_dir / f"{key}.log", "ab")  # noqa: SIM115 - owned by the child
        self.processes[key] = subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent(),  # noqa: PLW1509 - sets a signal, nothing else
        )

    def wait_ready(self, name: str, timeout: float = 60) -> None:
        """Ready, and for a consuming service, holding its partitions (the group has joined)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = self.processes[name]
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}; see {self.var_dir / (name + '.log')}")
            try:
                response = httpx.get(f"{self.url(name)}/readyz", timeout=2)
                if response.status_code == 200 and _consuming(response.json()):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{name} not ready after {timeout}s; see {self.var_dir / (name + '.log')}")

    def kill(self, name: str) -> None:
        """Kill a service without a chance to clean up (a crash)."""
        proc = self.processes[name]
        proc.kill()
        proc.wait(10)

    def exited(self, name: str, timeout: float) -> int | None:
        """The service's exit code once it has exited (within ``timeout``), else None."""
        try:
            return self.processes[name].wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop_service(self, name: str) -> None:
        proc = self.processes.get(name)
        if proc and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def stop(self) -> None:
        for name in self.processes:
            self.stop_service(name)
        if self.broker:
            self.broker.stop()

    def stop_in_order(self, drain_seconds: float = 5) -> None:
        """Stop producers before their consumers, each consumer once it has caught up."""
        self.stop_service(CONSOLE)  # no new requests from people first
        order = [n for n in ("intake-svc", "routing-svc", "sla-svc", "notify-svc") if n in self.processes]
        for i, name in enumerate(order):
            self._drained([name], drain_seconds)  # its own outbox on the bus
            self.stop_service(name)
            self._drained(order[i + 1 :], drain_seconds)  # what it sent, applied downstream
        self.stop()

    def _drained(self, names: Sequence[str], seconds: float) -> None:
        deadline = time.monotonic() + seconds
        pending = list(names)
        while pending and time.monotonic() < deadline:
            pending = [n for n in pending if not _caught_up(self.url(n))]
            if pending:
                time.sleep(0.3)


def _caught_up(url: str) -> bool:
    """Nothing left in the outbox and, as far as the broker's offsets tell, nothing to read."""
    try:
        ready = httpx.get(f"{url}/readyz", timeout=2).json()
    except (httpx.HTTPError, ValueError):
        return True  # not answering: nothing to wait for
    lag = (ready.get("consumer") or {}).get("lag") or {}
    return bool(ready.get("outbox_backlog") == 0 and not any(lag.values()))


def _consuming(readyz: dict[str, Any]) -> bool:
    consumer = readyz.get("consumer")
    return consumer is None or consumer.get("assigned_partitions", 0) > 0


def main() -> None:
    """``make run``: the whole system on this machine until Ctrl-C. Long on purpose: the
    start-up a developer reads top to bottom (where things live, what to open, how to
    sign in), then an orderly stop."""
    var_dir = Path(os.environ.get("VAR_DIR", ROOT / "var"))
    stack = Stack(
        var_dir=var_dir,
        database_url=os.environ.get("DATABASE_URL") or None,
        bootstrap=os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or None,
        ports={
            name: int(os.environ.get(f"{name.split('-')[0].upper()}_PORT", port))
            for name, port in {**DEFAULT_PORTS, CONSOLE: CONSOLE_PORT}.items()
        },
    )
    # E-mail from notify-svc lands in a local mailbox unless an SMTP server is configured.
    mail_sink = None
    if "SMTP_HOST" not in os.environ:
        mailbox = var_dir / "mailbox"
        mailbox.parent.mkdir(parents=True, exist_ok=True)
        sink_port = os.environ.get("MAILBOX_PORT", "8025")
        mail_sink = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                f"127.0.0.1:{sink_port}",
                "-c",
                "aiosmtpd.handlers.Mailbox",
                str(mailbox),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=die_with_parent(),  # noqa: PLW1509 - sets a signal, nothing else
        )
        stack.env.update(SMTP_HOST="127.0.0.1", SMTP_PORT=sink_port)
        # Ops alerts about the platform itself (events lost on the bus) land there too.
        stack.env.setdefault("OPS_ALERT_EMAIL", os.environ.get("OPS_ALERT_EMAIL", "ops@localhost.localdomain"))
    stopping = False

    def _stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        broker_port = int(os.environ.get("BROKER_PORT", "9092")) if stack.bootstrap is None else None
        stack.start(broker_port=broker_port, console=True)
        print("\nThe system is up:")
        print(f"  console      {stack.url(CONSOLE)}   (development sign-in: pick a sample user)")
        print(
            f"  broker       {stack.bootstrap}"
            + ("  (local, memory only: outboxes publish their retained events to it again)" if stack.broker else "")
        )
        for name in SERVICES:
            print(f"  {name:<12} {stack.url(name)}   docs: {stack.url(name)}/docs")
        print(f"  database     {stack.database_url or f'SQLite files under {var_dir}/'}")
        if mail_sink:
            print(f"  e-mail       {var_dir}/mailbox/ (local SMTP sink on 127.0.0.1:{sink_port})")
        print(f"  logs         {var_dir}/<service>.log")
        print("  sign in      .venv/bin/python -m services.dev.issuer token coordinator-ho   (users: ... users)")
        print("Ctrl-C stops everything.")
        while not stopping:
            for name, proc in stack.processes.items():
                if proc.poll() is not None:
                    print(f"{name} exited ({proc.returncode}); see {var_dir / (name + '.log')}", file=sys.stderr)
                    stopping = True
            time.sleep(0.5)
    finally:
        print("stopping in order (Ctrl-C again does not hurry it: a kill loses nothing either) ...")
        stack.stop_in_order()
        if mail_sink:
            mail_sink.terminate()


if __name__ == "__main__":
    main()
