"""What Discord would refuse or render in an embed, for unit and end-to-end tests of what the bot builds.

The limits are Discord's (docs: Embed Limits; /work/shared/reference/discord-platform.md), counted in code
points as Discord's API does, and written out here rather than taken from the code under test.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

TITLE, DESCRIPTION, FIELDS, FIELD_NAME, FIELD_VALUE, FOOTER, AUTHOR, TOTAL = (
    256,
    4096,
    25,
    256,
    1024,
    2048,
    256,
    6000,
)
PROMPT_MAX = 4096  # /video's prompt option
REASON_MAX = 300  # the Reject form's reason

# The worst prompts: a 4,096-character prompt of blank lines (each one a "> " in a quote), of one-character
# lines, of lines that escaping doubles, and of masked links.
MANY_BLANK_LINES = "a" + "\n" * (PROMPT_MAX - 2) + "a"
MANY_SHORT_LINES = "\n".join(["a"] * (PROMPT_MAX // 2))
MANY_MARKDOWN_LINES = "\n".join(["*"] * (PROMPT_MAX // 2))
MANY_LINKS = "[free nitro](https://example.com) " * (PROMPT_MAX // 34)


def problems(embed: Mapping[str, Any]) -> list[str]:
    """Every Discord limit this embed (as sent) breaks; an empty list when Discord would take it."""
    found = []
    title, description = embed.get("title", ""), embed.get("description", "")
    fields = embed.get("fields", [])
    footer = embed.get("footer", {}).get("text", "")
    author = embed.get("author", {}).get("name", "")
    if len(title) > TITLE:
        found.append(f"title {len(title)}")
    if len(description) > DESCRIPTION:
        found.append(f"description {len(description)}")
    if len(fields) > FIELDS:
        found.append(f"{len(fields)} fields")
    for field in fields:
        if not 1 <= len(field["name"]) <= FIELD_NAME or not field["name"].strip():
            found.append(f"field name {field['name']!r:.40}")
        if not 1 <= len(field["value"]) <= FIELD_VALUE or not field["value"].strip():
            found.append(f"field value {field['value']!r:.40}")
    if len(footer) > FOOTER:
        found.append(f"footer {len(footer)}")
    if len(author) > AUTHOR:
        found.append(f"author {len(author)}")
    total = len(title) + len(description) + len(footer) + len(author)
    total += sum(len(f["name"]) + len(f["value"]) for f in fields)
    if total > TOTAL:
        found.append(f"total {total}")
    return found


# Discord's markdown: a backslash before a character that is not a letter, digit or space makes it plain text.
ESCAPED = re.compile(r"\\([^0-9A-Za-z\s])")
LIVE = [
    re.compile(r"\[[^\n]*?\]\(", re.S),  # a masked link [text](url)
    re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://"),  # a bare URL
    re.compile(r"<[^: >]+:/"),  # an autolink <scheme:/...>
]


def live_links(text: str) -> list[str]:
    """The links (masked, bare or autolinks) that would render in `text`; escaped characters are inert."""
    active = ESCAPED.sub("\x00", text)
    return [m.group() for pattern in LIVE for m in pattern.finditer(active)]


def texts(embed: Mapping[str, Any]) -> list[str]:
    """The texts of an embed that Discord renders as markdown."""
    fields = embed.get("fields", [])
    return [
        embed.get("title", ""),
        embed.get("description", ""),
        embed.get("footer", {}).get("text", ""),
        *(f["name"] for f in fields),
        *(f["value"] for f in fields),
    ]


def unescaped(text: str) -> str:
    """The text as Discord shows it: escapes removed."""
    return ESCAPED.sub(r"\1", text)
