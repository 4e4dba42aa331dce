"""Channel messages: creating, editing and deleting them, mentions, uploads and the CDN files behind them."""

from __future__ import annotations

import copy
import io
import json
import mimetypes
import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from tests.fakes.discord.components import _message_problems
from tests.fakes.discord.constants import (
    _SENDABLE_FLAGS,
    DM_MESSAGES_INTENT,
    EPHEMERAL,
    GUILD_MESSAGES_INTENT,
    IS_COMPONENTS_V2,
    LOADING,
    MAX_FILES,
    MAX_REQUEST_BYTES,
    MENTION_EVERYONE,
    SUPPRESS_EMBEDS,
)
from tests.fakes.discord.gateway import GatewayMixin
from tests.fakes.discord.records import (
    CdnFile,
    Interaction,
    Upload,
    _Answer,
    _Call,
    _form_error,
    _int,
    _refuse,
)
from tests.fakes.discord.world import _now_iso

_USER_MENTION = re.compile(r"<@!?(\d+)>")
_ROLE_MENTION = re.compile(r"<@&(\d+)>")
_EVERYONE_MENTION = re.compile(r"@(everyone|here)")


def sanitize_filename(name: str) -> str:
    """Discord's take on an uploaded file name: no folders, ``_`` for whitespace, odd characters dropped."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = unicodedata.normalize("NFC", name)
    name = re.sub(r"\s+", "_", name)
    name = re.sub(r"[^\w.\-]", "", name)
    return name or "unknown"


def guess_content_type(filename: str) -> str | None:
    """What Discord reports as an attachment's ``content_type`` (it sniffs; the extension is close enough)."""
    guessed, _ = mimetypes.guess_type(filename)
    if guessed is None:
        return None
    return f"{guessed}; charset=utf-8" if guessed.startswith("text/") else guessed


def request_limit(file_limit: int) -> int:
    """The most a whole upload request may carry on a route whose per-file limit is ``file_limit``.

    Discord's docs cap a message request at 25 MiB, a rule from when every upload limit was 25 MiB;
    boosted servers (50/100 MiB) and Nitro members (500 MiB, interaction routes) do get single files
    above it. So the fake caps the sum at 25 MiB where the per-file limit is lower (three 9 MiB files
    in an unboosted server are refused), and at the per-file limit where that is higher.
    """
    return max(MAX_REQUEST_BYTES, file_limit)


def _request_bytes(call: _Call) -> int:
    """The size of an upload request: its files plus its JSON payload."""
    payload = len(json.dumps(call.body).encode()) if call.body is not None else 0
    return payload + sum(len(u.data) for u in call.uploads)


def _upload_index(upload: Upload, position: int) -> int:
    found = re.fullmatch(r"files\[(\d+)\]", upload.field)
    return int(found.group(1)) if found else position


def _image_size(data: bytes) -> tuple[int, int] | None:
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as img:
            return img.size
    except Exception:
        return None


def _has_visible_content(body: Mapping[str, Any]) -> bool:
    return bool(
        body.get("content")
        or body.get("embeds")
        or body.get("components")
        or body.get("sticker_ids")
        or body.get("poll")
    )


def _normalize_embeds(embeds: Any) -> list[dict[str, Any]]:
    return [{"type": "rich", **e} for e in embeds or [] if isinstance(e, dict)]


