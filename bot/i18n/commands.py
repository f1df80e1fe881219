"""Slash command names, descriptions, options and choices in Japanese, for discord.py's Translator.

English is each command's own default text (what Discord shows in every other language); the
Japanese comes from the `commands` and `choices` tables of ja.toml, keyed by the command's
qualified name: `commands."voice set".options.seed.description`, `choices.me`.
"""
from __future__ import annotations

from collections.abc import Iterator

import discord
from discord import app_commands
from discord.app_commands import TranslationContextLocation as Where

from . import command_text

# Discord locales we translate commands into, and the catalogue for each.
COMMAND_LANGUAGES = {discord.Locale.japanese: "ja"}


class CatalogueTranslator(app_commands.Translator):
    """Looks command texts up in the catalogues; None (Discord shows the default) where there is none."""

    async def translate(self, string: app_commands.locale_str, locale: discord.Locale,
                        context: app_commands.TranslationContextTypes) -> str | None:
        lang = COMMAND_LANGUAGES.get(locale)
        key = command_key(context.location, context.data)
        return command_text(lang, key) if lang is not None and key is not None else None


def command_key(where: Where, data: object) -> str | None:
    """The catalogue key of one translatable command string."""
    if where in (Where.command_name, Where.group_name):
        return f"commands.{data.qualified_name}.name"  # type: ignore[attr-defined]
    if where in (Where.command_description, Where.group_description):
        return f"commands.{data.qualified_name}.description"  # type: ignore[attr-defined]
    if where in (Where.parameter_name, Where.parameter_description):
        field = "name" if where is Where.parameter_name else "description"
        return f"commands.{data.command.qualified_name}.options.{data.name}.{field}"  # type: ignore[attr-defined]
    if where is Where.choice_name:
        return f"choices.{data.name}"  # type: ignore[attr-defined]
    return None


def command_keys(tree: app_commands.CommandTree) -> Iterator[str]:
    """Every key the translator looks up for the tree's slash commands (for checks and tests)."""
    pending: list[app_commands.Command | app_commands.Group] = [
        c for c in tree.get_commands(type=discord.AppCommandType.chat_input)]  # type: ignore[misc]
    while pending:
        command = pending.pop(0)
        yield f"commands.{command.qualified_name}.name"
        yield f"commands.{command.qualified_name}.description"
        if isinstance(command, app_commands.Group):
            pending.extend(command.commands)
            continue
        for param in command.parameters:
            yield f"commands.{command.qualified_name}.options.{param.name}.name"
            yield f"commands.{command.qualified_name}.options.{param.name}.description"
            yield from (f"choices.{choice.name}" for choice in param.choices)
