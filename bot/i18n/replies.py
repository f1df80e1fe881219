"""Which language a Discord user or server gets, and messages in it; used at the cog boundary."""
from __future__ import annotations

from typing import Any

import discord

from . import language, text


def reply_language(interaction: discord.Interaction) -> str:
    """The user's Discord language when we speak it, else their server's, else English."""
    return language(interaction.locale, interaction.guild_locale)


def text_for(interaction: discord.Interaction, key: str, /, **params: Any) -> str:
    """The message `key` in the language of the user who ran the interaction."""
    return text(reply_language(interaction), key, **params)


def guild_text(guild: discord.Guild | None, key: str, /, **params: Any) -> str:
    """A message posted to a channel (not a reply): in the server's language."""
    return text(language(guild.preferred_locale if guild is not None else None), key, **params)
