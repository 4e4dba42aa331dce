"""What the fake servers (tests/fakes/discord, tests/fakes/prodia) share: serving an aiohttp app on
127.0.0.1, the request log and FIFO fault injection."""

from __future__ import annotations

import abc
import time
from dataclasses import dataclass, field
from typing import Any, Generic, Self, TypeVar

from aiohttp import web


@dataclass(kw_only=True)
class BaseRecordedRequest:
    """One request as a fake saw it; each fake adds what it reads from the body."""

    method: str
    path: str
    route: str | None  # the fake's name for the route, or None for a path it does not have
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased
    at: float = field(default_factory=time.monotonic)


RequestT = TypeVar("RequestT", bound=BaseRecordedRequest)


class BaseFault(abc.ABC, Generic[RequestT]):
    """An injected misbehaviour, used ``times`` times for the requests it `matches` (FIFO).

    Each fake's ``Fault`` dataclass declares these fields with its own, and what it does when it strikes.
    """

    times: int
    hits: int  # how often it struck so far
    after_work: bool  # strike only after the request took effect

    @abc.abstractmethod
    def matches(self, rec: RequestT) -> bool:
        """Whether this fault applies to the request."""


FaultT = TypeVar("FaultT", bound=BaseFault[Any])


class FakeServer(abc.ABC, Generic[RequestT, FaultT]):
    """Serving on 127.0.0.1 (``async with`` or `start` / `stop`), the request log and the fault queue."""

    # Clients open one connection per concurrent request, so a burst (commands, jobs) means hundreds of
    # connects at once; aiohttp's default backlog (128) would drop SYNs that the kernel retries after 1 s.
    backlog = 1024
    max_request_bytes = 64 << 20  # aiohttp's default (1 MiB) would refuse uploads before the fake sees them

    def __init__(self) -> None:
        self.requests: list[RequestT] = []
        self.faults: list[FaultT] = []
        self.base_url = ""
        self._runner: web.AppRunner | None = None

    @abc.abstractmethod
    def _add_routes(self, router: web.UrlDispatcher) -> None:
        """The fake's routes."""

    def _listening(self, origin: str) -> str:
        """Note the URLs served from ``origin`` (``http://127.0.0.1:PORT``); return the base URL."""
        self.base_url = origin
        return origin

    async def _closing(self) -> None:
        """Let go of long-lived work (sockets, background jobs) before the server stops."""

    async def start(self, port: int = 0) -> str:
        """Listen on 127.0.0.1 (``port`` 0: any free port) and return the base URL."""
        app = web.Application(client_max_size=self.max_request_bytes)
        self._add_routes(app.router)
        # handler_cancellation: a hanging or slow handler goes away when its client disconnects.
        runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port, backlog=self.backlog)
        await site.start()
        self._runner = runner
        return self._listening(f"http://127.0.0.1:{runner.addresses[0][1]}")

    async def stop(self) -> None:
        """Stop serving (a stopped fake may be started again)."""
        await self._closing()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def requests_for(self, route: str) -> list[RequestT]:
        """The recorded requests of one route."""
        return [r for r in self.requests if r.route == route]

    def _take_fault(self, rec: RequestT) -> FaultT | None:
        """The first queued fault that matches ``rec``, counted as a hit (and dropped once used up)."""
        for fault in self.faults:
            if fault.matches(rec):
                fault.hits += 1
                if fault.hits >= fault.times:
                    self.faults.remove(fault)
                return fault
        return None
