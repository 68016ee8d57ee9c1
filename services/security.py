"""Hardening shared by every service: security headers (added by
``services.middleware``; the API also gets a CSP that loads nothing and ``no-store``,
as its responses may hold case data), CORS closed unless
configured, and a refusal to start in production with development secrets.

Request size limits are in ``middleware.py``, error bodies without stack traces in
``errors.py``, rate limits per API key in ``auth.py``.
"""

from __future__ import annotations

from pathlib import Path

from services.settings import ServiceSettings

HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"strict-transport-security", b"max-age=31536000; includeSubDomains"),
]
API_ONLY = [
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"cache-control", b"no-store"),
]


class InsecureConfiguration(RuntimeError):
    """The service will not start like this."""


def check_production_settings(settings: ServiceSettings) -> None:
    """Outside development mode: no development issuer, no development secrets, a real
    identity provider configured. Raised at start-up, before anything is served."""
    if settings.is_development:
        return
    problems = []
    if settings.failpoints:
        problems.append("FAILPOINTS is set: failpoints crash the process on purpose, for fault tests only")
    if settings.dev_issuer_key:
        problems.append("DEV_ISSUER_KEY is set: the development token issuer is for development only")
    if not settings.jwt_issuer or not (settings.jwt_jwks_url or settings.jwt_jwks):
        problems.append("JWT_ISSUER and JWT_JWKS_URL (or JWT_JWKS) must name the identity provider")
    dev_file = Path(settings.var_dir) / "dev-secrets.env"
    if dev_file.exists():
        dev = dict(line.split("=", 1) for line in dev_file.read_text().splitlines() if "=" in line)
        for name in ("FIELD_ENCRYPTION_KEY", "FIELD_HASH_KEY"):
            value = getattr(settings, name.lower())
            if value and dev.get(name) and dev[name] in value.split(","):
                problems.append(f"{name} is a development secret (from {dev_file})")
    if problems:
        raise InsecureConfiguration(f"refusing to start in {settings.environment} mode: " + "; ".join(problems))
