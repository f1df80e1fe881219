"""Small pieces several cogs share: autocomplete, permission checks."""
from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands

if TYPE_CHECKING:
    from ..app import LlasaBot


async def preset_autocomplete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
    """Preset names containing what the user typed so far (Discord shows at most 25)."""
    bot: "LlasaBot" = interaction.client  # type: ignore[assignment]
    current = current.lower()
    names = [name for name in sorted(bot.presets) if current in name.lower()]
    return [app_commands.Choice(name=name, value=name) for name in names[:25]]
