"""The fake gateway: sessions per shard, IDENTIFY and RESUME, event dispatch, and the gateway REST routes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Mapping
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.discord.constants import GUILDS_INTENT, PRIVILEGED_INTENTS
from tests.fakes.discord.core import DiscordCore
from tests.fakes.discord.records import _Answer, _Call, _Conn, _Session
from tests.fakes.discord.world import shard_of

log = logging.getLogger(__name__)
_RESUMABLE_CLOSE = 4000  # "unknown error": discord.py reconnects and RESUMEs


class GatewayMixin(DiscordCore):
    """The gateway websocket and its sessions."""

    async def _closing(self) -> None:
        """Close gateway sockets (sessions stay, for a RESUME after a restart)."""
        for conn in list(self._conns):
            with contextlib.suppress(Exception):
                await conn.ws.close(code=1001, message=b"fake discord stopping")
        for session in self._sessions.values():
            session.conn = None

    async def dispatch(self, event: str, data: dict[str, Any], *, shard_id: int | None = None) -> int:
        """Send a DISPATCH (op 0) to the bot and return its ``s``.

        It goes to the shard owning ``data``'s guild (`shard_of`; shard 0 for DMs), or to ``shard_id``.
        While the socket is down (after `drop_gateway`) the event is kept and replayed on RESUME, like
        Discord does; without a session for that shard (it never IDENTIFYed) this raises.
        """
        await self.flush_pending_events()
        shard = shard_id if shard_id is not None else self._shard_for(event, data)
        session = self._sessions.get(shard)
        if session is None:
            which = f" for shard {shard}" if self._sessions else ""
            raise RuntimeError(f"cannot dispatch {event}: no gateway session{which} (is the bot connected?)")
        return await self._emit(session, event, data)

    async def flush_pending_events(self) -> None:
        """Send the events world changes queued (a CHANNEL_UPDATE after `set_overwrite`), in order, to the
        shards that have a session; before IDENTIFY the GUILD_CREATE carries the state instead."""
        events, self.pending_events[:] = list(self.pending_events), []
        for event, data in events:
            await self._emit_if(GUILDS_INTENT, event, data)

    @property
    def shard_count(self) -> int | None:
        """The shard count the bot's sessions IDENTIFYed with (None before any IDENTIFY)."""
        return next((s.shard[1] for s in self._sessions.values()), None)

    @property
    def live_shards(self) -> list[int]:
        """Ids of the shards with a session whose socket is up, in order."""
        return sorted(sid for sid, s in self._sessions.items() if s.conn is not None)

    def _shard_for(self, event: str, data: Mapping[str, Any]) -> int:
        guild_id = data.get("id") if event in ("GUILD_CREATE", "GUILD_UPDATE", "GUILD_DELETE") else None
        guild_id = data.get("guild_id") or guild_id
        count = self.shard_count
        return 0 if guild_id is None or count is None else shard_of(int(guild_id), count)

    def _session_for(self, event: str, data: Mapping[str, Any]) -> _Session | None:
        return self._sessions.get(self._shard_for(event, data))

    async def _emit(self, session: _Session, event: str, data: dict[str, Any]) -> int:
        async with self._gw_lock:
            session.seq += 1
            frame = json.dumps({"op": 0, "t": event, "s": session.seq, "d": data})
            session.history.append((session.seq, frame))
            if session.conn is not None:
                try:
                    await session.conn.ws.send_str(frame)
                except (ConnectionError, RuntimeError):
                    log.debug("gateway send of %s failed; kept for RESUME", event)
            return session.seq

    async def _emit_if(self, intent: int, event: str, data: dict[str, Any]) -> None:
        session = self._session_for(event, data)
        if session is not None and session.intents & intent:
            await self._emit(session, event, data)

    async def drop_gateway(
        self,
        *,
        resume: bool = True,
        reconnect_op: bool = False,
        wait: bool = True,
        timeout: float = 10.0,
        shard_id: int = 0,
    ) -> None:
        """Cut shard ``shard_id``'s gateway connection the way Discord does; the bot must come back.

        ``resume=True``: close with code 4000 (or send op 7 RECONNECT if ``reconnect_op``); the client
        RESUMEs, gets missed events replayed and RESUMED. ``resume=False``: op 9 INVALID_SESSION (d=false);
        the client IDENTIFYs again and gets READY + GUILD_CREATEs. ``wait`` returns once it is back.
        Until then `dispatch` raises (there is no session), and discord.py's default
        ``Client.before_identify_hook`` sleeps 5 s before that second IDENTIFY: override it in test bots.
        """
        session = self._sessions.get(shard_id)
        conn = session.conn if session is not None else None
        if session is None or conn is None:
            raise RuntimeError(f"no gateway connection of shard {shard_id} to drop")
        before = (self.resume_count, self.identify_count)
        async with self._gw_lock:
            session.conn = None
            if not resume:
                del self._sessions[shard_id]
                await conn.ws.send_str(json.dumps({"op": 9, "d": False, "s": None, "t": None}))
            elif reconnect_op:
                await conn.ws.send_str(json.dumps({"op": 7, "d": None, "s": None, "t": None}))
            else:
                await conn.ws.close(code=_RESUMABLE_CLOSE, message=b"fake drop")
        if not wait:
            return

        def back() -> bool:
            return self.resume_count > before[0] if resume else self.identify_count > before[1]

        async with self._cond:
            try:
                async with asyncio.timeout(timeout):
                    while not back():
                        self._check_watched()
                        await self._cond.wait()
            except TimeoutError:
                raise AssertionError("the bot did not come back to the gateway") from None

    async def wait_for_gateway(self, *, identify_count: int = 1, timeout: float = 10.0) -> None:
        """Wait until the bot IDENTIFYed ``identify_count`` times (READY and GUILD_CREATEs sent)."""
        async with self._cond:
            async with asyncio.timeout(timeout):
                while self.identify_count < identify_count:
                    self._check_watched()
                    await self._cond.wait()

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        conn = _Conn(ws, dict(request.query))
        self._conns.add(conn)
        self.gateway_connections += 1
        try:
            await ws.send_str(
                json.dumps(
                    {"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval_ms}, "s": None, "t": None}
                )
            )
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    await self._on_gateway_frame(conn, json.loads(msg.data))
                elif msg.type is WSMsgType.BINARY:
                    await ws.close(code=4002, message=b"Error while decoding payload.")
                elif msg.type is WSMsgType.ERROR:
                    break
        finally:
            self._conns.discard(conn)
            for session in self._sessions.values():
                if session.conn is conn:
                    session.conn = None
        return ws

    async def _on_gateway_frame(self, conn: _Conn, frame: dict[str, Any]) -> None:
        op = frame.get("op")
        data = frame.get("d")
        if op == 1:
            await conn.ws.send_str(json.dumps({"op": 11, "d": None, "s": None, "t": None}))
        elif op == 2:
            await self._identify(conn, data or {})
        elif op == 6:
            await self._resume(conn, data or {})
        elif op == 8:
            await self._members_chunk(conn, data or {})
        elif op in (3, 4):
            pass  # presence and voice state updates: nothing to model
        else:
            await conn.ws.close(code=4001, message=b"Unknown opcode.")

    async def _identify(self, conn: _Conn, data: dict[str, Any]) -> None:
        if data.get("token") != self.bot_token:
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        intents = int(data.get("intents", 0))
        if intents & PRIVILEGED_INTENTS & ~self.privileged_intents:
            await conn.ws.close(code=4014, message=b"Disallowed intent(s).")
            return
        shard = data.get("shard", [0, 1])
        if not (
            isinstance(shard, list)
            and len(shard) == 2
            and all(isinstance(n, int) and not isinstance(n, bool) for n in shard)
            and 0 <= shard[0] < shard[1]
        ):
            await conn.ws.close(code=4010, message=b"Invalid shard.")
            return
        shard_id, count = shard
        session = _Session(f"fake-session-{next(self._session_ids)}", intents, [shard_id, count], conn=conn)
        async with self._gw_lock:
            if self.shard_count != count:
                self._sessions.clear()  # another shard count: the sessions of the old one are gone
            self._sessions[shard_id] = session  # replaces an earlier session of this shard
        self.identify_count += 1
        self.identified_shards.append((shard_id, count))
        guilds = [g for g in self.guilds.values() if shard_of(g.id, count) == shard_id]
        ready = {
            "v": 10,
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": self.gateway_url,
            "user": {**self.bot_user, "verified": True, "mfa_enabled": False, "flags": 0},
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "application": {"id": str(self.app_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "shard": session.shard,
        }
        await self._emit(session, "READY", ready)
        for guild in guilds:
            await self._emit(session, "GUILD_CREATE", guild.gateway_payload())
        await self._notify()

    async def _resume(self, conn: _Conn, data: dict[str, Any]) -> None:
        session = next((s for s in self._sessions.values() if s.id == data.get("session_id")), None)
        if session is None or data.get("token") != self.bot_token:
            await conn.ws.send_str(json.dumps({"op": 9, "d": False, "s": None, "t": None}))
            return
        seen = int(data.get("seq") or 0)
        async with self._gw_lock:
            for s, frame in session.history:
                if s > seen:
                    await conn.ws.send_str(frame)
            session.conn = conn
        # `d` must be a dict: discord.py stores `__shard_id__` in it (null crashes bot.start()).
        await self._emit(session, "RESUMED", {})
        self.resume_count += 1
        await self._notify()

    async def _members_chunk(self, conn: _Conn, data: dict[str, Any]) -> None:
        guild = self.guilds.get(int(data.get("guild_id", 0)))
        session = next((s for s in self._sessions.values() if s.conn is conn), None)
        if guild is None or session is None:
            return
        chunk = {
            "guild_id": str(guild.id),
            "members": [guild.member_payload(uid) for uid in guild.members],
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
        }
        if data.get("nonce") is not None:
            chunk["nonce"] = data["nonce"]
        await self._emit(session, "GUILD_MEMBERS_CHUNK", chunk)

    async def _get_gateway_bot(self, call: _Call) -> _Answer:
        limit = {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}
        return _Answer(
            200,
            {
                "url": self.gateway_url.rstrip("/"),
                "shards": self.recommended_shards,
                "session_start_limit": limit,
            },
        )

    async def _get_gateway(self, call: _Call) -> _Answer:
        return _Answer(200, {"url": self.gateway_url.rstrip("/")})
