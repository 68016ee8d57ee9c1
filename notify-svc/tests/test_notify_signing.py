"""The webhook signature recipe of CONTRACT.md, as a receiver applies it."""

from __future__ import annotations

import hashlib
import hmac
import time

from notify.signing import sign, verify


def test_signature_matches_the_contract_recipe() -> None:
    body = b'{"event_id": "e1"}'
    header = sign("k", body, timestamp=1_700_000_000)
    expected = hmac.new(b"k", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"


def test_receiver_checks() -> None:
    body = b'{"event_id": "e1"}'
    now = time.time()
    header = sign("secret", body)
    assert verify("secret", body, header, now=now)
    assert not verify("other", body, header, now=now)
    assert not verify("secret", body + b" ", header, now=now)
    assert not verify("secret", body, header, now=now + 301)  # replayed after five minutes
    assert not verify("secret", body, "garbage", now=now)
