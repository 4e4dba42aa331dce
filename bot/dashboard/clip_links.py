"""The dashboard's clip links: a job page's `<video>` plays its clip through a URL signed for one member, one
server's job and an expiry, with a key derived from DASHBOARD_SECRET.

Not bot.storage.links.LinkSigner: that signs a file name for the bot's public clip server, with a key derived
from the Discord token; a dashboard link must also name who may use it, and is checked against that member's
session and current access as well (a leaked link plays for nobody else)."""

from __future__ import annotations

import hashlib
import hmac
import re

_CONTEXT = b"sora-bot dashboard clip links"  # what the key is derived for: it signs nothing else
_SIGNATURE = re.compile(r"[0-9a-f]{64}")
_EXPIRES = re.compile(r"[0-9]{1,12}")


class ClipSigner:
    """Signs and checks dashboard clip links (HMAC-SHA256)."""

    def __init__(self, secret: str) -> None:
        self._key = hmac.new(secret.encode(), _CONTEXT, hashlib.sha256).digest()

    def __repr__(self) -> str:
        return "ClipSigner()"

    def signature(self, *, user_id: int, guild_id: int, job_id: int, expires: int) -> str:
        message = f"{user_id}\n{guild_id}\n{job_id}\n{expires}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def query(self, *, user_id: int, guild_id: int, job_id: int, expires: int) -> str:
        """The query string of a clip link that works for this member until `expires` (unix seconds)."""
        signature = self.signature(user_id=user_id, guild_id=guild_id, job_id=job_id, expires=expires)
        return f"expires={expires}&signature={signature}"

    def verify(
        self, *, user_id: int, guild_id: int, job_id: int, expires: str, signature: str, now: float
    ) -> bool:
        """Whether `expires` and `signature` sign a link for exactly this member and job, not expired."""
        if not _EXPIRES.fullmatch(expires) or not _SIGNATURE.fullmatch(signature):
            return False
        expected = self.signature(user_id=user_id, guild_id=guild_id, job_id=job_id, expires=int(expires))
        return hmac.compare_digest(expected, signature) and int(expires) >= now
