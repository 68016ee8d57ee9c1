"""A small OpenID Connect provider for the tests: discovery, an authorization endpoint
that signs in whoever the test says (no login form), a token endpoint that checks the
code, the client secret and the PKCE verifier, and its JWKS. Its tokens carry the
``roles`` and ``branch`` claims the services read; the services and the console are
pointed at it as they would be at the insurer's provider.

It is a test double for the provider only: the console and the services under test
are the real ones, over real HTTP."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from services.dev.broker import free_port

KID = "test-provider-1"


@dataclass
class LocalProvider:
    client_id: str = "console"
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    audience: str = "insurer-apis"
    user: dict[str, Any] = field(default_factory=dict)  # who signs in next: sub, name, roles, branch
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    refused_tokens: int = 0

    def __post_init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**jwk, "kid": KID, "use": "sig", "alg": "RS256"}]}

    def token(self, claims: dict[str, Any]) -> str:
        now = int(time.time())
        return jwt.encode(
            {"iss": self.issuer, "iat": now, "exp": now + 3600, **claims}, self.key, "RS256", {"kid": KID}
        )

    def start(self) -> LocalProvider:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def _json(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path == "/.well-known/openid-configuration":
                    self._json(200, {
                        "issuer": provider.issuer,
                        "authorization_endpoint": f"{provider.issuer}/authorize",
                        "token_endpoint": f"{provider.issuer}/token",
                        "jwks_uri": f"{provider.issuer}/jwks",
                    })  # fmt: skip
                elif url.path == "/jwks":
                    self._json(200, provider.jwks())
                elif url.path == "/authorize":
                    if query.get("client_id") != provider.client_id or query.get("code_challenge_method") != "S256":
                        self._json(400, {"error": "invalid_request"})
                        return
                    code = secrets.token_urlsafe(16)
                    provider.codes[code] = {**query, "user": dict(provider.user)}
                    target = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}"
                    self.send_response(302)
                    self.send_header("Location", target)
                    self.end_headers()
                else:
                    self._json(404, {"error": "not_found"})

            def do_POST(self) -> None:  # noqa: N802
                form = {
                    k: v[0] for k, v in parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode()).items()
                }
                grant = provider.codes.pop(form.get("code", ""), None)
                verifier = form.get("code_verifier", "")
                challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
                if (
                    grant is None
                    or form.get("client_secret") != provider.client_secret
                    or form.get("redirect_uri") != grant["redirect_uri"]
                    or challenge != grant["code_challenge"]
                ):
                    provider.refused_tokens += 1
                    self._json(400, {"error": "invalid_grant"})
                    return
                user = grant["user"]
                self._json(200, {
                    "token_type": "Bearer",
                    "expires_in": 3600,
                    "access_token": provider.token({"sub": user["sub"], "aud": provider.audience, "roles": user["roles"], "branch": user["branch"]}),
                    "id_token": provider.token({"sub": user["sub"], "aud": provider.client_id, "nonce": grant["nonce"], "name": user["name"], "roles": user["roles"], "branch": user["branch"]}),
                })  # fmt: skip

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
