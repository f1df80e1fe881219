"""/join, /leave, /skip, /clear, and joining/leaving voice channels by themselves."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from ..i18n.replies import text_for
from ..user_errors import UserError

if TYPE_CHECKING:
    from ..app import LlasaBot
    from .read_aloud import ReadAloudCog

log = logging.getLogger(__name__)


class VoiceChannelCog(commands.Cog):
    def __init__(self, bot: "LlasaBot") -> None:
        self.bot = bot

    def _reader(self) -> "ReadAloudCog":
        return self.bot.get_cog("ReadAloudCog")  # type: ignore[return-value]

    @app_commands.command(name="join", description="Join your voice channel and read this text channel aloud")
    @app_commands.guild_only()
    async def join(self, interaction: discord.Interaction) -> None:
        member = interaction.user
        if not isinstance(member, discord.Member) or member.voice is None or member.voice.channel is None:
            raise UserError("join.not_in_voice")
        await interaction.response.defer(thinking=True)
        player = await self.bot.join(member.voice.channel)
        await self._reader().activate(member.guild.id, interaction.channel_id)
        await interaction.followup.send(text_for(interaction, "join.joined", voice_channel=player.channel.mention,
                                                 text_channel=f"<#{interaction.channel_id}>"))

    @app_commands.command(name="leave", description="Leave the voice channel and stop reading")
    @app_commands.guild_only()
    async def leave(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        await self._reader().deactivate(interaction.guild_id)
        if not await self.bot.leave(interaction.guild_id):
            raise UserError("leave.not_in_voice")
        await interaction.response.send_message(text_for(interaction, "leave.left"))

    @app_commands.command(name="skip", description="Stop what is being said now")
    @app_commands.guild_only()
    async def skip(self, interaction: discord.Interaction) -> None:
        player = self.bot.player(interaction.guild_id or 0)
        if player is None or not player.skip():
            raise UserError("skip.nothing")
        await interaction.response.send_message(text_for(interaction, "skip.skipped"))

    @app_commands.command(name="clear", description="Stop speaking and drop everything waiting to be said")
    @app_commands.guild_only()
    async def clear(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        player = self.bot.player(interaction.guild_id)
        dropped = player.clear() if player else 0
        dropped = max(dropped, self.bot.engine.cancel_guild(interaction.guild_id))
        await interaction.response.send_message(text_for(interaction, "clear.cleared", count=dropped))

    @commands.Cog.listener()
    async def on_voice_state_update(self, member: discord.Member, before: discord.VoiceState, after: discord.VoiceState) -> None:
        guild = member.guild
        player = self.bot.player(guild.id)
        if player is not None and member.id != (self.bot.user.id if self.bot.user else 0):
            humans = [m for m in getattr(player.channel, "members", []) if not m.bot]
            if not humans:
                log.info("guild %s: only bots left in voice, leaving", guild.id)
                await self._reader().deactivate(guild.id)
                await self.bot.leave(guild.id)
                return
        if player is None and not member.bot and after.channel is not None and before.channel != after.channel:
            settings = await self.bot.guild_settings.get(guild.id)
            if settings.auto_join_channel_id == after.channel.id:
                log.info("guild %s: auto-joining %s", guild.id, after.channel.id)
                await self.bot.join(after.channel)
                await self._reader().activate(guild.id)
