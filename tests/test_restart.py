"""``make run`` stopped at the worst moment loses no case (issue 12).

The embedded default exactly as a newcomer runs it: ``python -m services.dev.stack``
(what ``make run`` runs) on SQLite with the local, memory-only broker. Cases are
accepted, intake has published every one of them, and the consumers are held
(SIGSTOP) so that most of those events are on the broker and nowhere else. Then
the whole thing is stopped, by Ctrl-C or by SIGKILL of its process group, and
started again on the same ``var/``: the new broker is empty. Counted from the
outside, in each service's own database file: every accepted case ends up assigned
once, with its clocks planned and seen by notify-svc, and no service reports a gap.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from conftest import FAST_ENV
from services.dev.broker import free_port
from services.dev.stack import dev_secrets
from services.registry import ROOT
from tests.support.cases import complaint, inquiry
from tests.support.inprocess import token
from tests.support.wait import eventually

pytestmark = pytest.mark.stack

CASES = 240
SERVICES = ("intake-svc", "routing-svc", "sla-svc", "notify-svc")


class MakeRun:
    """One ``python -m services.dev.stack`` process group on a ``var/`` of its own."""

    def __init__(self, var_dir: Path) -> None:
        self.var_dir = var_dir
        self.ports = {name: free_port() for name in SERVICES}
        env = {**os.environ, **FAST_ENV, "VAR_DIR": str(var_dir), "STREAM_GAP_GRACE_SECONDS": "5"}
        env.pop("DATABASE_URL", None)
        env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
        env.update({f"{n.split('-')[0].upper()}_PORT": str(p) for n, p in self.ports.items()})
        env.update(BROKER_PORT=str(free_port()), MAILBOX_PORT=str(free_port()))
        self.log = open(var_dir / "make-run.log", "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "services.dev.stack"],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, as in a terminal
        )

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def readyz(self, name: str) -> dict:
        return httpx.get(f"{self.url(name)}/readyz", timeout=5).json()  # type: ignore[no-any-return]

    def wait_up(self) -> None:
        def up() -> bool:
            assert self.process.poll() is None, (self.var_dir / "make-run.log").read_text()[-3000:]
            try:
                return all(self.readyz(n).get("status") in ("ready", "degraded") for n in SERVICES)
            except httpx.HTTPError:
                return False

        eventually(up, timeout=120, interval=0.5, what="make run up")
        # "The system is up" is printed once every consumer holds its partitions.
        eventually(lambda: b"The system is up" in (self.var_dir / "make-run.log").read_bytes(), timeout=60)

    def service_pid(self, name: str) -> int:
        """The pid of one service process started by this make run (its child)."""
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == self.process.pid and name.encode() in cmdline:
                return int(entry.name)
        raise AssertionError(f"no {name} process under make run")

    def freeze(self, name: str) -> None:
        os.kill(self.service_pid(name), signal.SIGSTOP)

    def stop(self, how: str) -> None:
        if how == "ctrl-c":
            self.process.send_signal(signal.SIGINT)  # what the terminal sends
            self.process.wait(120)
        else:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        self.log.close()
        # Every child dies with make run: nothing is left holding a port or a file.
        eventually(lambda: not _children_alive(self.process.pid), timeout=30, what="children gone")


def _children_alive(pid: int) -> bool:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                return True
    return False


def count(var_dir: Path, service: str, sql: str) -> int:
    with closing(sqlite3.connect(var_dir / f"{service}.db", timeout=30)) as db:
        return int(db.execute(sql).fetchone()[0])


def settled(var_dir: Path) -> dict[str, int]:
    """What each service holds of the accepted cases, read from its own database file."""
    return {
        "cases": count(var_dir, "intake-svc", "SELECT count(*) FROM cases"),
        "unpublished": count(var_dir, "intake-svc", "SELECT count(*) FROM outbox WHERE published_at IS NULL"),
        "assigned": count(var_dir, "routing-svc", "SELECT count(*) FROM assignments"),
        "clocked": count(var_dir, "sla-svc", "SELECT count(DISTINCT case_id) FROM clocks"),
        "notify_cases": count(var_dir, "notify-svc", "SELECT count(*) FROM cases"),
    }


def post_cases(run: MakeRun, n: int) -> list[str]:
    headers = {"Authorization": f"Bearer {token(sub='restart-test', key=dev_secrets(run.var_dir)['DEV_ISSUER_KEY'])}"}
    bodies = [complaint() if i % 3 == 0 else inquiry() for i in range(n)]

    def post(body: dict) -> str:
        response = httpx.post(f"{run.url('intake-svc')}/v1/cases", json=body, headers=headers, timeout=30)
        assert response.status_code == 201, response.text
        return response.json()["id"]  # type: ignore[no-any-return]

    with ThreadPoolExecutor(16) as pool:
        return list(pool.map(post, bodies))


@pytest.fixture
def var_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path


@pytest.mark.parametrize("how", ["ctrl-c", "sigkill"])
def test_stop_at_the_worst_moment_loses_no_case(var_dir: Path, how: str) -> None:
    first = MakeRun(var_dir)
    try:
        first.wait_up()
        # The consumers fall behind (held), intake goes on accepting and publishing.
        first.freeze("sla-svc")
        if how == "sigkill":
            first.freeze("routing-svc")
        accepted = post_cases(first, CASES)
        assert len(set(accepted)) == CASES
        eventually(lambda: settled(var_dir)["unpublished"] == 0, timeout=60, what="intake published everything")
        if how == "ctrl-c":
            assert first.readyz("intake-svc")["outbox_backlog"] == 0
    finally:
        first.stop(how)

    # The worst moment: every case.created left intake's outbox, but sla-svc (and, for
    # the kill, routing-svc) never applied most of them; the broker that held them is gone.
    before = settled(var_dir)
    assert before["cases"] == CASES and before["unpublished"] == 0, before
    assert before["clocked"] < CASES, before
    if how == "sigkill":
        assert before["assigned"] < CASES, before

    second = MakeRun(var_dir)
    try:
        second.wait_up()
        after = eventually(
            lambda: (
                (s := settled(var_dir))["assigned"] == CASES
                and s["clocked"] == CASES
                and s["notify_cases"] == CASES
                and s
            ),
            timeout=180,
            interval=1,
            what=f"every case settled after the restart (before: {before})",
        )
        assert after["cases"] == CASES
        # Once each: one first routing per case, no notification twice.
        assert count(var_dir, "routing-svc", "SELECT count(*) FROM transfers") == CASES
        duplicates = count(
            var_dir,
            "notify-svc",
            "SELECT count(*) FROM (SELECT 1 FROM deliveries GROUP BY case_id, event_type, recipient, channel"
            " HAVING count(*) > 1)",
        )
        assert duplicates == 0
        # The relays saw the new broker and published what they had again; nobody reports a gap.
        assert second.readyz("intake-svc")["broker"]["replayed"] >= CASES
        time.sleep(6)  # longer than the gap grace: a hole would show now
        for name in SERVICES:
            ready = second.readyz(name)
            assert ready["consumer"]["event_gaps"] == [], (name, ready)
    finally:
        second.stop("ctrl-c")
