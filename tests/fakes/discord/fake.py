"""`FakeDiscord`: the parts together, plus routing, authorization, faults and recording of REST calls."""

from __future__ import annotations

import asyncio
import copy
import json
import re
from collections.abc import Awaitable, Callable
from functools import cached_property
from typing import Any

from aiohttp import BodyPartReader, web

from tests.fakes.discord.callbacks import CallbacksMixin
from tests.fakes.discord.channels import ChannelsMixin
from tests.fakes.discord.constants import (
    API_PREFIX,
    CHANNEL_MESSAGES_POST,
    FOLLOWUP_POST,
    INTERACTION_CALLBACK,
    MIB,
    ROUTES,
    WEBHOOK_MESSAGE,
)
from tests.fakes.discord.gateway import GatewayMixin
from tests.fakes.discord.guilds import GuildsMixin
from tests.fakes.discord.oauth import OAuthMixin
from tests.fakes.discord.records import RecordedRequest, Upload, _Answer, _Call, _error, _Refusal
from tests.fakes.discord.refusals import RefusalsMixin

# Routes that need `Authorization: Bot <token>`; interaction callbacks/webhooks and the CDN carry none.
_TOKENLESS_PREFIXES: tuple[str, ...] = (
    "POST /interactions/",
    "POST /webhooks/",
    "GET /webhooks/",
    "PATCH /webhooks/",
    "DELETE /webhooks/",
    "GET /cdn/",
    "GET /oauth2/authorize",  # the browser's, then the client's id and secret in the form
    "POST /oauth2/token",
)


# -- helpers ----------------------------------------------------------------------------------------------


async def _read_body(request: web.Request) -> tuple[Any, list[Upload]]:
    """JSON body, or multipart ``payload_json`` plus its ``files[n]`` parts."""
    if request.content_type == "multipart/form-data":
        payload: Any = None
        uploads: list[Upload] = []
        reader = await request.multipart()
        while True:
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, BodyPartReader):
                continue
            data = bytes(await part.read(decode=False))
            if part.filename is not None:
                uploads.append(Upload(part.name or "", part.filename, data, part.headers.get("Content-Type")))
            elif part.name == "payload_json":
                payload = json.loads(data)
        return payload, uploads
    raw = await request.read()
    if not raw:
        return None, []
    try:
        return json.loads(raw), []
    except ValueError:
        return raw.decode(errors="replace"), []


def _to_response(answer: _Answer) -> web.Response:
    if answer.status == 204:
        return web.Response(status=204, headers=answer.headers)
    if answer.raw is not None:
        # A content type with parameters ("text/plain; charset=utf-8") goes in the header as it is:
        # aiohttp's content_type argument refuses parameters.
        headers = {**answer.headers, "Content-Type": answer.content_type or "application/octet-stream"}
        return web.Response(status=answer.status, body=answer.raw, headers=headers)
    # Exactly `application/json`: discord.py compares the header verbatim (`json_response` adds a charset).
    return web.Response(
        status=answer.status,
        body=json.dumps(answer.data).encode(),
        content_type="application/json",
        headers=answer.headers,
    )


