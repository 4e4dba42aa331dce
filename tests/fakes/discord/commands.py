"""Application commands: sync (``PUT .../commands``), lookup, and the limits a sync is checked against."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import regex

from tests.fakes.discord.core import DiscordCore
from tests.fakes.discord.records import _Answer, _Call, _form_error, _int, _refuse
from tests.fakes.discord.validation import Problems, _int_problems, _text_problems

# Discord's naming rule (developers' docs, "Application Command Naming"), with the unicode flag. Later docs
# add an apostrophe, which Discord's API is reported to refuse (discord-api-docs #7371): refused here.
_COMMAND_NAME = regex.compile(r"^[-_\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$")
# The locales Discord takes as keys of `name_localizations` / `description_localizations` (docs: "Locales").
LOCALES = frozenset(
    {
        "id",
        "da",
        "de",
        "en-GB",
        "en-US",
        "es-ES",
        "es-419",
        "fr",
        "hr",
        "it",
        "lt",
        "hu",
        "nl",
        "no",
        "pl",
        "pt-BR",
        "ro",
        "fi",
        "sv-SE",
        "vi",
        "tr",
        "cs",
        "el",
        "bg",
        "ru",
        "uk",
        "hi",
        "th",
        "zh-CN",
        "ja",
        "zh-TW",
        "ko",
    }
)
MAX_COMMAND_OPTIONS = 25
MAX_CHOICES = 25
COMMAND_SIZE_LIMIT = 8000  # names, descriptions and choice values of one slash command together


def _command_problems(commands: list[Any]) -> Problems:
    """A bulk overwrite: at most 100 slash commands (and 15 user, 15 message ones), unique names, each
    command within its limits."""
    problems: Problems = {}
    caps = {1: 100, 2: 15, 3: 15}
    counts: dict[Any, int] = {}
    seen: set[tuple[str, int]] = set()
    for i, cmd in enumerate(commands):
        if not isinstance(cmd, dict):
            problems[str(i)] = "Expected an object."
            continue
        kind = cmd.get("type", 1)
        counts[kind] = counts.get(kind, 0) + 1
        name = cmd.get("name", "")
        if (name, kind) in seen:
            problems[f"{i}.name"] = "Application command names must be unique"
        seen.add((name, kind))
        if kind == 1:
            problems.update(_chat_input_problems(cmd, str(i)))
            if _command_size(cmd) > COMMAND_SIZE_LIMIT:
                problems[str(i)] = f"Command exceeds maximum size ({COMMAND_SIZE_LIMIT})"
        else:
            problems.update(_text_problems(f"{i}.name", name, 32, low=1, required=True))
    for kind, count in counts.items():
        if count > caps.get(kind, 100):
            problems["_root"] = f"Must be {caps.get(kind, 100)} or fewer commands of type {kind}."
    return problems


def _longest(level: Mapping[str, Any], field: str) -> int:
    """A field's length as Discord counts it towards a command's size: its longest localization."""
    texts = [level.get(field) or "", *(level.get(f"{field}_localizations") or {}).values()]
    return max(len(str(text)) for text in texts)


def _command_size(level: Mapping[str, Any]) -> int:
    """Characters of a slash command's names, descriptions and choices (names and values), nested; each
    name and description counted by its longest localization."""
    size = _longest(level, "name") + _longest(level, "description")
    for choice in level.get("choices") or []:
        if isinstance(choice, dict):
            size += _longest(choice, "name") + len(str(choice.get("value") or ""))
    for opt in level.get("options") or []:
        if isinstance(opt, dict):
            size += _command_size(opt)
    return size


def _valid_name(name: Any) -> bool:
    return isinstance(name, str) and bool(_COMMAND_NAME.fullmatch(name)) and name == name.lower()


def _localization_problems(
    level: Mapping[str, Any], field: str, where: str, *, choice: bool = False
) -> Problems:
    """`{field}_localizations`: null, or a map of Discord locales to values under `field`'s own rules (a
    name's, or a choice name's 1-100, or a description's 1-100)."""
    localized = level.get(f"{field}_localizations")
    if localized is None:
        return {}
    here = f"{where}.{field}_localizations"
    if not isinstance(localized, dict):
        return {here: "Expected an object."}
    problems: Problems = {}
    for locale, value in localized.items():
        if locale not in LOCALES:
            problems[f"{here}.{locale}"] = "Invalid locale."
        elif field == "name" and not choice:
            if not _valid_name(value):
                problems[f"{here}.{locale}"] = "Command name is invalid"
        else:
            problems.update(_text_problems(f"{here}.{locale}", value, 100, low=1, required=True))
    return problems


