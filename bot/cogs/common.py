"""Small pieces several cogs share: autocomplete, permission checks."""
from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands

from ..speech.prompt import ReferenceVoice
from ..speech.synthesizer import SpeechRequest
from ..store.clips import ClipNotFound
from ..store.voices import VoiceProfile, unpack_codes
from ..user_errors import UserError
from ..voices import speech_request

if TYPE_CHECKING:
    from ..app import LlasaBot


async def preset_autocomplete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
    """Presets and this server's shared voices containing what the user typed (Discord shows at most 25)."""
    bot: "LlasaBot" = interaction.client  # type: ignore[assignment]
    current = current.lower()
    choices = [app_commands.Choice(name=name, value=name) for name in sorted(bot.presets) if current in name.lower()]
    if interaction.guild_id is not None:
        for shared in await bot.clips.shared_in(interaction.guild_id):
            if current in shared.name.lower() and shared.name not in bot.presets:
                choices.append(app_commands.Choice(name=f"{shared.name} (shared voice)", value=shared.name))
    return choices[:25]


async def voice_request(bot: "LlasaBot", guild_id: int | None, profile: VoiceProfile, text: str,
                        max_seconds: float, *, voice: str | None = None) -> SpeechRequest:
    """The request in the user's voice, or in `voice` (a preset or this server's shared voice) for once.

    The server's own limit on seconds per message applies on top of max_seconds.
    """
    shared_name = profile.shared_voice if voice is None else (None if voice in bot.presets else voice)
    shared = await shared_reference(bot, guild_id, shared_name)
    if voice is not None and voice not in bot.presets and shared is None:
        raise UserError(f"there is no preset or shared voice named '{voice}'; pick one from the list")
    if guild_id is not None:
        limit = (await bot.guild_settings.get(guild_id)).max_seconds
        max_seconds = min(max_seconds, limit or max_seconds)
    preset = voice if voice in bot.presets else None
    return speech_request(text, profile, bot.presets, bot.default_sampling, max_seconds, preset=preset, shared=shared)


async def shared_reference(bot: "LlasaBot", guild_id: int | None, name: str | None) -> ReferenceVoice | None:
    """The server's shared voice as a reference clip; None outside servers or when it was unshared or deleted."""
    if not name or guild_id is None:
        return None
    try:
        shared = await bot.clips.shared(guild_id, name)
    except ClipNotFound:
        return None
    return ReferenceVoice(unpack_codes(shared.clip.codes), shared.clip.transcript)


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