class FakeDiscord(RefusalsMixin, CallbacksMixin, ChannelsMixin, GuildsMixin, GatewayMixin, OAuthMixin):
    """The fake Discord. Knobs are plain attributes and may be changed while it runs."""

    # Large uploads must reach the handler: 413s are the fake's decision, not aiohttp's.
    max_request_bytes = 200 * MIB

    def _add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/gateway/", self._gateway)
        router.add_get("/gateway", self._gateway)
        router.add_route("*", "/{tail:.*}", self._handle)

    def _listening(self, origin: str) -> str:
        """Set ``base_url``, ``api_base`` and ``gateway_url``."""
        self.api_base = f"{origin}{API_PREFIX}"
        self.gateway_url = f"{origin.replace('http://', 'ws://', 1)}/gateway/"
        return super()._listening(origin)

    # -- REST plumbing -------------------------------------------------------------------------------

    @cached_property
    def _routes(self) -> list[tuple[str, re.Pattern[str], Callable[[_Call], Awaitable[_Answer]]]]:
        """Each route template with its pattern and handler, in `ROUTES` order."""
        handlers: dict[str, Callable[[_Call], Awaitable[_Answer]]] = {
            "GET /users/@me": self._get_me,
            "GET /users/@me/guilds": self._get_my_guilds,
            "POST /users/@me/channels": self._create_dm,
            "GET /users/{user_id}": self._get_user,
            "GET /oauth2/applications/@me": self._get_application,
            "GET /oauth2/authorize": self._authorize,
            "POST /oauth2/token": self._token,
            "GET /gateway/bot": self._get_gateway_bot,
            "GET /gateway": self._get_gateway,
            "PUT /applications/{application_id}/commands": self._put_commands,
            "GET /applications/{application_id}/commands": self._get_commands,
            "PUT /applications/{application_id}/guilds/{guild_id}/commands": self._put_commands,
            "GET /applications/{application_id}/guilds/{guild_id}/commands": self._get_commands,
            INTERACTION_CALLBACK: self._callback,
            FOLLOWUP_POST: self._followup,
            "GET " + WEBHOOK_MESSAGE: self._get_webhook_message,
            "PATCH " + WEBHOOK_MESSAGE: self._edit_webhook_message,
            "DELETE " + WEBHOOK_MESSAGE: self._delete_webhook_message,
            "GET /channels/{channel_id}": self._get_channel,
            "POST /channels/{channel_id}/typing": self._typing,
            "GET /channels/{channel_id}/messages": self._history,
            CHANNEL_MESSAGES_POST: self._post_message,
            "GET /channels/{channel_id}/messages/{message_id}": self._get_message,
            "PATCH /channels/{channel_id}/messages/{message_id}": self._edit_message,
            "DELETE /channels/{channel_id}/messages/{message_id}": self._delete_message,
            "GET /guilds/{guild_id}": self._get_guild,
            "GET /guilds/{guild_id}/channels": self._get_guild_channels,
            "GET /guilds/{guild_id}/roles": self._get_guild_roles,
            "GET /guilds/{guild_id}/members/{user_id}": self._get_member,
            "GET /cdn/{attachment_id}/{filename}": self._cdn_get,
        }
        assert set(handlers) == set(ROUTES)
        table = []
        for template in ROUTES:  # order matters: "/users/@me" before "/users/{user_id}"
            method, path = template.split(" ", 1)
            pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(path))
            table.append((template, re.compile(f"{method} {pattern}"), handlers[template]))
        return table

    def _match(self, method: str, path: str) -> tuple[str | None, dict[str, str], Any]:
        probe = f"{method} {path}"
        for template, pattern, handler in self._routes:
            found = pattern.fullmatch(probe)
            if found is not None:
                return template, found.groupdict(), handler
        return None, {}, None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path.startswith(API_PREFIX + "/"):
            path = path[len(API_PREFIX) :]
        elif not path.startswith("/cdn/"):
            path = request.path  # outside the API: only the catch-all answers
        route, params, handler = self._match(request.method, path)
        body, uploads = await _read_body(request)
        rec = RecordedRequest(
            method=request.method,
            path=path,
            route=route,
            params=params,
            query=dict(request.query),
            headers={k.lower(): v for k, v in request.headers.items()},
            json=body,
            files=[(u.field, u.filename, u.data) for u in uploads],
        )
        self.requests.append(rec)
        answer = await self._answer(request, rec, handler, body, uploads)
        rec.status = answer.status
        rec.response = copy.deepcopy(answer.data) if answer.raw is None else None
        if rec.refused:
            rec.expected = next((e for e in self.expected_refusals if e.matches(rec)), None)
            if rec.expected is not None:
                rec.expected.hits += 1
        await self._notify()
        return _to_response(answer)

    async def _answer(
        self,
        request: web.Request,
        rec: RecordedRequest,
        handler: Callable[[_Call], Awaitable[_Answer]] | None,
        body: Any,
        uploads: list[Upload],
    ) -> _Answer:
        if handler is None:
            return _error(404, 0, "Unknown route")
        needs_token = not any(f"{rec.method} {rec.path}".startswith(p) for p in _TOKENLESS_PREFIXES)
        authorization = rec.headers.get("authorization", "")
        if rec.route == "GET /users/@me" and authorization.startswith("Bearer "):
            user = self._bearer_user(authorization)  # a member's OAuth2 token, not the bot's
            return _Answer(200, user) if user is not None else _error(401, 0, "401: Unauthorized")
        if needs_token and rec.headers.get("authorization") != f"Bot {self.bot_token}":
            return _error(401, 0, "401: Unauthorized")
        fault = self._take_fault(rec)
        if fault is not None:
            rec.fault = fault
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if not fault.after_work:
                return self._fault_answer(fault)
        try:
            answer = await handler(_Call(request, rec, rec.params, body, uploads))
        except _Refusal as refusal:
            answer = refusal.answer
        if fault is not None:
            return self._fault_answer(fault)
        return answer