def _name_problems(level: Mapping[str, Any], where: str) -> Problems:
    """A command's or option's name (1-32, lower-case, no spaces) and description (1-100), and their
    localizations under the same rules."""
    problems: Problems = {}
    if not _valid_name(level.get("name", "")):
        problems[f"{where}.name"] = "Command name is invalid"
    problems.update(
        _text_problems(f"{where}.description", level.get("description"), 100, low=1, required=True)
    )
    problems.update(_localization_problems(level, "name", where))
    problems.update(_localization_problems(level, "description", where))
    return problems


def _choice_problems(opt: Mapping[str, Any], where: str) -> Problems:
    """At most 25 choices (string, integer and number options only, not with autocomplete); each a
    name of 1-100 and a string value of at most 100 (Discord's docs; the OpenAPI spec says 6000)."""
    choices = opt.get("choices")
    if not choices:
        return {}
    problems: Problems = {}
    if opt.get("type") not in (3, 4, 10):
        problems[f"{where}.choices"] = "Choices are only valid for string, integer and number options."
    if opt.get("autocomplete"):
        problems[f"{where}.autocomplete"] = "Autocomplete cannot be set with choices."
    if len(choices) > MAX_CHOICES:
        problems[f"{where}.choices"] = f"Must be {MAX_CHOICES} or fewer in length."
    for k, choice in enumerate(choices):
        here = f"{where}.choices.{k}"
        if not isinstance(choice, dict):
            problems[here] = "Expected an object."
            continue
        problems.update(_text_problems(f"{here}.name", choice.get("name"), 100, low=1, required=True))
        problems.update(_localization_problems(choice, "name", here, choice=True))
        if isinstance(choice.get("value"), str):
            problems.update(_text_problems(f"{here}.value", choice["value"], 100))
    return problems


def _string_length_problems(opt: Mapping[str, Any], where: str) -> Problems:
    """``min_length`` 0-6000 and ``max_length`` 1-6000, on string options only."""
    low, high = opt.get("min_length"), opt.get("max_length")
    if low is None and high is None:
        return {}
    if opt.get("type") != 3:
        return {f"{where}.min_length": "min_length/max_length are only valid for string options."}
    problems = {
        **_int_problems(f"{where}.min_length", low, 0, 6000),
        **_int_problems(f"{where}.max_length", high, 1, 6000),
    }
    if isinstance(low, int) and isinstance(high, int) and low > high:
        problems[f"{where}.min_length"] = "min_length cannot be greater than max_length."
    return problems


def _chat_input_problems(cmd: Mapping[str, Any], where: str) -> Problems:
    """A slash command, subcommand group or subcommand and, recursively, its options (25 at most, unique
    names, required before optional, subcommands not mixed with plain options)."""
    problems = _name_problems(cmd, where)
    options = cmd.get("options") or []
    if len(options) > MAX_COMMAND_OPTIONS:
        problems[f"{where}.options"] = f"Must be {MAX_COMMAND_OPTIONS} or fewer in length."
    names = [o.get("name") for o in options if isinstance(o, dict)]
    if len(names) != len(set(names)):
        problems[f"{where}.options"] = "Option names must be unique."
    for locale in LOCALES:
        # In each locale an option's name (its localization, else its name) differs from its siblings'.
        shown = [
            (o.get("name_localizations") or {}).get(locale, o.get("name"))
            for o in options
            if isinstance(o, dict)
        ]
        if len(shown) != len(set(shown)):
            problems[f"{where}.options"] = f"Option names must be unique in {locale}."
    nested = [o for o in options if isinstance(o, dict) and o.get("type") in (1, 2)]
    if nested and len(nested) != len(options):
        problems[f"{where}.options"] = "Subcommands and groups cannot be mixed with other options."
    if cmd.get("type") == 2 and any(o.get("type") != 1 for o in nested):
        problems[f"{where}.options"] = "A subcommand group holds subcommands only."
    optional_seen = False
    for j, opt in enumerate(options):
        here = f"{where}.options.{j}"
        if not isinstance(opt, dict):
            problems[here] = "Expected an object."
            continue
        if opt.get("type") in (1, 2):
            if cmd.get("type") == 1 and "." in where:
                problems[f"{here}.type"] = "A subcommand cannot hold subcommands."
            problems.update(_chat_input_problems(opt, here))
            continue
        problems.update(_name_problems(opt, here))
        problems.update(_choice_problems(opt, here))
        problems.update(_string_length_problems(opt, here))
        if opt.get("required"):
            if optional_seen:
                problems[f"{here}.required"] = "Required options must be placed before non-required options"
        else:
            optional_seen = True
    return problems


