"""Sign-in with OpenID Connect (authorization code with PKCE), outside development.

The console is an OpenID Connect client of the insurer's identity provider, the same
provider whose access tokens the four services verify (``JWT_ISSUER``,
``JWT_JWKS_URL``, ``JWT_AUDIENCE``):

1. ``GET /signin/oidc`` sends the browser to the provider's authorization endpoint
   with a random ``state``, ``nonce`` and PKCE challenge, which it keeps in a sealed,
   HTTP-only cookie for ten minutes;
2. the provider sends the browser back to ``/signin/callback`` with a code; the
   console checks ``state``, exchanges the code (with the PKCE verifier and its client
   secret) for an ID token and an access token, and verifies the ID token's
   signature (the provider's JWKS), issuer, audience (its client id), expiry and
   ``nonce``;
3. the session holds the access token, the bearer for the APIs; who the person is
   (``sub``, name) comes from the ID token, their roles and branch from the claims
   named by ``OIDC_ROLES_CLAIM`` and ``OIDC_BRANCH_CLAIM`` (``roles``, ``branch``: the
   claims the services read from the access token).

The session ends when the access token does, or after ``SESSION_HOURS``, whichever
comes first; then the person signs in again.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
from cryptography.fernet import InvalidToken

from console.sessions import Person, Sessions
from console.settings import ConsoleSettings

FLOW_COOKIE = "console_oidc"


class SignInFailed(Exception):
    """The provider's answer was not a sign-in this console can accept (a 403 page)."""


@dataclass
class Provider:
    """The identity provider's endpoints (its discovery document), read once."""

    settings: ConsoleSettings
    client: httpx.AsyncClient
    _discovery: dict[str, Any] | None = None
    _jwks: jwt.PyJWKClient | None = None

    async def discovery(self) -> dict[str, Any]:
        if self._discovery is None:
            issuer = (self.settings.oidc_issuer or "").rstrip("/")
            answer = await self.client.get(f"{issuer}/.well-known/openid-configuration")
            answer.raise_for_status()
            self._discovery = answer.json()
            self._jwks = jwt.PyJWKClient(self._discovery["jwks_uri"], lifespan=300)
        return self._discovery

    async def start(self, sessions: Sessions, next_path: str) -> tuple[str, str]:
        """(the provider's URL to send the browser to, the sealed flow cookie)."""
        found = await self.discovery()
        s = self.settings
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        flow = {"state": secrets.token_urlsafe(24), "nonce": secrets.token_urlsafe(24), "verifier": verifier}
        query = {
            "response_type": "code",
            "client_id": s.oidc_client_id,
            "redirect_uri": s.oidc_redirect_url,
            "scope": s.oidc_scopes,
            "state": flow["state"],
            "nonce": flow["nonce"],
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        sealed = sessions.fernet.encrypt(json.dumps({**flow, "next": next_path}).encode()).decode()
        return f"{found['authorization_endpoint']}?{urlencode(query)}", sealed

    async def finish(self, sessions: Sessions, sealed: str | None, code: str, state: str) -> tuple[Person, str]:
        """The signed-in person and where they were going, or ``SignInFailed``."""
        try:
            flow = json.loads(sessions.fernet.decrypt((sealed or "").encode(), ttl=600))
        except (InvalidToken, ValueError) as exc:
            raise SignInFailed("the sign-in took too long or was not started here; start again") from exc
        if not secrets.compare_digest(flow["state"], state):
            raise SignInFailed("the sign-in's state does not match")
        found, s = await self.discovery(), self.settings
        answer = await self.client.post(
            found["token_endpoint"],
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": s.oidc_redirect_url,
                "client_id": s.oidc_client_id,
                "client_secret": s.oidc_client_secret or "",
                "code_verifier": flow["verifier"],
            },
        )
        if answer.status_code != 200:
            raise SignInFailed(f"the identity provider refused the code ({answer.status_code})")
        tokens = answer.json()
        claims = self._verified_id_token(tokens.get("id_token", ""), flow["nonce"])
        lifetime = min(float(tokens.get("expires_in") or 3600), s.session_hours * 3600)
        roles = claims.get(s.oidc_roles_claim) or []
        person = Person(
            sub=str(claims["sub"]),
            name=str(claims.get(s.oidc_name_claim) or claims["sub"]),
            roles=[str(r) for r in (roles if isinstance(roles, list) else [roles])],
            branch=claims.get(s.oidc_branch_claim),
            token=str(tokens["access_token"]),
            expires=time.time() + lifetime,
            locale=s.default_locale,
        )
        return person, str(flow.get("next") or "/")

    def _verified_id_token(self, id_token: str, nonce: str) -> dict[str, Any]:
        assert self._jwks is not None
        try:
            key = self._jwks.get_signing_key_from_jwt(id_token).key
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key,
                algorithms=["RS256", "ES256", "PS256"],
                audience=self.settings.oidc_client_id,
                issuer=(self.settings.oidc_issuer or "").rstrip("/"),
                options={"require": ["exp", "sub", "iss", "aud"]},
                leeway=30,
            )
        except jwt.PyJWTError as exc:
            raise SignInFailed(f"the ID token is not valid: {exc}") from exc
        if not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
            raise SignInFailed("the ID token's nonce does not match")
        return claims
