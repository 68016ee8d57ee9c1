"""Failpoints: named places where a fault scenario may crash this process at the
worst moment it can pick (issue 17), as FoundationDB's and TiKV's fail points do.

A crash from outside (``kill -9`` at a random instant) mostly lands while a process
waits; the moments that test the guarantees are narrow: a case committed but not yet
answered, a consumer's batch committed but its offsets not, timers marked fired but
their events not yet on the bus, a webhook that answered but whose answer was never
recorded. Each of those places calls ``reached(NAME)``. ``FAILPOINTS`` arms some of
them for one process:

    FAILPOINTS="request.committed=20"    # SIGKILL itself the 20th time a request commits

The process then kills itself with SIGKILL: no clean-up, no flush, no answer, exactly
what ``kill -9`` does, at that line. Unarmed (the default, and always in production:
the settings refuse ``FAILPOINTS`` there) ``reached`` is one dictionary lookup.

The places, each named where it is called:

- ``request.committed``: a request's transaction has committed; its answer has not left.
- ``consumer.batch_applied``: a polled batch is applied in its transaction, not committed.
- ``consumer.batch_committed``: a polled batch is applied and committed; its offsets are not.
- ``timers.round_committed``: a firing round's timers and their ``case.overdue`` outbox
  rows are committed; nothing of the round is on the bus yet.
- ``delivery.sent``: a delivery's target answered; the attempt is not recorded.
"""

from __future__ import annotations

import logging
import os
import signal

log = logging.getLogger(__name__)

PLACES = frozenset(
    {
        "request.committed",
        "consumer.batch_applied",
        "consumer.batch_committed",
        "timers.round_committed",
        "delivery.sent",
    }
)

#: Armed places: name -> how many more times it may be reached before the process dies.
_armed: dict[str, int] = {}


def parse(spec: str) -> dict[str, int]:
    """``"a=3,b=1"`` -> ``{"a": 3, "b": 1}``; a ``ValueError`` naming what is wrong."""
    armed: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, count = part.partition("=")
        if name not in PLACES:
            raise ValueError(f"unknown failpoint {name!r}; known: {', '.join(sorted(PLACES))}")
        if not count.isdigit() or int(count) < 1:
            raise ValueError(f"failpoint {name!r} needs a count of 1 or more: {name}=N")
        armed[name] = int(count)
    return armed


def arm(spec: str) -> None:
    """Arm the places ``spec`` names (``FAILPOINTS``), at start-up."""
    _armed.clear()
    _armed.update(parse(spec))
    if _armed:
        log.warning("failpoints armed: this process will kill itself", extra={"failpoints": spec})


def reached(name: str) -> None:
    """The code is at place ``name``: die here if it is armed and its count is up."""
    if not _armed or name not in _armed:
        return
    _armed[name] -= 1
    if _armed[name] <= 0:
        os.kill(os.getpid(), signal.SIGKILL)
