"""A development token issuer, for ``make run`` and the tests only.

Production verifies tokens of the insurer's identity provider (``JWT_ISSUER`` and
``JWT_JWKS_URL`` or ``JWT_JWKS``). For development, ``make run`` generates an RSA
key (``DEV_ISSUER_KEY`` in ``var/dev-secrets.env``); every service then also
trusts tokens signed with it, and this module signs tokens for the sample users:

    python -m services.dev.issuer users
    python -m services.dev.issuer token specialist-sz     # prints a bearer token

Services refuse to start with ``DEV_ISSUER_KEY`` set outside development mode.
"""

from __future__ import annotations

import base64
import os
import sys
import time
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from services.auth import DEV_ISSUER, DEV_KID, dev_private_key

#: Sample users matching the sample organisation (routing-svc's sample_org.yaml).
SAMPLE_USERS: dict[str, dict[str, Any]] = {
    "agent-ho": {"sub": "u-ho-cc-1", "roles": ["call_centre_agent"], "branch": "HO"},
    "clerk-ns": {"sub": "u-ns-counter-1", "roles": ["counter_clerk"], "branch": "GD-SZ-NS"},
    "specialist-sz": {"sub": "u-sz-cs-1", "roles": ["branch_specialist"], "branch": "GD-SZ"},
    "liaison-sz": {"sub": "u-sz-il-1", "roles": ["liaison"], "branch": "GD-SZ"},
    "lead-sz": {"sub": "u-sz-cs-lead", "roles": ["team_lead"], "branch": "GD-SZ"},
    "head-gd": {"sub": "u-gd-em-1", "roles": ["branch_head"], "branch": "GD"},
    "specialist-bj": {"sub": "u-bj-cs-1", "roles": ["branch_specialist"], "branch": "BJ"},
    "coordinator-ho": {"sub": "u-ho-cs-lead", "roles": ["head_office_coordinator"], "branch": "HO"},
    "auditor": {"sub": "u-ho-audit-1", "roles": ["auditor"], "branch": "HO"},
    "admin": {"sub": "u-ho-admin-1", "roles": ["admin"], "branch": "HO"},
}


def generate_key() -> str:
    """A new RSA private key, PEM, base64 so that it fits on one env line."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return base64.b64encode(pem).decode()


def mint(dev_key: str, sub: str, roles: list[str], branch: str | None, ttl_seconds: int = 8 * 3600) -> str:
    now = int(time.time())
    claims = {"iss": DEV_ISSUER, "sub": sub, "roles": roles, "branch": branch, "iat": now, "exp": now + ttl_seconds}
    return jwt.encode(claims, dev_private_key(dev_key), algorithm="RS256", headers={"kid": DEV_KID})


def peer_token(dev_key: str, head_office: str = "HO") -> str:
    """notify-svc's token towards the other services (role ``service``), for a month."""
    return mint(dev_key, "notify-svc", ["service"], head_office, ttl_seconds=30 * 86400)


def mint_user(dev_key: str, user: str, ttl_seconds: int = 8 * 3600) -> str:
    u = SAMPLE_USERS[user]
    return mint(dev_key, u["sub"], u["roles"], u["branch"], ttl_seconds)


def _dev_key_from_var(var_dir: Path) -> str:
    for line in (var_dir / "dev-secrets.env").read_text().splitlines():
        if line.startswith("DEV_ISSUER_KEY="):
            return line.split("=", 1)[1]
    raise SystemExit("no DEV_ISSUER_KEY in var/dev-secrets.env: run `make run` once")


def main(argv: list[str]) -> None:
    if argv[:1] == ["users"]:
        for name, u in SAMPLE_USERS.items():
            print(f"{name:16} {u['sub']:16} {','.join(u['roles']):26} {u['branch']}")
        return
    if len(argv) == 2 and argv[0] == "token" and argv[1] in SAMPLE_USERS:
        print(mint_user(_dev_key_from_var(Path(os.environ.get("VAR_DIR", "var"))), argv[1]))
        return
    raise SystemExit("usage: python -m services.dev.issuer users | token <user>")


if __name__ == "__main__":
    main(sys.argv[1:])
