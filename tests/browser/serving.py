"""An ASGI app served by a real uvicorn on a free port of 127.0.0.1, in the test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator

import uvicorn
from starlette.types import ASGIApp


class _Server(uvicorn.Server):
    """uvicorn that leaves SIGINT and SIGTERM to pytest: Ctrl-C stops the run, not only this server."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def listening_socket() -> socket.socket:
    """A socket bound to a free port of 127.0.0.1: its port is known before the app that needs it (its
    DASHBOARD_URL) is built, and nothing else can take the port in between."""
    # IPPROTO_TCP named, so asyncio sets TCP_NODELAY on its connections (else every answer waits ~40 ms for
    # Nagle and the client's delayed ACK).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def origin(sock: socket.socket) -> str:
    port: int = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@contextlib.asynccontextmanager
async def served(app: ASGIApp, sock: socket.socket) -> AsyncIterator[None]:
    """`app` served by uvicorn on `sock` in this event loop for the block (the socket is closed after)."""
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan="off",
        server_header=False,
        timeout_graceful_shutdown=5,
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="uvicorn")
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    task.result()  # raises what stopped it
                    raise RuntimeError("uvicorn stopped before it started")
                await asyncio.sleep(0.01)
        yield
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)
        sock.close()
