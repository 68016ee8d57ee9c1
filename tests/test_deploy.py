"""The shipped deployment says what it needs: every variable the compose file takes
from the environment without a default is listed in ``deploy/env.example``, every
service of the system is in it with the production settings the services insist on
(``services.security``), and notify reaches its peers by their names there."""

from __future__ import annotations

import re

import yaml

from services.registry import ROOT, SERVICES

DEPLOY = ROOT / "deploy"


def compose() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())  # type: ignore[no-any-return]


def test_every_variable_the_compose_file_needs_is_in_env_example() -> None:
    text = (DEPLOY / "docker-compose.yml").read_text()
    needed = {m.group(1) for m in re.finditer(r"\$\{([A-Z0-9_]+)\}", text)}  # no ":-default"
    listed = {line.split("=", 1)[0] for line in (DEPLOY / "env.example").read_text().splitlines() if "=" in line}
    listed = {name for name in listed if not name.startswith("#")}
    assert needed, "the compose file takes nothing from the environment?"
    assert needed <= listed, f"missing from deploy/env.example: {sorted(needed - listed)}"


def test_every_service_runs_in_production_mode_with_its_identity_provider() -> None:
    services = compose()["services"]
    for name in (*SERVICES, "console-svc"):
        assert name in services, name
        env = services[name]["environment"]
        assert env["ENVIRONMENT"] == "production", name
    for name in SERVICES:
        env = services[name]["environment"]
        assert env["JWT_ISSUER"] and env["JWT_JWKS_URL"], name  # refused at start-up without them
        assert env["KAFKA_ENABLE_IDEMPOTENCE"] == "true" and "DEV_ISSUER_KEY" not in env, name
    notify = services["notify-svc"]["environment"]
    assert notify["PEER_TOKEN"] and all(
        notify[f"{peer}_URL"].startswith(f"http://{peer.lower()}-svc:") for peer in ("INTAKE", "ROUTING", "SLA")
    )
