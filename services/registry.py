"""Where each service's spec lives, so one launcher starts any of them.

Service folders are named ``<name>-svc`` (a hyphen, not importable); the package
inside shares the name without the suffix, and this module puts the folders on
``sys.path``.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.app import ServiceSpec

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("intake-svc", "routing-svc", "sla-svc", "notify-svc")


def add_service_paths() -> None:
    for name in SERVICES:
        folder = str(ROOT / name)
        if folder not in sys.path:
            sys.path.append(folder)


def load_spec(name: str) -> ServiceSpec:
    if name not in SERVICES:
        raise SystemExit(f"unknown service {name!r}; one of {', '.join(SERVICES)}")
    add_service_paths()
    module = importlib.import_module(f"{name.removesuffix('-svc')}.service")
    spec: ServiceSpec = module.SPEC
    return spec
