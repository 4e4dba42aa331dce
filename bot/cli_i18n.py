"""`sora-bot i18n extract | update | check`: the command tree's texts and every message marked in the source
(bot/i18n/source.py) as one gettext template, the catalogs brought up to date with it, and every catalog
checked against them and against Discord's rules (missing and unused translations, placeholders, names and
lengths Discord would refuse, two options of one command with one name, messages over Discord's limits)."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po
from discord import app_commands
from discord.app_commands import TranslationContextLocation as Where
from discord.ext import commands

from bot.i18n.catalogs import LOCALES, NAME, Catalogs, catalogs, read_catalog
from bot.i18n.commands import NAMES, fits
from bot.i18n.source import (
    Message,
    check_english,
    check_translation,
    source_messages,
    unextracted,
    unique,
)

COGS = ("cogs.video", "cogs.story", "cogs.jobs", "cogs.admin")


@dataclass(frozen=True, slots=True)
class Text:
    """One translatable text of the command tree: where it is, and its path there (for the report)."""

    where: Where
    english: str
    path: str

    @property
    def context(self) -> str | None:
        return NAME if self.where in NAMES else None


def add_parser(commands_parser: Any) -> None:
    i18n = commands_parser.add_parser("i18n", help="the translations of the command tree").add_subparsers(
        dest="i18n_command", required=True
    )
    extract = i18n.add_parser(
        "extract", help="write every English text (commands, messages) as a .pot template"
    )
    extract.add_argument("--out", type=Path, required=True, help="where to write the .pot file")
    update = i18n.add_parser("update", help="bring every catalog up to date with the texts (new ones empty)")
    update.add_argument("--folder", type=Path, required=True, help="the folder of <locale>.po files")
    i18n.add_parser("check", help="report missing, unused and invalid translations; exit 1 if any")


def run_i18n(args: argparse.Namespace) -> int:
    texts, messages = command_texts(), source_messages()
    template = build_template(texts, messages)
    if args.i18n_command == "extract":
        with args.out.open("wb") as handle:
            write_po(handle, template, width=0)
        print(f"wrote {len(template)} texts to {args.out}")
        return 0
    if args.i18n_command == "update":
        for locale in LOCALES:
            update_catalog(args.folder / f"{locale}.po", locale, template)
        print(f"updated {len(LOCALES)} catalogs in {args.folder} to {len(template)} texts")
        return 0
    problems = check(texts, catalogs(), messages=[m.english for m in messages])
    problems += unextracted() + check_messages(messages, read_catalogs())
    for problem in problems:
        print(problem)
    count = len({t.english for t in texts} | {m.english for m in messages})
    print(f"{len(problems)} problem(s) in {len(LOCALES)} languages, {count} texts")
    return 1 if problems else 0


def build_template(texts: Sequence[Text], messages: Sequence[Message]) -> Catalog:
    """Every English text: the command tree's, then the messages' (a text with a count: both forms)."""
    template = Catalog(project="sora-bot")
    for text in texts:
        template.add(text.english, context=text.context, auto_comments=[text.path])
    for message in unique(messages).values():
        english = (message.english, message.plural) if message.plural else message.english
        flags = ["python-brace-format"] if "{" in message.english else []
        note = f"{message.marker}: at most {message.limit} characters once filled"
        file, line = message.where.rsplit(":", 1)
        template.add(english, locations=[(file, int(line))], auto_comments=[note], flags=flags)
    return template


def update_catalog(path: Path, locale: str, template: Catalog) -> None:
    """`path` with every text of `template`: translations kept, new texts empty, texts gone dropped."""
    if path.is_file():
        with path.open("rb") as handle:
            catalog = read_po(handle, locale=locale.replace("-", "_"))
    else:
        catalog = Catalog(locale=locale.replace("-", "_"), project="sora-bot")
    catalog.update(template, no_fuzzy_matching=True)
    catalog.obsolete.clear()
    with path.open("wb") as handle:
        write_po(handle, catalog, width=0, omit_header=False)


def read_catalogs() -> dict[str, Catalog]:
    """Every shipped catalog, as Babel reads it (plural forms included)."""
    found = {locale: read_catalog(locale) for locale in LOCALES}
    return {locale: catalog for locale, catalog in found.items() if catalog is not None}


def check_messages(messages: Sequence[Message], catalogs_read: dict[str, Catalog]) -> list[str]:
    """What is wrong with the messages' English and each catalog's translations of them: one line each."""
    chosen = unique(messages)
    problems = [f"en: {m.where}: {p}" for m in chosen.values() for p in check_english(m)]
    for locale in LOCALES:
        catalog = catalogs_read.get(locale)
        for english, message in chosen.items():
            entry = (
                catalog.get(english if message.plural is None else (english, message.plural))
                if catalog
                else None
            )
            found = entry.string if entry is not None and not entry.fuzzy else None
            forms: tuple[str | None, ...] = tuple(found) if isinstance(found, tuple | list) else (found,)
            if not all(forms):
                problems.append(f"{locale}: {message.where}: no translation of {english!r}")
                continue
            if message.plural is not None and catalog is not None and len(forms) != catalog.num_plurals:
                problems.append(
                    f"{locale}: {message.where}: {len(forms)} plural forms, not {catalog.num_plurals}"
                )
            for form in forms:
                assert isinstance(form, str)
                problems += [f"{locale}: {message.where}: {p}" for p in check_translation(message, form)]
    return problems


def command_texts() -> list[Text]:
    """Every translatable text of the bot's commands (the cogs' classes, no bot needed), in tree order."""
    found: list[Text] = []
    for module_name in COGS:
        module = importlib.import_module(module_name)
        for cog in vars(module).values():
            if isinstance(cog, type) and issubclass(cog, commands.Cog) and cog.__module__ == module_name:
                found += _cog_texts(cog)
    return found


def _cog_texts(cog: type[commands.Cog]) -> Iterator[Text]:
    children: list[Any] = list(cog.__cog_app_commands__)
    if issubclass(cog, commands.GroupCog) and cog.__cog_group_name__:
        name = str(cog.__cog_group_name__)
        yield Text(Where.group_name, name, name)
        yield Text(Where.group_description, str(cog.__cog_group_description__), name)
        for child in children:
            yield from _command_texts(child, name)
        return
    for child in children:
        yield from _command_texts(child, "")


def _command_texts(
    command: app_commands.Command[Any, ..., Any] | app_commands.Group, parent: str
) -> Iterator[Text]:
    path = f"{parent} {command.name}".strip()
    if isinstance(command, app_commands.Group):
        yield Text(Where.group_name, command.name, path)
        yield Text(Where.group_description, command.description, path)
        for child in command.commands:
            yield from _command_texts(child, path)
        return
    yield Text(Where.command_name, command.name, path)
    yield Text(Where.command_description, command.description, path)
    for parameter in command.parameters:
        option = f"{path} {parameter.display_name}"
        yield Text(Where.parameter_name, parameter.display_name, option)
        yield Text(Where.parameter_description, parameter.description, option)
        for choice in parameter.choices:
            yield Text(Where.choice_name, choice.name, f"{option} {choice.name}")


def check(texts: Sequence[Text], source: Catalogs, messages: Sequence[str] = ()) -> list[str]:
    """What is wrong with the catalogs for these command texts (none else but `messages`): one line each."""
    problems: list[str] = []
    wanted = {(text.context, text.english) for text in texts} | {(None, english) for english in messages}
    for locale in LOCALES:
        table = source.entries(locale)
        problems += [f"{locale}: unused translation of {english!r}" for (_, english) in sorted(
            set(table) - wanted, key=lambda key: key[1])]  # fmt: skip
        names_at: dict[str, dict[str, str]] = {}
        missing: set[tuple[str | None, str]] = set()
        for text in texts:
            translated = table.get((text.context, text.english))
            if translated is None:
                if (text.context, text.english) not in missing:
                    missing.add((text.context, text.english))
                    problems.append(f"{locale}: {text.path}: no translation of {text.english!r}")
            elif not fits(text.where, translated):
                problems.append(
                    f"{locale}: {text.path}: {translated!r} breaks Discord's rule for a {text.where.name}"
                )
            if text.where in NAMES:
                # The name members of this locale see (the translation, else English) is unique among its
                # siblings' names as they see them.
                shown = (
                    translated if translated is not None and fits(text.where, translated) else text.english
                )
                siblings = names_at.setdefault(text.path.rsplit(" ", 1)[0] if " " in text.path else "", {})
                if siblings.setdefault(shown, text.path) != text.path:
                    problems.append(f"{locale}: {text.path}: {shown!r} is also {siblings[shown]}'s name")
    return problems
