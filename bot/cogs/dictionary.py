"""/dict: the server's pronunciation dictionary (and each user's own, which wins over it)."""
from __future__ import annotations

import asyncio
import io
from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands

from ..store.dictionary import DictScope
from ..text.dictionary import ReadingDictionary, checked_entry, normalize_word
from ..i18n.replies import text_for
from ..user_errors import UserError

if TYPE_CHECKING:
    from ..app import LlasaBot

Scope = Literal["server", "me"]
MAX_IMPORT_BYTES = 1_000_000


class DictionaryCog(commands.GroupCog, group_name="dict", group_description="Pronunciation dictionary"):
    def __init__(self, bot: "LlasaBot") -> None:
        self.bot = bot
        super().__init__()

    def _scope(self, interaction: discord.Interaction, scope: Scope) -> DictScope:
        if scope == "me":
            return DictScope.user(interaction.user.id)
        if interaction.guild is None:
            raise UserError("dict.server_only")
        return DictScope.guild(interaction.guild.id)

    def _require_manage(self, interaction: discord.Interaction, scope: Scope) -> None:
        perms = getattr(interaction.user, "guild_permissions", None)
        if scope == "server" and (perms is None or not perms.manage_guild):
            raise UserError("dict.needs_manage")

    async def _changed(self, scope: DictScope) -> None:
        read = self.bot.get_cog("ReadAloudCog")
        if read is not None:
            read.forget_dictionary(scope)  # type: ignore[attr-defined]

    @app_commands.command(name="add", description="Read a word the way you write it here")
    @app_commands.describe(word="The word as written", reading="How to read it (kana works best)",
                           scope="server (needs Manage Server) or me")
    async def add(self, interaction: discord.Interaction, word: app_commands.Range[str, 1, 50],
                  reading: app_commands.Range[str, 1, 100], scope: Scope = "server") -> None:
        self._require_manage(interaction, scope)
        target = self._scope(interaction, scope)
        # Checks characters and lengths and normalises the word as matching will; the store keeps
        # the entry limit. (It built the whole dictionary twice here: ~30 ms of event loop at 2,000 words.)
        key, spoken = checked_entry(word, reading)
        await self.bot.dictionaries.add(target, key, spoken)
        await self._changed(target)
        await interaction.response.send_message(text_for(interaction, "dict.added", word=key, reading=spoken),
                                                ephemeral=scope == "me")

    @app_commands.command(name="remove", description="Remove a word from the dictionary")
    async def remove(self, interaction: discord.Interaction, word: str, scope: Scope = "server") -> None:
        self._require_manage(interaction, scope)
        target = self._scope(interaction, scope)
        if not await self.bot.dictionaries.remove(target, normalize_word(word)):
            raise UserError("dict.not_found", word=word)
        await self._changed(target)
        await interaction.response.send_message(text_for(interaction, "dict.removed", word=word), ephemeral=scope == "me")

    @app_commands.command(name="list", description="Show the dictionary")
    async def list_entries(self, interaction: discord.Interaction, scope: Scope = "server") -> None:
        entries = await self.bot.dictionaries.entries(self._scope(interaction, scope))
        if not entries:
            await interaction.response.send_message(text_for(interaction, "dict.empty"), ephemeral=True)
            return
        lines = [f"{w} → {r}" for w, r in sorted(entries.items())]
        text = "\n".join(lines)
        if len(text) > 1800:
            text = "\n".join(lines[:60]) + "\n" + text_for(interaction, "dict.more", count=len(lines) - 60)
        await interaction.response.send_message(f"```\n{text}\n```", ephemeral=True)

    @app_commands.command(name="export", description="Download the dictionary as a JSON file")
    async def export(self, interaction: discord.Interaction, scope: Scope = "server") -> None:
        entries = await self.bot.dictionaries.entries(self._scope(interaction, scope))
        data = await asyncio.to_thread(_exported, entries)
        await interaction.response.send_message(file=discord.File(io.BytesIO(data), "dictionary.json"), ephemeral=True)

    @app_commands.command(name="import", description="Replace the dictionary with a JSON file (from /dict export)")
    async def import_entries(self, interaction: discord.Interaction, file: discord.Attachment, scope: Scope = "server") -> None:
        self._require_manage(interaction, scope)
        target = self._scope(interaction, scope)
        if file.size > MAX_IMPORT_BYTES:
            raise UserError("dict.file_too_large")
        # All or nothing: a bad file changes nothing, and the error names its line or entry. Parsing
        # and checking 2,000 entries is CPU work, so it runs in a thread.
        imported = await asyncio.to_thread(ReadingDictionary.from_json, await file.read())
        await self.bot.dictionaries.replace_all(target, dict(imported.items()))
        await self._changed(target)
        await interaction.response.send_message(text_for(interaction, "dict.imported", count=len(imported)),
                                                ephemeral=scope == "me")


def _exported(entries: Mapping[str, str]) -> bytes:
    return ReadingDictionary(entries).to_json().encode("utf-8")
