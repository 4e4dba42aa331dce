"""Message validation: what Discord answers 400 / 50035 to in content, embeds and allowed mentions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# -- validation: what Discord answers 400 / 50035 to -------------------------------------------------------
#
# Limits: shared/reference/discord-platform.md, discord-api-docs (resources/message, components/reference,
# interactions/application-commands) and discord-api-spec's openapi.json. Each check is a small function
# returning ``{"path.of.field": "message"}``; an empty dict means Discord takes it.

Problems = dict[str, str]

CONTENT_LIMIT = 2000  # a bot's message content (Nitro users get 4000; bots never do)
MAX_EMBEDS = 10
EMBED_TOTAL_LIMIT = 6000  # title + description + field names/values + footer text + author name, all embeds
_MENTION_TYPES = ("users", "roles", "everyone")
_WEB_SCHEMES = ("http", "https")
_MEDIA_SCHEMES = ("http", "https", "attachment")


def _text_problems(
    where: str, value: Any, high: int, *, low: int = 0, required: bool = False, strip: bool = False
) -> Problems:
    """``value`` must be a string of ``low``..``high`` characters; None is fine unless ``required``."""
    if value is None:
        return {where: "This field is required"} if required else {}
    if not isinstance(value, str):
        return {where: "Could not interpret value as string."}
    size = len(value.strip() if strip else value)
    if size < low or size > high:
        if low:
            return {where: f"Must be between {low} and {high} in length."}
        return {where: f"Must be {high} or fewer in length."}
    return {}


def _int_problems(where: str, value: Any, low: int, high: int) -> Problems:
    """``value`` (if given) must be an integer in ``low``..``high``."""
    if value is None:
        return {}
    if not isinstance(value, int) or isinstance(value, bool):
        return {where: "Value is not int."}
    if not low <= value <= high:
        return {where: f"int value should be between {low} and {high}."}
    return {}


def _url_problems(where: str, value: Any, high: int, schemes: Sequence[str]) -> Problems:
    """A URL field: a string of at most ``high`` characters with one of ``schemes``."""
    problems = _text_problems(where, value, high)
    if problems or value is None:
        return problems
    scheme = str(value).split(":", 1)[0].lower() if ":" in str(value) else ""
    if scheme not in schemes:
        return {where: f'Scheme "{scheme}" is not supported. Scheme must be one of {tuple(schemes)}.'}
    return {}


def _content_problems(body: Mapping[str, Any]) -> Problems:
    return _text_problems("content", body.get("content"), CONTENT_LIMIT)


def _embed_text(value: Any) -> str:
    """What counts towards an embed's size: Discord trims leading and trailing whitespace first."""
    return value.strip() if isinstance(value, str) else ""


def _embed_size(embed: Mapping[str, Any]) -> int:
    """The characters of one embed that count towards the 6,000 of a message."""
    size = len(_embed_text(embed.get("title"))) + len(_embed_text(embed.get("description")))
    for fld in embed.get("fields") or []:
        if isinstance(fld, dict):
            size += len(_embed_text(fld.get("name"))) + len(_embed_text(fld.get("value")))
    footer, author = embed.get("footer"), embed.get("author")
    size += len(_embed_text(footer.get("text"))) if isinstance(footer, dict) else 0
    size += len(_embed_text(author.get("name"))) if isinstance(author, dict) else 0
    return size


def _embed_field_problems(fields: Any, where: str) -> Problems:
    """At most 25 fields; each needs a name (1-256) and a value (1-1024), counted after trimming."""
    if fields is None:
        return {}
    if not isinstance(fields, list):
        return {where: "Expected an array."}
    problems: Problems = {}
    if len(fields) > 25:
        problems[where] = "Must be 25 or fewer in length."
    for j, fld in enumerate(fields):
        here = f"{where}.{j}"
        if not isinstance(fld, dict):
            problems[here] = "Expected an object."
            continue
        problems.update(
            _text_problems(f"{here}.name", fld.get("name"), 256, low=1, required=True, strip=True)
        )
        problems.update(
            _text_problems(f"{here}.value", fld.get("value"), 1024, low=1, required=True, strip=True)
        )
    return problems


