"""The bot's own clip server on HTTP_PORT (`file://` storage only): `GET /clips/{name}` downloads a job's file
from the output folder when the link's signature is the bot's and has not expired (bot.storage.links signs
them). Range requests work (aiohttp's FileResponse), so a player can seek in a long clip."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from bot import files
from bot.storage.links import LinkSigner

log = logging.getLogger(__name__)


def servable(name: str) -> bool:
    """A job's finished file in the output folder: never an input image, a partial file or any other name."""
    return (
        "/" not in name
        and files.is_stored_name(name)
        and not name.startswith(".")
        and not name.endswith(".part")
    )


class ClipServer:
    """aiohttp's web server for signed clip links, started in setup_hook and stopped in close."""

    def __init__(
        self,
        folder: Path,
        signer: LinkSigner,
        *,
        host: str,
        port: int,
        withdrawn: Callable[[int], Awaitable[bool]] | None = None,
    ) -> None:
        self._folder = folder
        self._signer = signer
        # Whether a job's clip was taken down (its Delete button): its links stop working at once.
        self._withdrawn = withdrawn
        self._host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/clips/{name}", self._clip)
        # No access log: a link's query is a capability for as long as it lasts.
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self.port).start()
        self.port = int(self._runner.addresses[0][1])  # the one bound, when asked for port 0
        log.info("full-quality clip links served on http://%s:%d/clips/", self._host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _clip(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if not servable(name):
            raise web.HTTPNotFound(text="no such clip")
        expires, signature = request.query.get("expires", ""), request.query.get("signature", "")
        if not self._signer.verify(name, expires, signature, now=time.time()):
            raise web.HTTPForbidden(text="this link is not valid, or it has expired")
        job_id = files.job_of(name)
        if job_id is not None and self._withdrawn is not None:
            try:
                withdrawn = await self._withdrawn(job_id)
            except Exception as exc:  # the database is away: not a server error, and no traceback per request
                log.warning("clip link for job %d: removal not checked (%s)", job_id, type(exc).__name__)
                raise web.HTTPServiceUnavailable(
                    text="try again in a moment", headers={"Retry-After": "10"}
                ) from None
            if withdrawn:
                raise web.HTTPGone(text="this clip was removed")
        path = self._folder / name
        if not path.is_file():
            raise web.HTTPNotFound(text="this clip is no longer kept")
        return web.FileResponse(path, headers={"X-Content-Type-Options": "nosniff"})