def _find_option(level: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    for opt in level.get("options", []):
        if opt.get("name") == name and opt.get("type") in (1, 2):
            return cast(dict[str, Any], opt)
    return None


def _python_option_type(value: Any, attachments: Mapping[str, Any]) -> int:
    if isinstance(value, str) and value in attachments:
        return 11
    if isinstance(value, bool):
        return 5
    if isinstance(value, int):
        return 4
    if isinstance(value, float):
        return 10
    return 3


def _check_option_value(spec: Mapping[str, Any], value: Any) -> None:
    """What Discord's client enforces before it sends a command."""
    name, kind = spec["name"], spec["type"]
    expected: dict[int, tuple[type, ...]] = {3: (str,), 4: (int,), 5: (bool,), 10: (int, float)}
    if kind in expected and (
        not isinstance(value, expected[kind]) or (kind in (4, 10) and isinstance(value, bool))
    ):
        raise ValueError(f"option {name!r} (type {kind}) cannot take {value!r}")
    choices = spec.get("choices")
    if choices and not spec.get("autocomplete") and value not in [c["value"] for c in choices]:
        raise ValueError(
            f"option {name!r}: {value!r} is not one of the choices {[c['value'] for c in choices]}"
        )
    if kind in (4, 10):
        if spec.get("min_value") is not None and value < spec["min_value"]:
            raise ValueError(f"option {name!r}: {value} < min_value {spec['min_value']}")
        if spec.get("max_value") is not None and value > spec["max_value"]:
            raise ValueError(f"option {name!r}: {value} > max_value {spec['max_value']}")
    if kind == 3:
        if len(value) < (spec.get("min_length") or (1 if spec.get("required") else 0)):
            raise ValueError(f"option {name!r}: {value!r} is too short")
        if spec.get("max_length") is not None and len(value) > spec["max_length"]:
            raise ValueError(f"option {name!r}: {value!r} is longer than {spec['max_length']}")


class CommandsMixin(DiscordCore):
    """Application command sync and lookup."""

    def find_command(self, name: str, guild_id: int | None) -> tuple[dict[str, Any], int | None] | None:
        """A synced chat-input command by name: the guild's own first, then the global one."""
        scopes: list[int | None] = [guild_id, None] if guild_id is not None else [None]
        for scope in scopes:
            for cmd in self.commands.get(scope, []):
                if cmd["name"] == name and cmd.get("type", 1) == 1:
                    return cmd, scope
        return None

    def _command_scope(self, call: _Call) -> int | None:
        if _int(call.params["application_id"]) != self.app_id:
            raise _refuse(403, 50001)
        if "guild_id" not in call.params:
            return None
        gid = _int(call.params["guild_id"])
        if gid not in self.guilds:
            raise _refuse(403, 50001)  # not in the guild (or no applications.commands scope)
        return gid

    async def _get_commands(self, call: _Call) -> _Answer:
        return _Answer(200, self.commands.get(self._command_scope(call), []))

    async def _put_commands(self, call: _Call) -> _Answer:
        scope = self._command_scope(call)
        body = call.body
        if not isinstance(body, list):
            raise _form_error({"_root": "Expected an array of application commands"})
        if self.validate_payloads:
            problems = _command_problems(body)
            if problems:
                raise _form_error(problems)
        old = {(c["name"], c.get("type", 1)): c for c in self.commands.get(scope, [])}
        stored = []
        for cmd in body:
            kind = cmd.get("type", 1)
            previous = old.get((cmd["name"], kind))
            echoed = {
                **cmd,
                # Discord keeps a command's id across bulk overwrites when its name and type stay.
                "id": previous["id"] if previous else str(self.snowflake()),
                "application_id": str(self.app_id),
                "version": str(self.snowflake()),
                "type": kind,
                "description": cmd.get("description", ""),
                "default_member_permissions": (
                    None
                    if cmd.get("default_member_permissions") is None
                    else str(cmd["default_member_permissions"])
                ),
                "nsfw": cmd.get("nsfw", False),
            }
            if scope is not None:
                echoed["guild_id"] = str(scope)
            stored.append(echoed)
        self.commands[scope] = stored
        self.command_syncs += 1
        return _Answer(200, stored)