def _embed_footer_problems(footer: Any, where: str) -> Problems:
    if footer is None:
        return {}
    if not isinstance(footer, dict):
        return {where: "Expected an object."}
    return {
        **_text_problems(f"{where}.text", footer.get("text"), 2048, strip=True),
        **_url_problems(f"{where}.icon_url", footer.get("icon_url"), 2048, _MEDIA_SCHEMES),
    }


def _embed_author_problems(author: Any, where: str) -> Problems:
    if author is None:
        return {}
    if not isinstance(author, dict):
        return {where: "Expected an object."}
    return {
        **_text_problems(f"{where}.name", author.get("name"), 256, strip=True),
        **_url_problems(f"{where}.url", author.get("url"), 2048, _WEB_SCHEMES),
        **_url_problems(f"{where}.icon_url", author.get("icon_url"), 2048, _MEDIA_SCHEMES),
    }


def _embed_media_problems(embed: Mapping[str, Any], where: str) -> Problems:
    """``image`` and ``thumbnail`` point at http(s) or an ``attachment://`` of the same request."""
    problems: Problems = {}
    for key in ("image", "thumbnail"):
        media = embed.get(key)
        if media is None:
            continue
        if not isinstance(media, dict):
            problems[f"{where}.{key}"] = "Expected an object."
            continue
        problems.update(_url_problems(f"{where}.{key}.url", media.get("url"), 2048, _MEDIA_SCHEMES))
    return problems


def _embed_problems(embed: Any, where: str) -> Problems:
    """One embed's own limits (the 6,000 total is `_embeds_problems`'s)."""
    if not isinstance(embed, dict):
        return {where: "Expected an object."}
    return {
        **_text_problems(f"{where}.title", embed.get("title"), 256, strip=True),
        **_text_problems(f"{where}.description", embed.get("description"), 4096, strip=True),
        **_url_problems(f"{where}.url", embed.get("url"), 2048, _WEB_SCHEMES),
        **_int_problems(f"{where}.color", embed.get("color"), 0, 0xFFFFFF),
        **_embed_field_problems(embed.get("fields"), f"{where}.fields"),
        **_embed_footer_problems(embed.get("footer"), f"{where}.footer"),
        **_embed_author_problems(embed.get("author"), f"{where}.author"),
        **_embed_media_problems(embed, where),
    }


def _embeds_problems(embeds: Any) -> Problems:
    """At most 10 embeds, each within its limits, and 6,000 characters for all of them together."""
    if embeds is None:
        return {}
    if not isinstance(embeds, list):
        return {"embeds": "Expected an array."}
    problems: Problems = {}
    if len(embeds) > MAX_EMBEDS:
        problems["embeds"] = f"Must be {MAX_EMBEDS} or fewer in length."
    for i, embed in enumerate(embeds):
        problems.update(_embed_problems(embed, f"embeds.{i}"))
    total = sum(_embed_size(e) for e in embeds if isinstance(e, dict))
    if total > EMBED_TOTAL_LIMIT:
        problems["embeds"] = f"Embed size exceeds maximum size of {EMBED_TOTAL_LIMIT}"
    return problems


def _allowed_mentions_problems(allowed: Any) -> Problems:
    """``parse`` holds known types only, ``users``/``roles`` at most 100 ids each, and a type is either
    parsed or listed, never both ("mutually exclusive", Discord's docs)."""
    if allowed is None:
        return {}
    if not isinstance(allowed, dict):
        return {"allowed_mentions": "Expected an object."}
    problems: Problems = {}
    parse = allowed.get("parse") or []
    if not isinstance(parse, list) or any(p not in _MENTION_TYPES for p in parse):
        problems["allowed_mentions.parse"] = f"Value must be one of {_MENTION_TYPES}."
    for key in ("users", "roles"):
        ids = allowed.get(key) or []
        if not isinstance(ids, list) or len(ids) > 100:
            problems[f"allowed_mentions.{key}"] = "Must be 100 or fewer in length."
        elif ids and isinstance(parse, list) and key in parse:
            problems["allowed_mentions"] = f"parse:[{key}] and {key}: [ids...] are mutually exclusive."
    return problems
