"""The "Full quality" link: where whoever sees a re-encoded clip (or only its preview) gets the original.

Which link a public clip gets, first match wins (README "Full-quality links"):
1. `file://` storage with HTTP_PORT set: a signed link to the bot's own clip server, valid CLIP_LINK_HOURS:
   `{base}/clips/{name}?expires=<unix>&signature=<hmac-sha256 hex>`. `base` is PUBLIC_CLIP_BASE_URL when set
   (the address the server is reached at, e.g. through a reverse proxy with HTTPS), else
   `http://{HTTP_HOST}:{HTTP_PORT}`. The signing key is derived from the Discord token, so every process
   of one bot signs alike and nothing new needs keeping secret; the token itself is in no link.
2. PUBLIC_CLIP_BASE_URL: a public bucket or CDN that maps to the store's folder or prefix: `{base}/{name}`,
   which never expires.
3. An S3 bucket: a presigned URL valid CLIP_LINK_HOURS (at most 7 days).
Otherwise no link. A private clip, or one posted by DM or as an ephemeral message, never gets one; nor does
a link Discord would refuse on a button (over 512 characters, or not http(s)).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
from urllib.parse import quote

from bot import files
from bot.domain.models import Job, Target
from bot.domain.stories import Story
from bot.errors import StorageUnavailable
from bot.settings import Settings
from bot.storage.base import Storage

log = logging.getLogger(__name__)

# Discord refuses a link button whose url is longer than this (discord-api-spec openapi.json,
# ButtonComponentForMessageRequest.url: maxLength 512) or whose scheme it does not open.
MAX_BUTTON_URL = 512
# Only a clip posted for everyone to see carries a link (routes in bot.services.routes).
PUBLIC_ROUTES = ("channel", "followup")
_CONTEXT = b"sora-bot clip links"  # what the signing key is derived for: this key signs nothing else
_SIGNATURE = re.compile(r"[0-9a-f]{64}")
_EXPIRES = re.compile(r"[0-9]{1,12}")
_WILDCARD_HOSTS = ("", "0.0.0.0", "::", "[::]")  # noqa: S104 - names of "every address", never bound here


class LinkSigner:
    """Signs and checks the bot's own clip links with a key derived from the Discord token."""

    def __init__(self, token: str) -> None:
        self._key = hmac.new(token.encode(), _CONTEXT, hashlib.sha256).digest()

    def __repr__(self) -> str:
        return "LinkSigner()"

    @classmethod
    def of(cls, settings: Settings) -> LinkSigner | None:
        """The bot's signer; None without a Discord token."""
        token = settings.discord_token.get_secret_value() if settings.discord_token else ""
        return cls(token) if token.strip() else None

    def signature(self, name: str, expires: int) -> str:
        message = f"/clips/{name}\n{expires}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def query(self, name: str, expires: int) -> str:
        """The query string of a link to `name` that works until `expires` (unix seconds)."""
        return f"expires={expires}&signature={self.signature(name, expires)}"

    def verify(self, name: str, expires: str, signature: str, *, now: float) -> bool:
        """Whether a link's `expires` and `signature` are this bot's for `name`, and not expired."""
        if not _EXPIRES.fullmatch(expires) or not _SIGNATURE.fullmatch(signature):
            return False
        genuine = hmac.compare_digest(self.signature(name, int(expires)), signature)
        return genuine and int(expires) >= now


class ClipLinks:
    """The "Full quality" link of a job's clip or a story's, as the settings and the store allow (see the
    module)."""

    def __init__(self, storage: Storage, settings: Settings) -> None:
        self.storage = storage
        self.seconds = settings.clip_link_hours * 3600
        self._public_base = settings.public_clip_base_url
        # The bot serves the folder itself only for file:// (a bucket signs its own links).
        serves = settings.http_port is not None and not storage.remote
        self.signer = LinkSigner.of(settings) if serves else None
        self._host = settings.http_host
        self.port = settings.http_port or None  # 0: whichever the server binds (`served_on`)
        self._warned = False

    def served_on(self, port: int) -> None:
        """The port this process's clip server bound (HTTP_PORT=0 picks one)."""
        self.port = port

    async def full_quality(self, job: Job, route: str = "channel") -> str | None:
        """The link for a "Full quality" button on `job`'s clip posted by `route`, or None for no button."""
        return await self._link(files.clip_name(job.id), job.target, route, f"job {job.id}")

    async def full_quality_story(self, story: Story, route: str = "channel") -> str | None:
        """The link for a "Full quality" button on `story`'s joined clip posted by `route`, or None."""
        return await self._link(files.story_name(story.id), story.target, route, f"story {story.id}")

    async def _link(self, name: str, target: Target, route: str, label: str) -> str | None:
        if target.get("private") or target.get("was_private") or route not in PUBLIC_ROUTES:
            return None
        try:
            url = await self._url(name)
        except StorageUnavailable as exc:
            log.warning("%s: no full-quality link: %s", label, exc)
            return None
        if url is None:
            return None
        if len(url) > MAX_BUTTON_URL or not url.startswith(("http://", "https://")):
            log.info(
                "%s: no full-quality link: Discord takes an http(s) button link of at most %d characters, "
                "this one has %d",
                label,
                MAX_BUTTON_URL,
                len(url),
            )
            return None
        return url

    async def _url(self, name: str) -> str | None:
        if self.signer is not None:
            return self._signed(self.signer, name)
        if self._public_base:
            return f"{self._public_base}/{quote(name)}"
        return await self.storage.presign(name, self.seconds)

    def _signed(self, signer: LinkSigner, name: str) -> str | None:
        base = self._public_base or self._own_address()
        if base is None:
            return None
        expires = int(time.time() + self.seconds)
        return f"{base}/clips/{quote(name)}?{signer.query(name, expires)}"

    def _own_address(self) -> str | None:
        """http://HTTP_HOST:port, when that names one address people can reach."""
        if self.port is None:
            return None
        if self._host in _WILDCARD_HOSTS:
            if not self._warned:
                self._warned = True
                log.warning(
                    "no full-quality links: HTTP_HOST=%s listens on every address but names none; set "
                    "PUBLIC_CLIP_BASE_URL to the address people reach the bot's clip server at",
                    self._host or "(empty)",
                )
            return None
        host = f"[{self._host}]" if ":" in self._host and not self._host.startswith("[") else self._host
        return f"http://{host}:{self.port}"
