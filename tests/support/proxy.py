"""A TCP proxy in front of a server, for network faults: ``cut()`` drops every
connection through it at once (as a failing switch, a NAT timeout or a load balancer's
restart does), ``block()`` makes it drop each new connection as soon as it is made,
until ``unblock()``; ``hold()`` keeps a client's side open after the server closed
its own (the server's last words pass, its close does not: a connection half dead,
as when the close is lost on the way). The server behind it keeps running and keeps
its data.

It runs its own event loop in a thread, so a test drives it from plain code.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

from services.dev.broker import free_port


class TcpProxy:
    def __init__(self, target_port: int, port: int | None = None) -> None:
        self.target_port = target_port
        self.port = port or free_port()
        self.blocked = False
        self.holding = False
        self.connections = 0  # accepted, counting those dropped at once
        self.dropped = 0  # connections the proxy cut
        self._open: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()  # (client, server)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> TcpProxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise TimeoutError("proxy did not start")
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(self._accept, "127.0.0.1", self.port))
        self._ready.set()
        self._loop.run_forever()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        if self.blocked:
            self.dropped += 1
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        pair = (writer, up_writer)
        self._open.add(pair)
        client_gone = asyncio.Event()
        await asyncio.gather(
            self._pipe(reader, up_writer, gone=client_gone), self._pipe(up_reader, writer, hold_unless=client_gone)
        )
        self._open.discard(pair)

    async def _pipe(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        gone: asyncio.Event | None = None,
        hold_unless: asyncio.Event | None = None,
    ) -> None:
        """The client's direction sets ``gone`` when the client closed; the server's keeps
        the client open under ``hold`` unless the client had closed first."""
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        if gone is not None:
            gone.set()
        if hold_unless is not None and self.holding and not hold_unless.is_set():
            return  # the server closed first: its close is kept from the client (``hold``)
        writer.transport.abort()  # one side gone: the other goes too, as through a real hop

    def _cut(self) -> None:
        for client, server in list(self._open):
            self.dropped += 1
            client.transport.abort()
            server.transport.abort()
        self._open.clear()

    def cut(self) -> None:
        """Drop every open connection now."""
        self._loop.call_soon_threadsafe(self._cut)

    def block(self) -> None:
        """Drop every open connection, and each new one, until ``unblock``."""
        self.blocked = True
        self.cut()

    def unblock(self) -> None:
        self.blocked = False

    def hold(self) -> None:
        """From now on, a server that closes first does not close the client (``cut`` still
        does). Set it once the clients are connected: a client's own close waits for the
        server's, so one made meanwhile would wait for ever."""
        self.holding = True

    def stop(self) -> None:
        async def _close() -> None:
            self._cut()
            self._server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._loop.stop()

        asyncio.run_coroutine_threadsafe(_close(), self._loop)
        self._thread.join(10)
