"""Signed-in people: a sealed, HTTP-only session cookie, and CSRF tokens.

The cookie holds the person's bearer token for the four APIs, so it is encrypted and
authenticated (Fernet), not merely signed: nothing in it is readable or forgeable
without the console's key, and no script in the page can read it (``HttpOnly``). It is
``SameSite=Lax`` and, outside development, ``Secure``. The console keeps no session
store: the cookie is the session, and it ends when the token would.

Every form that changes something carries the session's CSRF token, checked against
the cookie's (``check_csrf``); the sign-in form, posted before there is a session,
carries a token from a short-lived cookie of its own (double submit).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import asdict, dataclass, field

from cryptography.fernet import Fernet, InvalidToken
from starlette.requests import Request
from starlette.responses import Response

COOKIE = "console_session"
SIGNIN_COOKIE = "console_signin"


@dataclass(frozen=True)
class Person:
    """Who is signed in, as the console needs to know: the token is what the APIs trust."""

    sub: str
    name: str
    roles: list[str]
    branch: str | None
    token: str
    expires: float
    locale: str = "zh-CN"
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))


class Sessions:
    def __init__(self, secret: str, secure: bool, hours: float) -> None:
        key = base64.urlsafe_b64encode(hashlib.sha256(("console-session:" + secret).encode()).digest())
        self.fernet = Fernet(key)
        self.secure, self.seconds = secure, int(hours * 3600)

    def read(self, request: Request) -> Person | None:
        sealed = request.cookies.get(COOKIE)
        if not sealed:
            return None
        try:
            data = json.loads(self.fernet.decrypt(sealed.encode(), ttl=self.seconds))
            person = Person(**data)
        except (InvalidToken, ValueError, TypeError):
            return None
        return person if person.expires > time.time() else None

    def write(self, response: Response, person: Person) -> None:
        sealed = self.fernet.encrypt(json.dumps(asdict(person)).encode()).decode()
        max_age = max(int(person.expires - time.time()), 0)
        response.set_cookie(
            COOKIE, sealed, max_age=max_age, httponly=True, secure=self.secure, samesite="lax", path="/"
        )

    def clear(self, response: Response) -> None:
        response.delete_cookie(COOKIE, path="/", httponly=True, secure=self.secure, samesite="lax")

    def set_signin_token(self, response: Response, token: str) -> None:
        """The sign-in form's token, in a cookie of its own for ten minutes."""
        response.set_cookie(
            SIGNIN_COOKIE, token, max_age=600, httponly=True, secure=self.secure, samesite="strict", path="/"
        )


def same(given: str | None, expected: str | None) -> bool:
    return bool(given) and bool(expected) and hmac.compare_digest(str(given), str(expected))
