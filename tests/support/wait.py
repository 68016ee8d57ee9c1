"""Waiting for something the system does asynchronously, with a deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(find: Callable[[], T], timeout: float = 30, interval: float = 0.05, what: str = "condition") -> T:
    """Call ``find`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: T = find()
    while not last:
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout}s (last: {last!r})")
        time.sleep(interval)
        last = find()
    return last


async def until(
    find: Callable[[], Awaitable[T]], timeout: float = 20, interval: float = 0.05, what: str = "condition"
) -> T:
    """``eventually`` for tests running inside the event loop: ``find`` is awaited."""
    deadline = time.monotonic() + timeout
    last: T = await find()
    while not last:
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout}s (last: {last!r})")
        await asyncio.sleep(interval)
        last = await find()
    return last
