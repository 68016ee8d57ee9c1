"""Load generators for the benchmarks: the open-loop one (``openloop.c``) and wrk.

``OpenLoop`` compiles ``bench/openloop.c`` with gcc (once per bench run) and feeds it
a file of prebuilt raw requests: many different customers, a third of them
complaints, none with a ``source_ref`` (so every request is a new case). ``wrk``
(Debian's package, installed when missing) gives the closed-loop maximum.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.cases import complaint, inquiry

SOURCE = Path(__file__).with_name("openloop.c")


def case_bodies(count: int, seed: int = 14) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    bodies = []
    for i in range(count):
        body = complaint() if i % 3 == 0 else inquiry()
        body.pop("source_ref", None)
        body["customer"] = {
            **body["customer"],
            "phone": f"139{rng.randrange(10**8):08d}",
            "id_number": f"{rng.randrange(10**17):017d}X",
        }
        bodies.append(body)
    return bodies


def raw_request(port: int, path: str, body: dict[str, Any], headers: dict[str, str]) -> bytes:
    data = json.dumps(body, ensure_ascii=False).encode()
    head = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Content-Type: application/json"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    head.append(f"Content-Length: {len(data)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + data


@dataclass
class OpenLoop:
    """``run(rate, seconds)`` posts new cases at a constant arrival rate; returns its figures.
    ``bodies``: the requests' bodies, taken in turn (3,000 generated ones by default)."""

    work_dir: Path
    port: int
    headers: dict[str, str]
    path: str = "/v1/cases"
    connections: int = 256
    bodies: list[dict[str, Any]] | None = None

    def __post_init__(self) -> None:
        self.binary = self.work_dir / "openloop"
        subprocess.run(["gcc", "-O2", "-o", str(self.binary), str(SOURCE)], check=True)
        self.requests = self.work_dir / "requests.bin"
        with self.requests.open("wb") as out:
            for body in case_bodies(3000) if self.bodies is None else self.bodies:
                raw = raw_request(self.port, self.path, body, self.headers)
                out.write(f"{len(raw)}\n".encode() + raw)

    def run(self, rate: float, seconds: float, name: str) -> tuple[dict[str, Any], Path]:
        figures, ids, _ = self._run(rate, seconds, name, each=False)
        return figures, ids

    def run_each(self, rate: float, seconds: float, name: str) -> tuple[dict[str, Any], list[int]]:
        """As ``run``, and each scheduled request's answer, in order: its HTTP status,
        -1 for a connection error, 0 for none (the caller retries those it must)."""
        figures, _, each = self._run(rate, seconds, name, each=True)
        return figures, each

    def _run(self, rate: float, seconds: float, name: str, each: bool) -> tuple[dict[str, Any], Path, list[int]]:
        out, ids, status = (self.work_dir / f"{name}.{ext}" for ext in ("json", "ids", "status"))
        argv = [str(self.binary), "127.0.0.1", str(self.port), str(self.requests)]
        argv += [str(rate), str(seconds), str(self.connections), str(out), str(ids)] + ([str(status)] if each else [])
        subprocess.run(argv, check=True)
        answers = [int(line) for line in status.read_text().split()] if each else []
        return json.loads(out.read_text()), ids, answers


def ensure_wrk() -> None:
    if shutil.which("wrk") is None:
        subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, capture_output=True)


def wrk_max(
    url: str, body: dict[str, Any], headers: dict[str, str], work_dir: Path, seconds: int = 10
) -> dict[str, Any]:
    """Closed-loop maximum: 32 connections as fast as the server answers."""
    script = work_dir / "wrk.lua"
    lines = ['wrk.method = "POST"', f"wrk.body = [[{json.dumps(body, ensure_ascii=False)}]]"]
    lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in {"Content-Type": "application/json", **headers}.items()]
    script.write_text("\n".join(lines) + "\n")
    out = subprocess.run(
        ["wrk", "-t2", "-c32", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    return {
        "per_second": round((total - errors) / seconds, 1),
        "errors": errors,
        "latency": dict(re.findall(r"\s(50|99)%\s+(\S+)", out)),
    }
