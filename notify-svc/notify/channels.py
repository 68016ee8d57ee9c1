"""One sender per channel; each makes exactly one attempt and says how it went.

- ``webhook``: the event envelope, signed (``signing.py``, CONTRACT.md).
- ``wecom``: a WeCom (企业微信) group robot, ``{"msgtype": "markdown"}``; the robot
  answers 200 with ``errcode`` 0 on success, anything else is a failure.
- ``dingtalk``: a DingTalk (钉钉) group robot; with a robot secret the URL carries
  ``timestamp`` (ms) and ``sign`` = base64(HMAC-SHA256(secret, "<timestamp>\\n<secret>")),
  URL-encoded, as DingTalk's "加签" security setting requires.
- ``slack`` / ``teams``: incoming webhooks taking ``{"text": ...}``.
- ``email``: SMTP, with STARTTLS and login when configured.
- ``sms``: an HTTP gateway adapter: ``POST {to, text, sign_name, reference}`` with a
  bearer token; 2xx means accepted. The phone number is in the request body only,
  never in a log line or an error text.

A channel without configuration (no SMTP host, no SMS gateway) is not an error to
retry: the delivery is marked ``skipped`` with the reason.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import quote_plus

import aiosmtplib
import httpx

from notify.settings import NotifySettings
from notify.signing import sign
from services import tracing


@dataclass(frozen=True)
class Outgoing:
    channel: str
    address: str
    subject: str
    text: str
    raw: bytes
    event_id: str
    secret: str | None = None
    traceparent: str | None = None


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str | None
    latency_ms: int
    skipped: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and not self.skipped


class NotConfigured(Exception):
    """The channel has no configuration here: skip, do not retry."""


def dingtalk_url(url: str, secret: str, timestamp_ms: int | None = None) -> str:
    ts = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    mac = hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256).digest()
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}timestamp={ts}&sign={quote_plus(base64.b64encode(mac).decode())}"


class Senders:
    def __init__(self, settings: NotifySettings, client: httpx.AsyncClient) -> None:
        self.s = settings
        self.client = client

    async def send(self, out: Outgoing) -> Outcome:
        started = time.perf_counter()
        try:
            status, error = await getattr(self, f"_{out.channel}")(out)
        except NotConfigured as exc:
            return Outcome(None, str(exc), 0, skipped=True)
        except (httpx.HTTPError, aiosmtplib.SMTPException, OSError) as exc:
            status, error = None, f"{type(exc).__name__}: {_safe(str(exc), out)}"
        return Outcome(status, error and error[:500], int((time.perf_counter() - started) * 1000))

    async def _post(self, url: str, json: object, ok_field: str | None = None) -> tuple[int, str | None]:
        response = await self.client.post(url, json=json)
        if not response.is_success:
            return response.status_code, f"HTTP {response.status_code}"
        if ok_field:
            try:
                answer = response.json()
            except ValueError:
                return response.status_code, "robot answered no JSON"
            if answer.get(ok_field, 0) != 0:
                return response.status_code, f"robot refused: {answer.get(ok_field)} {answer.get('errmsg', '')}"
        return response.status_code, None

    async def _webhook(self, out: Outgoing) -> tuple[int, str | None]:
        headers = {
            "Content-Type": "application/json",
            "X-Signature": sign(out.secret or "", out.raw),
            "X-Event-Id": out.event_id,
            "User-Agent": "notify-svc",
        }
        if out.traceparent:  # the receiver can join the case's trace (services.tracing)
            headers[tracing.TRACEPARENT] = out.traceparent
        response = await self.client.post(out.address, content=out.raw, headers=headers)
        return response.status_code, None if response.is_success else f"HTTP {response.status_code}"

    async def _wecom(self, out: Outgoing) -> tuple[int, str | None]:
        content = f"**{out.subject}**\n{out.text}" if out.subject else out.text
        return await self._post(out.address, {"msgtype": "markdown", "markdown": {"content": content}}, "errcode")

    async def _dingtalk(self, out: Outgoing) -> tuple[int, str | None]:
        url = dingtalk_url(out.address, out.secret) if out.secret else out.address
        body = {"msgtype": "markdown", "markdown": {"title": out.subject or out.text[:30], "text": _md(out)}}
        return await self._post(url, body, "errcode")

    async def _slack(self, out: Outgoing) -> tuple[int, str | None]:
        return await self._post(out.address, {"text": f"*{out.subject}*\n{out.text}" if out.subject else out.text})

    async def _teams(self, out: Outgoing) -> tuple[int, str | None]:
        return await self._post(out.address, {"text": _md(out)})

    async def _sms(self, out: Outgoing) -> tuple[int, str | None]:
        if not self.s.sms_gateway_url:
            raise NotConfigured("no SMS gateway configured (SMS_GATEWAY_URL)")
        headers = {"Authorization": f"Bearer {self.s.sms_gateway_token}"} if self.s.sms_gateway_token else {}
        body = {"to": out.address, "text": out.text, "sign_name": self.s.sms_sign_name, "reference": out.event_id}
        response = await self.client.post(self.s.sms_gateway_url, json=body, headers=headers)
        return response.status_code, None if response.is_success else f"HTTP {response.status_code}"

    async def _email(self, out: Outgoing) -> tuple[int, str | None]:
        s = self.s
        if not s.smtp_host:
            raise NotConfigured("no SMTP server configured (SMTP_HOST)")
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = s.smtp_from, out.address, out.subject
        message["X-Event-Id"] = out.event_id
        message.set_content(out.text)
        await aiosmtplib.send(
            message,
            hostname=s.smtp_host,
            port=s.smtp_port,
            start_tls=s.smtp_starttls,
            username=s.smtp_username,
            password=s.smtp_password,
            timeout=s.delivery_timeout_seconds,
        )
        return 250, None


def _md(out: Outgoing) -> str:
    return f"### {out.subject}\n\n{out.text}" if out.subject else out.text


def _safe(text: str, out: Outgoing) -> str:
    """Error texts are stored and shown: never let a phone number through."""
    return text.replace(out.address, "<recipient>") if out.channel == "sms" else text
