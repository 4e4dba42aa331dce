"""The operations endpoints on METRICS_PORT: `/metrics` (Prometheus), `/healthz` (alive) and `/readyz` (the
database answers, and the gateway is connected or the scheduler runs, as the process's role needs)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from bot.services.metrics import Metrics
from bot.store.db.base import Database
from bot.store.job_queries import ping

log = logging.getLogger(__name__)

# Each check answers None when ready, else a short reason.
ReadyCheck = Callable[[], Awaitable[str | None]]


# Probes answer within this, whatever the database does.
PROBE_SECONDS = 5.0


async def database_answers(db: Database) -> str | None:
    """None when the database answers `SELECT 1`, else why not."""
    try:
        async with asyncio.timeout(PROBE_SECONDS):  # a hung database is "not ready", not a hung probe
            await ping(db)
    except Exception as exc:  # any failure means not ready; the reason is the error's class only
        return f"database unreachable ({type(exc).__name__})"
    return None


class OpsServer:
    """aiohttp's web server for the endpoints, started in setup_hook and stopped in close."""

    def __init__(
        self, metrics: Metrics, db: Database, checks: list[ReadyCheck], *, host: str, port: int
    ) -> None:
        self._metrics = metrics
        self._db = db
        self._checks = checks
        self._host = host
        self._port = port
        self.port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._scrape)
        app.router.add_get("/healthz", self._alive)
        app.router.add_get("/readyz", self._ready)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port).start()
        self.port = int(self._runner.addresses[0][1])  # the one bound, when asked for port 0
        log.info("metrics and health on http://%s:%d", self._host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _scrape(self, _: web.Request) -> web.Response:
        try:
            async with asyncio.timeout(PROBE_SECONDS):
                await self._metrics.refresh(self._db)
        except Exception:  # the counters are still worth serving when the database is down
            log.warning("could not read the queue for the metrics", exc_info=True)
        response = web.Response(body=self._metrics.exposition())
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    async def _alive(self, _: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _ready(self, _: web.Request) -> web.Response:
        for check in self._checks:
            reason = await check()
            if reason is not None:
                return web.Response(status=503, text=reason)
        return web.Response(text="ready")
