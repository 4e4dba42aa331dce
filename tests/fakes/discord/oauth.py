"""OAuth2 authorization code grant ("Login with Discord"): authorize, token, and `/users/@me` with a bearer.

`GET /oauth2/authorize` skips the consent page: it answers as if `oauth_user_id` (chosen by the test) clicked
Authorize, redirecting to the `redirect_uri` with a one-time code and the `state` it was given. The token
endpoint refuses what Discord refuses: an unknown client or a wrong secret (401 invalid_client), a code used
before, unknown or issued for another client or redirect_uri (400 invalid_grant), an unregistered
redirect_uri at authorize (400), a scope Discord does not have (400 at authorize), an authorization code
older than ten minutes, and an access token past its `expires_in` (401 at `/users/@me`).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode

from tests.fakes.discord.core import DiscordCore
from tests.fakes.discord.records import _Answer, _Call, _error

ACCESS_TOKEN_SECONDS = 604800  # Discord's: a week
CODE_SECONDS = 600  # an authorization code is exchanged within ten minutes or not at all
# Discord's OAuth2 scopes (developer docs, "OAuth2 Scopes"); anything else is refused at authorize.
SCOPES = frozenset(
    [
        "activities.read",
        "activities.write",
        "applications.builds.read",
        "applications.builds.upload",
        "applications.commands",
        "applications.commands.permissions.update",
        "applications.commands.update",
        "applications.entitlements",
        "applications.store.update",
        "bot",
        "connections",
        "dm_channels.read",
        "email",
        "gdm.join",
        "guilds",
        "guilds.join",
        "guilds.members.read",
        "identify",
        "messages.read",
        "openid",
        "relationships.read",
        "role_connections.write",
        "rpc",
        "rpc.activities.write",
        "rpc.notifications.read",
        "rpc.voice.read",
        "rpc.voice.write",
        "voice",
        "webhook.incoming",
    ]
)


@dataclass(frozen=True)
class _Grant:
    user_id: int
    client_id: str
    redirect_uri: str
    scopes: frozenset[str]
    issued_at: float = field(default_factory=time.time)


def _oauth_error(status: int, error: str, description: str) -> _Answer:
    return _Answer(status, {"error": error, "error_description": description})


class OAuthMixin(DiscordCore):
    """The application's OAuth2 client (`oauth_client_id`, `oauth_client_secret`, `oauth_redirect_uris`)
    and the grants and tokens it issued."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.oauth_client_secret = "discord-test-client-secret"
        self.oauth_redirect_uris: list[str] = []  # as registered in the developer portal
        self.oauth_user_id: int | None = None  # who "clicks Authorize" at the next /oauth2/authorize
        self._grants: dict[str, _Grant] = {}  # by code, each used once
        self._tokens: dict[str, _Grant] = {}  # by access token
        self.oauth_token_seconds: float = ACCESS_TOKEN_SECONDS  # a test may shorten a token's life

    @property
    def oauth_client_id(self) -> str:
        return str(self.app_id)

    async def _authorize(self, call: _Call) -> _Answer:
        query = call.rec.query
        redirect_uri = query.get("redirect_uri", "")
        if query.get("client_id") != self.oauth_client_id:
            return _error(400, 0, "Unknown application")
        if redirect_uri not in self.oauth_redirect_uris:
            return _error(400, 0, "Invalid OAuth2 redirect_uri")
        scopes = frozenset(query.get("scope", "").split())
        if query.get("response_type") != "code" or not scopes:
            return _error(400, 0, "Invalid form body")
        if not scopes <= SCOPES:
            return _error(400, 0, "Invalid OAuth2 scope")
        if self.oauth_user_id is None:
            raise AssertionError("set fake.oauth_user_id: who logs in")
        code = secrets.token_urlsafe(16)
        self._grants[code] = _Grant(self.oauth_user_id, self.oauth_client_id, redirect_uri, scopes)
        back = {"code": code, **({"state": query["state"]} if "state" in query else {})}
        return _Answer(
            302, raw=b"", content_type="text/plain", headers={"Location": f"{redirect_uri}?{urlencode(back)}"}
        )

    async def _token(self, call: _Call) -> _Answer:
        form = {k: v[0] for k, v in parse_qs(call.body if isinstance(call.body, str) else "").items()}
        if form.get("client_id") != self.oauth_client_id or not secrets.compare_digest(
            form.get("client_secret", ""), self.oauth_client_secret
        ):
            return _oauth_error(401, "invalid_client", "Invalid client")
        if form.get("grant_type") != "authorization_code":
            return _oauth_error(400, "unsupported_grant_type", "Unsupported grant type")
        grant = self._grants.pop(form.get("code", ""), None)  # a code works once, even when refused
        if (
            grant is None
            or grant.client_id != form["client_id"]
            or time.time() - grant.issued_at > CODE_SECONDS
        ):
            return _oauth_error(400, "invalid_grant", 'Invalid "code" in request.')
        if form.get("redirect_uri") != grant.redirect_uri:
            return _oauth_error(400, "invalid_grant", 'Invalid "redirect_uri" in request.')
        token = secrets.token_urlsafe(24)
        self._tokens[token] = _Grant(grant.user_id, grant.client_id, grant.redirect_uri, grant.scopes)

        data: dict[str, Any] = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": int(self.oauth_token_seconds),
            "refresh_token": secrets.token_urlsafe(24),
            "scope": " ".join(sorted(grant.scopes)),
        }
        return _Answer(200, data)

    def _bearer_user(self, authorization: str) -> dict[str, Any] | None:
        """`GET /users/@me` with an OAuth2 bearer token: its user (scope identify), else None (401)."""
        grant = self._tokens.get(authorization.removeprefix("Bearer "))
        if grant is None or "identify" not in grant.scopes:
            return None
        if time.time() - grant.issued_at >= self.oauth_token_seconds:
            return None
        return self.user_payload(grant.user_id)
