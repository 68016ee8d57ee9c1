"""Each channel against a real local receiver: what arrives, and how it is signed."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import AsyncIterator

import httpx
import pytest

from notify.breaker import Breakers
from notify.channels import Outgoing, Senders, dingtalk_url
from notify.settings import NotifySettings
from tests.support.receiver import SmtpReceiver, WebhookReceiver
from tests.support.wait import until


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as c:
        yield c


def message(channel: str, address: str, secret: str | None = None) -> Outgoing:
    return Outgoing(channel, address, "【已超时】TS-1 closure", "冯涛：案件 TS-1 已超时。", b"{}", "evt-1", secret)


async def test_wecom_robot_gets_markdown_and_errcode_decides(client: httpx.AsyncClient) -> None:
    ok = WebhookReceiver(reply={"errcode": 0, "errmsg": "ok"}).start()
    refused = WebhookReceiver(reply={"errcode": 93000, "errmsg": "invalid webhook url"}).start()
    try:
        senders = Senders(NotifySettings(), client)
        outcome = await senders.send(message("wecom", f"{ok.base}/cgi-bin/webhook/send?key=k1"))
        assert outcome.ok and outcome.status_code == 200
        body = ok.requests[0].json()
        assert body["msgtype"] == "markdown"
        assert body["markdown"]["content"].startswith("**【已超时】TS-1 closure**\n冯涛")
        assert ok.requests[0].query == {"key": "k1"}
        bad = await senders.send(message("wecom", f"{refused.base}/cgi-bin/webhook/send?key=k2"))
        assert not bad.ok and "93000" in (bad.error or "")
    finally:
        ok.stop()
        refused.stop()


async def test_dingtalk_robot_url_is_signed_as_dingtalk_checks_it(client: httpx.AsyncClient) -> None:
    robot = WebhookReceiver(reply={"errcode": 0, "errmsg": "ok"}).start()
    secret = "SEC0123456789abcdef"
    try:
        outcome = await Senders(NotifySettings(), client).send(
            message("dingtalk", f"{robot.base}/robot/send?access_token=tok", secret)
        )
        assert outcome.ok
        hit = robot.requests[0]
        q = hit.query
        assert q["access_token"] == "tok"
        # DingTalk's check: sign == base64(HMAC-SHA256(secret, timestamp + "\n" + secret))
        expected = base64.b64encode(
            hmac.new(secret.encode(), f"{q['timestamp']}\n{secret}".encode(), hashlib.sha256).digest()
        ).decode()
        assert q["sign"] == expected
        assert hit.json()["markdown"]["title"] == "【已超时】TS-1 closure"
        assert "sign=" in dingtalk_url("https://oapi.dingtalk.com/robot/send?access_token=x", secret, 1)
    finally:
        robot.stop()


async def test_slack_and_teams_incoming_webhooks_get_text(client: httpx.AsyncClient) -> None:
    hook = WebhookReceiver().start()
    try:
        senders = Senders(NotifySettings(), client)
        assert (await senders.send(message("slack", f"{hook.base}/services/T/B/X"))).ok
        assert (await senders.send(message("teams", f"{hook.base}/webhookb2/abc"))).ok
        slack, teams = (r.json() for r in hook.requests)
        assert slack == {"text": "*【已超时】TS-1 closure*\n冯涛：案件 TS-1 已超时。"}
        assert teams["text"].startswith("### 【已超时】TS-1 closure")
    finally:
        hook.stop()


async def test_sms_gateway_gets_number_text_and_token_and_errors_never_show_the_number(
    client: httpx.AsyncClient,
) -> None:
    gateway = WebhookReceiver(reply={"code": "OK"}).start()
    try:
        settings = NotifySettings(sms_gateway_url=f"{gateway.base}/sms", sms_gateway_token="tok-1")
        outcome = await Senders(settings, client).send(message("sms", "13812345678"))
        assert outcome.ok
        hit = gateway.requests[0]
        assert hit.headers["authorization"] == "Bearer tok-1"
        assert hit.json() == {
            "to": "13812345678",
            "text": "冯涛：案件 TS-1 已超时。",
            "sign_name": "客服中心",
            "reference": "evt-1",
        }
        # An unreachable gateway: the error text is stored and shown, the number is not in it.
        down = NotifySettings(sms_gateway_url="http://127.0.0.1:9/13812345678")
        failed = await Senders(down, client).send(message("sms", "13812345678"))
        assert failed.error and "13812345678" not in failed.error
        skipped = await Senders(NotifySettings(), client).send(message("sms", "13812345678"))
        assert skipped.skipped and "SMS_GATEWAY_URL" in (skipped.error or "")
    finally:
        gateway.stop()


async def test_email_reaches_a_real_smtp_server(client: httpx.AsyncClient) -> None:
    smtp = SmtpReceiver().start()
    try:
        settings = NotifySettings(smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_from="ops@insurer.example")
        outcome = await Senders(settings, client).send(message("email", "u-sz-cl-1@insurer.example"))
        assert outcome.ok and outcome.status_code == 250

        async def arrived() -> bool:
            return bool(smtp.messages)

        await until(arrived, what="mail")
        mail = smtp.messages[0]
        assert (mail["From"], mail["To"], mail["Subject"]) == (
            "ops@insurer.example",
            "u-sz-cl-1@insurer.example",
            "【已超时】TS-1 closure",
        )
        assert mail["X-Event-Id"] == "evt-1"
        assert mail.get_content().strip() == "冯涛：案件 TS-1 已超时。"
    finally:
        smtp.stop()


def test_breaker_opens_probes_once_and_backs_off() -> None:
    b = Breakers(failures=2, cooldown=10, max_cooldown=25)
    key = Breakers.key("webhook", "http://h:1/x?token=secret")
    assert key == "webhook:http://h:1"
    b.record(key, False, now=0)
    assert b.acquire(key, now=0) == 0  # one failure: still closed
    b.record(key, False, now=1)
    b.record(key, False, now=1.5)  # in flight when it opened: no longer wait
    assert b.acquire(key, now=2) == 9
    assert b.acquire(key, now=11) == 0  # the probe goes
    assert b.acquire(key, now=11) == 10  # and only the probe
    b.record(key, False, now=12)  # probe failed: 20 s now
    assert b.acquire(key, now=13) == 19
    assert b.acquire(key, now=32) == 0
    b.record(key, False, now=33)
    assert b.acquire(key, now=33) == 25  # capped
    assert b.acquire(key, now=58) == 0
    b.record(key, True, now=58)
    assert b.acquire(key, now=58) == 0 and b.open_circuits() == {}
