"""The dashboard's links to a page's sub-resources: an approvals page's thumbnails (`image`) and a job page's
clip (`clip`), each signed for one kind, one member, one server's job and an expiry, with a key derived from
DASHBOARD_SECRET.

Why a signed link and not the pages' access check: that check asks Discord (2 REST calls) and spends one of
the member's lookups a minute, so a page of 25 thumbnails, or a video's every seek, would spend the budget
the member's next page and form need. The page that signs a link checked the member's standing with Discord
moments before; the link's route checks only that the member's session is live and theirs, the signature,
the expiry and what the database says of the job. So a role taken away stops new pages at once and these
links within their few minutes (SECONDS).

Not bot.storage.links.LinkSigner: that signs a file name for the bot's public clip server, with a key derived
from the Discord token; a dashboard link also names who may use it and is checked against their session (a
leaked link plays for nobody else)."""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Literal

Kind = Literal["image", "clip"]
# How long a link works: a thumbnail loads with its page; a video seeks for as long as it is watched.
SECONDS: dict[Kind, int] = {"image": 5 * 60, "clip": 15 * 60}

_CONTEXT = b"sora-bot dashboard media links"  # what the key is derived for: it signs nothing else
_SIGNATURE = re.compile(r"[0-9a-f]{64}")
_EXPIRES = re.compile(r"[0-9]{1,12}")


class MediaLinks:
    """Signs and checks the links (HMAC-SHA256); the kind is signed, so a thumbnail's link opens no clip."""

    def __init__(self, secret: str) -> None:
        self._key = hmac.new(secret.encode(), _CONTEXT, hashlib.sha256).digest()

    def __repr__(self) -> str:
        return "MediaLinks()"

    def signature(self, kind: Kind, *, user_id: int, guild_id: int, job_id: int, expires: int) -> str:
        message = f"{kind}\n{user_id}\n{guild_id}\n{job_id}\n{expires}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def query(self, kind: Kind, *, user_id: int, guild_id: int, job_id: int, expires: int) -> str:
        """The query string of a link that works for this member until `expires` (unix seconds)."""
        signature = self.signature(kind, user_id=user_id, guild_id=guild_id, job_id=job_id, expires=expires)
        return f"expires={expires}&signature={signature}"

    def verify(
        self,
        kind: Kind,
        *,
        user_id: int,
        guild_id: int,
        job_id: int,
        expires: str,
        signature: str,
        now: float,
    ) -> bool:
        """Whether `expires` and `signature` sign a link of this kind for exactly this member and job, and it
        has not expired."""
        if not _EXPIRES.fullmatch(expires) or not _SIGNATURE.fullmatch(signature):
            return False
        expected = self.signature(
            kind, user_id=user_id, guild_id=guild_id, job_id=job_id, expires=int(expires)
        )
        return hmac.compare_digest(expected, signature) and int(expires) >= now
