"""A fuzz pass with Schemathesis over every service's OpenAPI document, signed in
with every role at head office: whatever it sends, no service answers 5xx.

The services run as real processes on the embedded SQLite default with the local
broker (a system of their own: the fuzzer changes organisation, calendars and
policies). The live feed is left out: it is an endless stream by design.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import System, start_system, stop_system

SERVICES = ("intake-svc", "routing-svc", "sla-svc", "notify-svc")
ST = str(Path(sys.executable).with_name("st"))


@pytest.fixture(scope="module")
def fuzz_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    system, db_name = start_system(tmp_path_factory.mktemp("fuzz"), "sqlite")
    yield system
    stop_system(system, db_name)


@pytest.mark.parametrize("service", SERVICES)
def test_no_server_errors_under_fuzzing(fuzz_system: System, service: str) -> None:
    base = fuzz_system.stack.url(service)
    token = fuzz_system.headers()["Authorization"]
    result = subprocess.run(
        [
            ST,
            "run",
            f"{base}/openapi.json",
            "--url",
            base,
            "--checks",
            "not_a_server_error",
            "--phases",
            "examples,fuzzing",
            "--max-examples",
            "25",
            "--workers",
            "2",
            "--seed",
            "20261123",
            "--request-timeout",
            "20",
            "--exclude-path",
            "/v1/feed",
            "--header",
            f"Authorization: {token}",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
