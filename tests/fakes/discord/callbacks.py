"""Answering interactions: callbacks, followups and ``@original`` / webhook messages."""

from __future__ import annotations

import time
from typing import Any

from tests.fakes.discord.components import _modal_problems
from tests.fakes.discord.constants import EPHEMERAL, LOADING
from tests.fakes.discord.interactions import InteractionsMixin
from tests.fakes.discord.records import Interaction, _Answer, _Call, _form_error, _int, _refuse


class CallbacksMixin(InteractionsMixin):
    """The bot's answers to interactions."""

    def _interaction_for_callback(self, call: _Call) -> Interaction:
        inter = self.interactions.get(call.params["interaction_token"])
        if inter is None or str(inter.id) != call.params["interaction_id"] or inter.expired:
            raise _refuse(404, 10062)
        if (
            self.callback_deadline is not None
            and time.monotonic() - inter.created_at > self.callback_deadline
        ):
            raise _refuse(404, 10062)
        return inter

    async def _callback(self, call: _Call) -> _Answer:
        inter = self._interaction_for_callback(call)
        if inter.response_type is not None:
            raise _refuse(400, 40060)
        body = call.body if isinstance(call.body, dict) else {}
        kind = body.get("type")
        data = body.get("data") or {}
        allowed = {2: {4, 5, 9}, 3: {4, 5, 6, 7, 9}, 5: {4, 5} | ({6, 7} if inter.message_id else set())}
        if kind not in allowed.get(inter.type, set()):
            raise _form_error({"type": f"Interaction response type {kind} is not valid for this interaction"})
        message: dict[str, Any] | None = None
        if kind == 4:
            self._check_uploads(call, inter.attachment_size_limit)
            message = self._create_message(
                inter.channel_id, data, call.uploads, interaction=inter, flags=int(data.get("flags") or 0)
            )
            inter.original_message_id = int(message["id"])
        elif kind == 5:
            # The "thinking..." placeholder; only its ephemerality is decided now (for good).
            flags = LOADING | (int(data.get("flags") or 0) & EPHEMERAL)
            message = self._create_message(
                inter.channel_id, {}, [], interaction=inter, flags=flags, allow_empty=True
            )
            inter.original_message_id = int(message["id"])
        elif kind in (6, 7):
            inter.original_message_id = inter.message_id
            if kind == 7:
                assert inter.message_id is not None
                self._check_uploads(call, inter.attachment_size_limit)
                message = self.messages[inter.message_id]
                self._apply_edit(message, data, call.uploads)
        elif kind == 9:
            if self.validate_payloads:
                problems = _modal_problems(data)
                if problems:
                    raise _form_error(problems)
            inter.modal = data
        inter.response_type = kind
        if message is not None:
            await self._echo_message(message, "MESSAGE_CREATE" if kind in (4, 5) else "MESSAGE_UPDATE")
        if call.rec.query.get("with_response") not in ("1", "true", "True"):
            return _Answer(204)
        response_id = inter.original_message_id if kind != 9 else None
        result: dict[str, Any] = {
            "interaction": {
                "id": str(inter.id),
                "type": inter.type,
                "response_message_id": str(response_id) if response_id else None,
                "response_message_loading": kind == 5,
                "response_message_ephemeral": bool(message and message["flags"] & EPHEMERAL),
            },
            "resource": {"type": kind},
        }
        if message is not None:
            result["resource"]["message"] = self._public(message)
        return _Answer(200, result)

    def _interaction_for_webhook(self, call: _Call) -> Interaction:
        if _int(call.params["application_id"]) != self.app_id:
            raise _refuse(404, 10015)
        inter = self.interactions.get(call.params["interaction_token"])
        if inter is None or inter.expired:
            raise _refuse(401, 50027)
        if inter.response_type is None:
            raise _refuse(404, 10015)  # no followups or edits before the interaction is acknowledged
        return inter

    def _webhook_message(self, call: _Call, inter: Interaction) -> dict[str, Any]:
        ref = call.params["message_id"]
        if ref == "@original":
            if inter.original_message_id is None:
                raise _refuse(404, 10008)
            mid = inter.original_message_id
        else:
            mid = _int(ref)
            if self._message_tokens.get(mid) != inter.token and mid != inter.original_message_id:
                raise _refuse(404, 10008)
        msg = self.messages.get(mid)
        if msg is None or msg["deleted"]:
            raise _refuse(404, 10008)
        return msg

    async def _followup(self, call: _Call) -> _Answer:
        inter = self._interaction_for_webhook(call)
        body = call.body if isinstance(call.body, dict) else {}
        self._check_uploads(call, inter.attachment_size_limit)
        original = self.messages.get(inter.original_message_id or 0)
        if inter.response_type == 5 and original is not None and original["flags"] & LOADING:
            # Discord: a followup sent while the deferred response still loads *is* that response;
            # its own ephemeral flag is ignored (the defer decided it).
            self._apply_edit(original, body, call.uploads, validate_empty=True)
            message = original
            event = "MESSAGE_UPDATE"
        else:
            message = self._create_message(
                inter.channel_id, body, call.uploads, interaction=inter, flags=int(body.get("flags") or 0)
            )
            event = "MESSAGE_CREATE"
        await self._echo_message(message, event)
        if call.rec.query.get("wait") in ("0", "false", "False"):
            return _Answer(204)
        return _Answer(200, self._public(message))

    async def _get_webhook_message(self, call: _Call) -> _Answer:
        inter = self._interaction_for_webhook(call)
        return _Answer(200, self._public(self._webhook_message(call, inter)))

    async def _edit_webhook_message(self, call: _Call) -> _Answer:
        inter = self._interaction_for_webhook(call)
        msg = self._webhook_message(call, inter)
        return await self._edited(call, msg, inter.attachment_size_limit)

    async def _delete_webhook_message(self, call: _Call) -> _Answer:
        inter = self._interaction_for_webhook(call)
        msg = self._webhook_message(call, inter)
        await self._delete(msg)
        return _Answer(204)
