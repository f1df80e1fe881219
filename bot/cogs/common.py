"""Small pieces several cogs share: autocomplete, permission checks."""
from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands

from ..user_errors import UserError

if TYPE_CHECKING:
    from ..app import LlasaBot


async def preset_autocomplete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
    """Preset names containing what the user typed so far (Discord shows at most 25)."""
    bot: "LlasaBot" = interaction.client  # type: ignore[assignment]
    current = current.lower()
    names = [name for name in sorted(bot.presets) if current in name.lower()]
    return [app_commands.Choice(name=name, value=name) for name in names[:25]]


def check_can_bind(interaction: discord.Interaction, channel_id: int | None, *, stopping: bool = False) -> None:
    """May this member start (or stop) reading `channel_id` aloud? UserError says why not.

    The member must be able to see the channel, and to start, so must the bot. The channel the
    command is run in is anyone's to choose (they are reading it); any other channel needs Manage
    Channels there or Manage Server, since it changes what the bot reads for people there. A
    channel that no longer exists may be dropped from the list by anyone.
    """
    guild, member = interaction.guild, interaction.user
    channel = guild.get_channel_or_thread(channel_id) if guild is not None and channel_id is not None else None
    if channel is None and stopping:
        return
    if channel is None or not isinstance(member, discord.Member):
        raise UserError("I can't find that channel in this server")
    mine = channel.permissions_for(member)
    if not mine.view_channel:
        raise UserError("you can't see that channel, so you can't choose whether it is read aloud")
    if not stopping and not channel.permissions_for(guild.me).view_channel:  # type: ignore[union-attr]
        raise UserError(f"I can't see {channel.mention}; give me the View Channel permission there first")
    if channel.id != interaction.channel_id and not (mine.manage_channels or member.guild_permissions.manage_guild):
        raise UserError(f"choosing another channel ({channel.mention}) needs Manage Channels there or Manage Server; "
                        "or run the command in that channel")
