"""Failpoints (``services.failpoints``): the fault scenarios' way to crash a process at
the narrow moment that tests a guarantee. Armed, the process dies by SIGKILL at the
count given, not before; a misspelt place stops the start-up; production refuses them."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from intake.service import SPEC as INTAKE
from services import failpoints
from services.app import create_app
from services.registry import ROOT
from services.security import InsecureConfiguration
from tests.support.inprocess import secrets_for_tests

PROGRAM = """
import sys
from services import failpoints
failpoints.arm(sys.argv[1])
for n in range(1, 6):
    print(n, flush=True)
    failpoints.reached("request.committed")
print("survived", flush=True)
"""


def run(spec: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", PROGRAM, spec], cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_an_armed_place_kills_the_process_at_its_count_and_not_before() -> None:
    died = run("request.committed=3")
    assert died.returncode == -signal.SIGKILL
    assert died.stdout.split() == ["1", "2", "3"]  # killed at the third pass, as kill -9 would
    other = run("delivery.sent=1")  # armed elsewhere: this place passes
    assert other.returncode == 0 and other.stdout.split()[-1] == "survived"
    unarmed = run("")
    assert unarmed.returncode == 0 and unarmed.stdout.split()[-1] == "survived"


def test_a_misspelt_place_or_count_is_named() -> None:
    with pytest.raises(ValueError, match="unknown failpoint 'request.comitted'"):
        failpoints.parse("request.comitted=1")
    with pytest.raises(ValueError, match="needs a count"):
        failpoints.parse("timers.round_committed=0")
    assert failpoints.parse(" consumer.batch_committed=2 , delivery.sent=1 ") == {
        "consumer.batch_committed": 2,
        "delivery.sent": 1,
    }


def test_production_refuses_failpoints(tmp_path: Path) -> None:
    production = {
        **secrets_for_tests(),
        "environment": "production",
        "var_dir": tmp_path,
        "dev_issuer_key": None,
        "jwt_issuer": "https://idp.insurer.example",
        "jwt_jwks": '{"keys": []}',
    }
    create_app(INTAKE, INTAKE.settings_class(**production))  # starts
    with pytest.raises(InsecureConfiguration, match="FAILPOINTS"):
        create_app(INTAKE, INTAKE.settings_class(**production, failpoints="request.committed=1"))
