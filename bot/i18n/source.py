"""The texts marked for translation in the bot's source (bot/i18n/messages.py's markers), found with Babel's
Python extractor, and the checks every catalog must pass for them: present, the same placeholders, the
commands they name, and Discord's limits when filled with each placeholder's longest value."""

from __future__ import annotations

import ast
import string
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import regex
from babel.messages.extract import extract_python

from bot.i18n.messages import LIMITS, fill

ROOTS = ("bot", "cogs")
KEYWORDS: dict[str, None] = dict.fromkeys(LIMITS)

# The longest value each placeholder can carry, as its callers bound it (ids are 20 digits, mentions
# `<@&` + 20 digits + `>`, prompts are cut before they are shown ...). A placeholder missing here is a
# problem `sora-bot i18n check` reports: every value shown must have a known worst case.
WORST: dict[str, int] = {
    # ids and mentions: 20-digit snowflakes, `<@id>`, `<@&id>`, `<#id>`, a message link
    "job": 20,
    "story": 20,
    "user": 20,
    "member": 23,
    "channel": 23,
    "mention": 24,
    "role": 24,
    "who": 24,
    "link": 100,
    "channels": 650,  # at most 25 channel mentions named (guard), and "or N other channels"
    # numbers as number() writes them: counts and limits up to a billion, sizes, pages
    "count": 13,
    "used": 13,
    "limit": 13,
    "left": 13,
    "most": 13,
    "least": 3,
    "length": 13,
    "position": 11,
    "seconds": 12,
    "strikes": 5,
    "per_hour": 3,
    "page": 5,
    "pages": 5,
    "number": 1,  # a shot's number: at most SHOTS_MAX (5)
    "shot": 1,
    "shots": 1,
    "width": 9,
    "height": 9,
    "max_side": 4,
    "megabytes": 8,
    "limit_megabytes": 3,
    "times": 263,  # a repetition count of a blocklist rule of at most 200 characters
    "counts": 8,
    # money (money(): up to a 1,000,000 budget, as the longest language writes it)
    "budget": 20,
    "spent": 20,
    "cost": 20,
    "dollars": 20,
    "total": 60,  # "{count} jobs, {dollars}" in words
    # words and lists the bot writes (translated)
    "state": 40,
    "where": 60,
    "language": 80,
    "value": 20,
    "settings": 100,
    "limits": 250,
    "defaults": 300,
    "permission": 40,
    "permissions": 160,
    "field": 100,
    "expected": 100,
    "message": 100,
    "mark": 2,
    "time": 24,  # <t:...:R>
    # text from members, moderators, Prodia and the regex engine, cut before it is shown
    "moderator": 74,  # an escaped username of at most 32 characters
    "prompt": 750,
    "pattern": 400,
    "problem": 200,
    "reason": 1024,
    "error": 1024,
    "refusal": 700,
    "note": 1000,
}

# A command as texts name it: `/video`, `/sora-admin limits show` (the first word is what must exist).
_COMMAND = regex.compile(r"(?<![\w/:<.])/([a-z][-a-z]*)")


@dataclass(frozen=True, slots=True)
class Message:
    """One marked text: its English (and English plural), the marker (what it is), where it is."""

    english: str
    plural: str | None
    marker: str
    where: str

    @property
    def limit(self) -> int:
        return LIMITS[self.marker]


def source_messages(base: Path | None = None) -> list[Message]:
    """Every marked text in the bot's modules, in file order (a text marked in several places: each)."""
    base = base or Path(__file__).resolve().parents[2]
    found: list[Message] = []
    for root in ROOTS:
        for path in sorted((base / root).rglob("*.py")):
            found += _file_messages(path, path.relative_to(base).as_posix())
    return found


def _file_messages(path: Path, name: str) -> Iterator[Message]:
    with path.open("rb") as handle:
        for line, marker, texts, _comments in extract_python(handle, KEYWORDS, [], {}):
            parts = texts if isinstance(texts, tuple) else (texts,)
            english = parts[0]
            if not isinstance(english, str) or not english:
                continue  # a marker applied to a constant: the constant is marked where it is defined
            plural = parts[1] if marker == "n_" and len(parts) > 1 and isinstance(parts[1], str) else None
            yield Message(english, plural, marker, f"{name}:{line}")


def unextracted(base: Path | None = None) -> list[str]:
    """Marked texts Babel's extractor misses (a marker called inside another marker's arguments hides both):
    found by reading the modules' syntax trees; each is a problem to fix where it is written."""
    base = base or Path(__file__).resolve().parents[2]
    found = {(m.english, m.marker) for m in source_messages(base)}
    missed = []
    for root in ROOTS:
        for path in sorted((base / root).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                    continue
                first = node.args[0] if node.func.id in KEYWORDS and node.args else None
                text = first.value if isinstance(first, ast.Constant) else None
                if isinstance(text, str) and text and (text, node.func.id) not in found:
                    where = f"{path.relative_to(base).as_posix()}:{node.lineno}"
                    missed.append(f"en: {where}: {text!r} is marked but not extracted")
    return missed


def unique(messages: Iterable[Message]) -> dict[str, Message]:
    """One entry per English text: where it is marked several times, the strictest limit."""
    chosen: dict[str, Message] = {}
    for message in messages:
        known = chosen.get(message.english)
        if known is None or message.limit < known.limit:
            chosen[message.english] = message
    return chosen


def placeholders(text: str) -> set[str]:
    """The `{fields}` a text is filled with, as written (a field with an attribute, an index, a conversion or
    a format spec is kept whole, so it never matches a plain name: `fill` refuses it)."""
    try:
        return {
            field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            for _, field, spec, conversion in string.Formatter().parse(text)
            if field is not None
        }
    except ValueError:
        return {"<unbalanced braces>"}


def commands_named(text: str) -> set[str]:
    """The slash commands a text names."""
    return set(_COMMAND.findall(text))


def worst_length(text: str, worst: Mapping[str, int] = WORST) -> int:
    """The text's length filled with each placeholder's longest value."""
    filled = {name: "x" * worst.get(name, 0) for name in placeholders(text)}
    try:
        return len(fill(text, filled))
    except ValueError:
        return len(text)


def check_translation(message: Message, translated: str) -> list[str]:
    """What is wrong with one translation (or one plural form) of `message`."""
    source = message.english
    problems = []
    wanted, got = placeholders(source) | placeholders(message.plural or ""), placeholders(translated)
    # A plural form may leave the count out (one form for "one" in many languages); nothing else.
    if got - wanted or (wanted - got) - ({"count"} if message.plural else set()):
        problems.append(f"placeholders {sorted(got)} instead of {sorted(wanted)}")
    foreign = commands_named(translated) - commands_named(source) - commands_named(message.plural or "")
    if foreign:
        problems.append(f"names commands that English doesn't: {', '.join('/' + c for c in sorted(foreign))}")
    return problems + _over_limit(translated, message.limit)


def check_english(message: Message) -> list[str]:
    """What is wrong with the English text itself: unknown worst cases, over the limit."""
    problems = []
    for text in (message.english, message.plural or ""):
        unknown = placeholders(text) - set(WORST)
        if unknown:
            problems.append(f"no longest value known for {', '.join(sorted(unknown))} (add it to WORST)")
        problems += _over_limit(text, message.limit)
    return problems


def _over_limit(text: str, limit: int) -> list[str]:
    length = worst_length(text)
    return [f"{length} characters at worst, over Discord's {limit}"] if length > limit else []
