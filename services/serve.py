"""Entry point of every service process: wait for the database, migrate, then serve.

python -m services.serve intake-svc
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
from types import FrameType

import uvicorn

from services import logging as service_logging
from services.app import create_app
from services.collector import freeze_startup
from services.database import Database, resolve_url
from services.migrate import upgrade
from services.registry import load_spec


def main(name: str) -> None:
    spec = load_spec(name)
    settings = spec.settings_class()
    service_logging.configure(spec.name, settings.log_level)
    url = resolve_url(settings.database_url, settings.var_dir, spec.name)
    asyncio.run(_wait_for_database(url, spec.schema, settings.db_wait_seconds))
    upgrade(spec.migrations_dir, url, spec.schema)
    config = uvicorn.Config(
        create_app(spec, settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
    )
    QuietServer(config).run(sockets=[shared_socket(settings.host, settings.port)] if settings.reuse_port else None)


def shared_socket(host: str, port: int) -> socket.socket:
    """The service's listening socket, bound with ``SO_REUSEPORT`` so that further
    processes of the same service can bind it too (``REUSE_PORT``)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


class QuietServer(uvicorn.Server):
    """uvicorn's server, ticking once a second instead of ten times.

    uvicorn's main loop wakes every 100 ms to refresh the ``Date`` header (once a
    second) and to see whether it should stop. At rest that alone cost a service
    0.25% of a core (0.03% at one tick a second, measured on a bare app); issue 14
    asks for under 0.5% for the whole service. The ``Date`` header is still refreshed
    every second; a signal to stop wakes the loop at once instead of at the next tick.
    """

    tick_seconds = 1.0
    _wake: asyncio.Event | None = None
    _loop: asyncio.AbstractEventLoop | None = None

    async def main_loop(self) -> None:
        self._wake, self._loop = asyncio.Event(), asyncio.get_running_loop()
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 10) % 864000  # a multiple of 10: ``on_tick`` refreshes the Date header
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.tick_seconds)
            should_exit = await self.on_tick(counter)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Once the app has started, what it holds is frozen out of the collector's
        sight (``services.collector``: full collections held the loop 74-107 ms)."""
        await super().startup(sockets=sockets)
        freeze_startup()

    def stop(self) -> None:
        """Stop as a signal would, from the server's own event loop (tests)."""
        self.should_exit = True
        if self._wake is not None:
            self._wake.set()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)


async def _wait_for_database(url: str, schema: str, seconds: float) -> None:
    db = Database(url, schema, pool_size=1)
    try:
        await db.wait_until_up(seconds)
    finally:
        await db.dispose()


if __name__ == "__main__":
    main(sys.argv[1])
