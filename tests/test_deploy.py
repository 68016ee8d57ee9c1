"""The shipped deployments say what they need and would start.

Compose: every variable the file takes from the environment without a default is
listed in ``deploy/env.example``, every service of the system is in it with the
production settings the services insist on (``services.security``), notify reaches
its peers by their names there, and a Compose parser accepts the file.

Kubernetes (``deploy/kubernetes``): every object valid against Kubernetes' own
schemas; each service with its Deployment, Service, probes, resources, Secret by
reference, migration step, PodDisruptionBudget and autoscaler; the ConfigMap and
Secret keys enough for the services' production checks, and the migration step run
as the pods run it."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from typing import Any

import kubernetes_validate
import pytest
import yaml
from compose_spec import PyCompose

from console import settings as console
from console.settings import ConsoleSettings
from services.registry import ROOT, SERVICES, load_spec
from services.security import check_production_settings
from tests.support.postgres import create_database, drop_database

DEPLOY = ROOT / "deploy"
SECRET_NAME = re.compile(r"SECRET|PASSWORD|TOKEN|_KEY$|DATABASE_URL")


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


def test_the_compose_file_is_one_a_compose_parser_accepts() -> None:
    """``compose_spec`` (the Rust Compose-specification parser, with its JSON-Schema
    model): YAML anchors and merge keys resolved first, as Docker Compose does."""
    resolved = compose()
    parsed = PyCompose.from_json(json.dumps(resolved))
    parsed.validate()  # every network, volume, config and secret a service uses is declared
    spec = parsed.to_spec()  # the whole file against the Compose specification's schema
    assert set(parsed.service_names()) == {*SERVICES, "console-svc", "postgres", "kafka", "topics"}
    assert spec.services is not None
    for name, service in resolved["services"].items():
        assert set(service.get("depends_on", [])) <= set(resolved["services"]), name


def kubernetes() -> dict[tuple[str, str], dict[str, Any]]:
    """Every object under deploy/kubernetes, by (kind, name)."""
    objects = {}
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for document in yaml.safe_load_all(path.read_text()):
            objects[(document["kind"], document["metadata"]["name"])] = document
    return objects


def test_the_kubernetes_manifests_are_valid_for_kubernetes() -> None:
    """Each object against Kubernetes' own OpenAPI schemas, strictly (an unknown
    field is an error), for the oldest and newest versions the package knows that
    we support."""
    objects = kubernetes()
    listed = yaml.safe_load((DEPLOY / "kubernetes" / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == sorted(p.name for p in (DEPLOY / "kubernetes").glob("*.yaml") if p.stem != "kustomization")
    for version in ("1.30", "1.37"):
        for document in objects.values():
            kubernetes_validate.validate(document, version, strict=True)


def test_each_service_has_what_a_production_rollout_needs() -> None:
    objects = kubernetes()
    for name in (*SERVICES, "console-svc"):
        deployment = objects[("Deployment", name)]
        pod = deployment["spec"]["template"]["spec"]
        [container] = pod["containers"]
        port = container["ports"][0]["containerPort"]
        assert {"name": "PORT", "value": str(port)} in container["env"], name
        assert objects[("Service", name)]["spec"]["ports"][0]["port"] == port, name
        ready = "/healthz" if name == "console-svc" else "/readyz"  # the console has no database to wait for
        assert container["readinessProbe"]["httpGet"]["path"] == ready, name
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
        assert container["resources"]["requests"]["cpu"] and container["resources"]["requests"]["memory"], name
        assert {"configMapRef": {"name": "case-platform"}} in container["envFrom"], name
        assert {"secretRef": {"name": "case-platform"}} in container["envFrom"], name
        assert not [e for e in container["env"] if SECRET_NAME.search(e["name"]) and "value" in e], name
        assert objects[("PodDisruptionBudget", name)]["spec"]["minAvailable"] >= 1, name
        hpa = objects[("HorizontalPodAutoscaler", name)]["spec"]
        assert hpa["scaleTargetRef"]["name"] == name and hpa["minReplicas"] >= 2, name
        if name in SERVICES:
            [migrate] = pod["initContainers"]
            assert migrate["command"] == ["python", "-m", "services.migrate", name, "upgrade", "head"], name
            assert hpa["maxReplicas"] <= 6, name
    config = objects[("ConfigMap", "case-platform")]["data"]
    assert not [key for key in config if SECRET_NAME.search(key)], "secrets belong in the Secret"


def test_the_kubernetes_settings_start_each_service_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ConfigMap and the Secret's keys (secret.env.example) are every setting the
    services insist on in production, and the migration step runs as the manifests
    run it: ``python -m services.migrate <service> upgrade head``, twice at once, as
    two replicas starting together would."""
    config = kubernetes()[("ConfigMap", "case-platform")]["data"]
    secret_keys = [
        line.split("=", 1)[0]
        for line in (DEPLOY / "kubernetes" / "secret.env.example").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    ]
    db_name, url = create_database()
    try:
        env = {**config, **dict.fromkeys(secret_keys, "x" * 44), "DATABASE_URL": url}
        env["FIELD_ENCRYPTION_KEY"] = env["FIELD_HASH_KEY"] = base64.urlsafe_b64encode(b"k" * 32).decode()
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        for name in SERVICES:
            check_production_settings(load_spec(name).settings_class())
        [container] = kubernetes()[("Deployment", "console-svc")]["spec"]["template"]["spec"]["containers"]
        for entry in container["env"]:  # the console's own: a value, or a key of the ConfigMap
            ref = entry.get("valueFrom", {}).get("configMapKeyRef", {}).get("key")
            monkeypatch.setenv(entry["name"], entry["value"] if "value" in entry else config[ref])
        console.check(ConsoleSettings())
        run = [sys.executable, "-m", "services.migrate"]
        steps = [subprocess.Popen([*run, name, "upgrade", "head"], cwd=ROOT) for name in SERVICES for _ in (1, 2)]
        assert [step.wait(timeout=120) for step in steps] == [0] * len(steps)
    finally:
        drop_database(db_name)
