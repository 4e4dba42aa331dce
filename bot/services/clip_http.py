"""The bot's own clip server on HTTP_PORT (`file://` storage only): `GET /clips/{name}` downloads a job's file
from the output folder when the link's signature is the bot's and has not expired (bot.storage.links signs
them). Range requests work (aiohttp's FileResponse), so a player can seek in a long clip. A refusal is said in
the language the browser prefers (its Accept-Language), among the bot's."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from bot import files
from bot.i18n.catalogs import LOCALES
from bot.i18n.messages import SOURCE, _, speaking
from bot.storage.links import LinkSigner

log = logging.getLogger(__name__)

# The bot's languages by a browser's language tag (lower case): each locale's own, and a language alone
# where the bot speaks one variant of it.
BROWSER_TAGS = {locale.lower(): locale for locale in (SOURCE, *LOCALES)} | {
    "en": SOURCE,
    "es": "es-ES",
    "pt": "pt-BR",
}


def browser_language(accept_language: str) -> str:
    """The bot's language a browser prefers most by its Accept-Language header (`de-DE,de;q=0.9,en;q=0.8`):
    the first of its tags, by weight, the bot speaks (the tag, else its language alone); else English."""
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate(accept_language.split(",")):
        tag, _sep, parameters = item.strip().partition(";")
        weight = 1.0
        for parameter in parameters.split(";"):
            key, _is, value = parameter.strip().partition("=")
            if key.strip() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if tag and weight > 0:
            ranked.append((-weight, position, tag.strip().lower()))
    for _weight, _position, tag in sorted(ranked):
        found = BROWSER_TAGS.get(tag) or BROWSER_TAGS.get(tag.split("-")[0])
        if found is not None:
            return found
    return SOURCE


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
        with speaking(browser_language(request.headers.get("Accept-Language", ""))):
            return await self._answer(request)

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if not servable(name):
            raise web.HTTPNotFound(text=_("no such clip"))
        expires, signature = request.query.get("expires", ""), request.query.get("signature", "")
        if not self._signer.verify(name, expires, signature, now=time.time()):
            raise web.HTTPForbidden(text=_("this link is not valid, or it has expired"))
        job_id = files.job_of(name)
        if job_id is not None and self._withdrawn is not None:
            try:
                withdrawn = await self._withdrawn(job_id)
            except Exception as exc:  # the database is away: not a server error, and no traceback per request
                log.warning("clip link for job %d: removal not checked (%s)", job_id, type(exc).__name__)
                raise web.HTTPServiceUnavailable(
                    text=_("try again in a moment"), headers={"Retry-After": "10"}
                ) from None
            if withdrawn:
                raise web.HTTPGone(text=_("this clip was removed"))
        path = self._folder / name
        if not path.is_file():
            raise web.HTTPNotFound(text=_("this clip is no longer kept"))
        return web.FileResponse(path, headers={"X-Content-Type-Options": "nosniff"})
