"""A circuit breaker per target: a receiver that keeps failing is left alone for a while.

After ``failures`` failed attempts in a row the circuit opens: deliveries to that
target wait until the cool-down ends, without using up their attempts (the target
is down, the notifications are not at fault). Then one delivery is let through as
a probe: success closes the circuit, failure opens it again for twice as long, up
to a maximum. State is per process; each replica learns on its own, which costs at
most ``failures`` attempts per replica.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass
class _Circuit:
    failures: int = 0
    open_until: float = 0.0
    cooldown: float = 0.0
    probing: bool = False


class Breakers:
    def __init__(self, failures: int, cooldown: float, max_cooldown: float) -> None:
        self.threshold = failures
        self.cooldown = cooldown
        self.max_cooldown = max_cooldown
        self._circuits: dict[str, _Circuit] = {}

    @staticmethod
    def key(channel: str, address: str) -> str:
        """Circuits are per host for URLs (one robot host down stops only its own deliveries)."""
        if address.startswith("http"):
            parts = urlsplit(address)
            return f"{channel}:{parts.scheme}://{parts.netloc}"
        return channel

    def acquire(self, key: str, now: float | None = None) -> float:
        """0 when a delivery may go now; otherwise how long the circuit stays open.

        When the cool-down is over, the first caller gets through as the probe and
        the circuit stays shut to the others until the probe's outcome is recorded.
        """
        c = self._circuits.get(key)
        now = time.monotonic() if now is None else now
        if c is None:
            return 0.0
        if c.open_until > now:
            return c.open_until - now
        if c.failures >= self.threshold:
            c.open_until = now + c.cooldown  # the probe is out; the others wait for it
            c.probing = True
        return 0.0

    def record(self, key: str, ok: bool, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        c = self._circuits.setdefault(key, _Circuit())
        if ok:
            self._circuits.pop(key, None)
            return
        c.failures += 1
        if c.probing:  # the probe failed: open again, for longer
            c.probing = False
            c.cooldown = min(self.max_cooldown, c.cooldown * 2)
            c.open_until = now + c.cooldown
        elif c.failures >= self.threshold and c.open_until <= now:
            # (failures of attempts already in flight when it opened do not extend it)
            c.cooldown = self.cooldown
            c.open_until = now + c.cooldown

    def open_circuits(self) -> dict[str, float]:
        now = time.monotonic()
        return {k: round(c.open_until - now, 1) for k, c in self._circuits.items() if c.open_until > now}
