"""`sora-bot i18n extract | check`: the command tree's texts as a gettext template, and every catalog checked
against them and against Discord's rules (missing and unused translations, names and lengths Discord would
refuse, two options of one command with one name)."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po
from discord import app_commands
from discord.app_commands import TranslationContextLocation as Where
from discord.ext import commands

from bot.i18n.catalogs import LOCALES, NAME, Catalogs, catalogs
from bot.i18n.commands import NAMES, fits

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
    extract = i18n.add_parser("extract", help="write the command tree's English texts as a gettext template")
    extract.add_argument("--out", type=Path, required=True, help="where to write the .pot file")
    i18n.add_parser("check", help="report missing, unused and invalid translations; exit 1 if any")


def run_i18n(args: argparse.Namespace) -> int:
    texts = command_texts()
    if args.i18n_command == "extract":
        template = Catalog(project="sora-bot")
        for text in texts:
            template.add(text.english, context=text.context, auto_comments=[text.path])
        with args.out.open("wb") as handle:
            write_po(handle, template, width=0)
        print(f"wrote {len(template)} texts to {args.out}")
        return 0
    problems = check(texts, catalogs())
    for problem in problems:
        print(problem)
    print(f"{len(problems)} problem(s) in {len(LOCALES)} languages, {len({t.english for t in texts})} texts")
    return 1 if problems else 0


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


def check(texts: Sequence[Text], source: Catalogs) -> list[str]:
    """What is wrong with the catalogs for these texts: one line each."""
    problems: list[str] = []
    wanted = {(text.context, text.english) for text in texts}
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