class MessagesMixin(GatewayMixin):
    """Creating, editing, deleting and echoing messages."""

    def _check_uploads(self, call: _Call, limit: int) -> None:
        """10 files at most; each within the route's per-file ``limit``; the request within
        `request_limit` of it (413 / 40005, like Discord)."""
        uploads = call.uploads
        if len(uploads) > MAX_FILES and self.validate_payloads:
            raise _form_error({"files": f"Must be {MAX_FILES} or fewer in length."})
        if not self.upload_limit_enforced or not uploads:
            return
        if any(len(u.data) > limit for u in uploads):
            raise _refuse(413, 40005)
        if _request_bytes(call) > request_limit(limit):
            raise _refuse(413, 40005)

    def _store_attachment(
        self,
        filename: str,
        data: bytes,
        *,
        content_type: str | None = None,
        description: str | None = None,
        ephemeral: bool = False,
    ) -> dict[str, Any]:
        att_id = self.snowflake()
        name = sanitize_filename(filename)
        ctype = content_type or guess_content_type(name)
        stored = CdnFile(att_id, name, ctype, data)
        if self.cdn_dir is not None:
            stored.path = self.cdn_dir / str(att_id) / name
            stored.path.parent.mkdir(parents=True, exist_ok=True)
            stored.path.write_bytes(data)
        self.cdn[att_id] = stored
        url = f"{self.base_url}/cdn/{att_id}/{quote(name)}"
        att: dict[str, Any] = {
            "id": str(att_id),
            "filename": name,
            "size": len(data),
            "url": url,
            "proxy_url": url,
            "content_type": ctype,  # None when the extension says nothing (discord.py reads it with .get)
            "flags": 0,
        }
        if description is not None:
            att["description"] = description
        if ephemeral:
            att["ephemeral"] = True
        size = _image_size(data) if ctype and ctype.startswith("image/") else None
        if size is not None:
            att["width"], att["height"] = size
        return att

    def _new_attachments(
        self, declared: Any, uploads: list[Upload], existing: Sequence[dict[str, Any]], *, ephemeral: bool
    ) -> list[dict[str, Any]]:
        """Resolve a body's ``attachments``: kept existing ones (by id) plus every uploaded file.

        discord.py declares new files as ``{"id": <index of files[n]>, "filename", "description"?}``.
        """
        by_id = {a["id"]: a for a in existing}
        by_index = {_upload_index(u, i): u for i, u in enumerate(uploads)}
        kept: list[dict[str, Any]] = []
        described: dict[int, dict[str, Any]] = {}
        for item in declared if isinstance(declared, list) else []:
            ref = str(item.get("id"))
            if ref in by_id:
                kept.append(by_id[ref])
            elif ref.isdigit() and int(ref) in by_index:
                described[int(ref)] = item
        created = []
        for index, upload in by_index.items():
            info = described.get(index, {})
            created.append(
                self._store_attachment(
                    info.get("filename") or upload.filename,
                    upload.data,
                    description=info.get("description"),
                    ephemeral=ephemeral,
                )
            )
        return kept + created

    def _base_message(
        self, message_id: int, channel_id: int, guild_id: int | None, *, author: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            "id": str(message_id),
            "type": 0,
            "channel_id": str(channel_id),
            "guild_id": str(guild_id) if guild_id is not None else None,
            "author": author,
            "content": "",
            "timestamp": _now_iso(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": [],
            "components": [],
            "pinned": False,
            "flags": 0,
            "allowed_mentions": None,
            "deleted": False,
        }

    def _create_message(
        self,
        channel_id: int,
        body: dict[str, Any],
        uploads: list[Upload],
        *,
        flags: int,
        interaction: Interaction | None = None,
        allow_empty: bool = False,
    ) -> dict[str, Any]:
        flags = (flags & _SENDABLE_FLAGS) | (flags & LOADING)
        if interaction is None:
            flags &= ~EPHEMERAL  # only interaction responses can be ephemeral
        if self.validate_payloads:
            problems = _message_problems(body, flags)
            if problems:
                raise _form_error(problems)
            if not allow_empty and not (_has_visible_content(body) or uploads):
                raise _refuse(400, 50006)
        guild = self.guild_of_channel(channel_id)
        reference = body.get("message_reference")
        referenced = None
        if isinstance(reference, dict) and reference.get("message_id") is not None:
            referenced = self.messages.get(_int(str(reference["message_id"])))
            if (referenced is None or referenced["deleted"]) and reference.get("fail_if_not_exists", True):
                raise _form_error({"message_reference": "Unknown message"})
        mid = self.snowflake()
        msg = self._base_message(mid, channel_id, guild.id if guild else None, author=self.bot_user)
        msg["content"] = body.get("content") or ""
        msg["tts"] = bool(body.get("tts"))
        msg["embeds"] = _normalize_embeds(body.get("embeds"))
        msg["components"] = list(body.get("components") or [])
        msg["flags"] = flags
        msg["allowed_mentions"] = body.get("allowed_mentions")
        msg["attachments"] = self._new_attachments(
            body.get("attachments"), uploads, [], ephemeral=bool(flags & EPHEMERAL)
        )
        if referenced is not None and isinstance(reference, dict):
            msg["type"] = 19
            msg["message_reference"] = {
                "type": 0,
                "message_id": referenced["id"],
                "channel_id": referenced["channel_id"],
                "guild_id": referenced["guild_id"],
            }
            msg["referenced_message"] = self._public(referenced)
        if interaction is not None:
            msg["type"] = 20 if interaction.type == 2 else 0
            msg["webhook_id"] = str(self.app_id)
            msg["application_id"] = str(self.app_id)
            msg["interaction_metadata"] = {
                "id": str(interaction.id),
                "type": interaction.type,
                "user": self.user_payload(interaction.user_id),
                "authorizing_integration_owners": interaction.payload.get(
                    "authorizing_integration_owners", {}
                ),
            }
            self._message_tokens[mid] = interaction.token
        self._compute_mentions(msg)
        self.messages[mid] = msg
        return msg

    def _apply_edit(
        self,
        msg: dict[str, Any],
        body: dict[str, Any],
        uploads: list[Upload],
        *,
        validate_empty: bool = False,
    ) -> None:
        flags = msg["flags"]
        if "flags" in body and body["flags"] is not None:
            # Only SUPPRESS_EMBEDS can be toggled; IS_COMPONENTS_V2 can be set but never unset.
            flags = (flags & ~SUPPRESS_EMBEDS) | (int(body["flags"]) & (SUPPRESS_EMBEDS | IS_COMPONENTS_V2))
        if self.validate_payloads:
            problems = _message_problems(body, flags)
            if problems:
                raise _form_error(problems)
        updated = dict(msg)
        if "content" in body:
            updated["content"] = body["content"] or ""
        if "embeds" in body:
            updated["embeds"] = _normalize_embeds(body["embeds"])
        if "components" in body:
            updated["components"] = list(body["components"] or [])
        if "allowed_mentions" in body:
            updated["allowed_mentions"] = body["allowed_mentions"]
        if "attachments" in body or uploads:
            declared = (
                body["attachments"]
                if "attachments" in body
                else [{"id": a["id"]} for a in msg["attachments"]]
            )
            updated["attachments"] = self._new_attachments(
                declared, uploads, msg["attachments"], ephemeral=bool(flags & EPHEMERAL)
            )
        updated["flags"] = flags & ~LOADING  # any edit resolves a deferred "thinking" message
        if (
            validate_empty
            and self.validate_payloads
            and not (_has_visible_content(updated) or updated["attachments"])
        ):
            raise _refuse(400, 50006)
        updated["edited_timestamp"] = _now_iso()
        msg.update(updated)
        self._compute_mentions(msg)

    async def _edited(self, call: _Call, msg: dict[str, Any], file_limit: int) -> _Answer:
        """Apply an edit request (PATCH of a channel or webhook message) and answer it."""
        self._check_uploads(call, file_limit)
        self._apply_edit(
            msg, call.body if isinstance(call.body, dict) else {}, call.uploads, validate_empty=True
        )
        await self._echo_message(msg, "MESSAGE_UPDATE")
        return _Answer(200, self._public(msg))

    def _compute_mentions(self, msg: dict[str, Any]) -> None:
        """The pings Discord derives from content, ``allowed_mentions`` and MENTION_EVERYONE."""
        allowed = msg.get("allowed_mentions")
        # Discord's defaults: a regular message parses every mention; interaction responses and webhook
        # messages parse user mentions only.
        default = {"users"} if msg.get("webhook_id") else {"users", "roles", "everyone"}
        parse = set(allowed.get("parse") or []) if isinstance(allowed, dict) else default
        users = {str(u) for u in allowed.get("users", [])} if isinstance(allowed, dict) else set()
        roles = {str(r) for r in allowed.get("roles", [])} if isinstance(allowed, dict) else set()
        content = msg["content"]
        guild = self.guilds.get(int(msg["guild_id"])) if msg.get("guild_id") else None
        may_everyone = guild is not None and bool(
            self.bot_permissions_in(int(msg["channel_id"])) & MENTION_EVERYONE
        )
        pinged_users = [
            uid for uid in dict.fromkeys(_USER_MENTION.findall(content)) if "users" in parse or uid in users
        ]
        msg["mentions"] = [self.user_payload(int(uid)) for uid in pinged_users]
        pinged_roles = []
        for rid in dict.fromkeys(_ROLE_MENTION.findall(content)):
            role = guild.roles.get(int(rid)) if guild else None
            if role is not None and ("roles" in parse or rid in roles) and (role.mentionable or may_everyone):
                pinged_roles.append(rid)
        msg["mention_roles"] = pinged_roles
        msg["mention_everyone"] = (
            bool(_EVERYONE_MENTION.search(content)) and "everyone" in parse and may_everyone
        )

    async def _delete(self, msg: dict[str, Any]) -> None:
        msg["deleted"] = True
        if msg["flags"] & EPHEMERAL:
            return
        event = {"id": msg["id"], "channel_id": msg["channel_id"]}
        if msg.get("guild_id"):
            event["guild_id"] = msg["guild_id"]
        await self._emit_if(self._intent_for(msg), "MESSAGE_DELETE", event)

    def _intent_for(self, msg: dict[str, Any]) -> int:
        return GUILD_MESSAGES_INTENT if msg.get("guild_id") else DM_MESSAGES_INTENT

    async def _echo_message(self, msg: dict[str, Any], event: str) -> None:
        if msg["flags"] & EPHEMERAL:
            return  # Discord never sends ephemeral messages over the gateway
        data = self._public(msg)
        if msg.get("guild_id") is None:
            data.pop("guild_id", None)
        await self._emit_if(self._intent_for(msg), event, data)

    @staticmethod
    def _public(msg: Mapping[str, Any]) -> dict[str, Any]:
        """A message as Discord answers it: a deep copy without the fake's bookkeeping keys."""
        data = copy.deepcopy({k: v for k, v in msg.items() if k not in ("deleted", "allowed_mentions")})
        if data.get("guild_id") is None:
            data.pop("guild_id", None)
        return data
