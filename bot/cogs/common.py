"""Small pieces several cogs share: autocomplete, permission checks."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

import discord
import numpy as np
from discord import app_commands

from ..audio.upload import read_upload
from ..audio.vad import TrimmedClip, trim_to_speech
from ..speech.continuation import SourceClip
from ..speech.engine import Owner
from ..speech.prompt import ReferenceVoice
from ..speech.synthesizer import SpeechRequest
from ..store.clips import ClipNotFound
from ..store.voices import VoiceProfile, unpack_codes
from ..i18n.replies import text_for
from ..user_errors import UserError
from ..voices import speech_request

if TYPE_CHECKING:
    from ..app import LlasaBot
    from ..speech.synthesizer import Synthesizer

MAX_UPLOAD_BYTES = 20 * 1024 * 1024


async def preset_autocomplete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
    """Presets and this server's shared voices containing what the user typed (Discord shows at most 25)."""
    bot: "LlasaBot" = interaction.client  # type: ignore[assignment]
    current = current.lower()
    choices = [app_commands.Choice(name=name, value=name) for name in sorted(bot.presets) if current in name.lower()]
    if interaction.guild_id is not None:
        for shared in await bot.clips.shared_in(interaction.guild_id):
            if current in shared.name.lower() and shared.name not in bot.presets:
                label = text_for(interaction, "voice.shared_choice", name=shared.name)
                choices.append(app_commands.Choice(name=label, value=shared.name))
    return choices[:25]


async def voice_request(bot: "LlasaBot", guild_id: int | None, profile: VoiceProfile, text: str,
                        max_seconds: float, *, voice: str | None = None) -> SpeechRequest:
    """The request in the user's voice, or in `voice` (a preset or this server's shared voice) for once.

    The server's own limit on seconds per message applies on top of max_seconds.
    """
    shared_name = profile.shared_voice if voice is None else (None if voice in bot.presets else voice)
    shared = await shared_reference(bot, guild_id, shared_name)
    if voice is not None and voice not in bot.presets and shared is None:
        raise UserError("voice.no_such_voice", name=voice)
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


@dataclass(frozen=True)
class EncodedUpload:
    """An uploaded voice clip cut to its speech and encoded; `heard` is its transcription when one was asked for."""

    clip: SourceClip
    original_seconds: float
    heard: str | None


async def encoded_upload(bot: "LlasaBot", attachment: discord.Attachment, owner: Owner, *,
                         transcribe: bool = False) -> EncodedUpload:
    """Check, read and cut (in a thread), then encode and optionally transcribe (on the speech worker) an
    uploaded clip, for cloning and continuing; UploadRejected, CodecError or UserError say why it can't be used."""
    if attachment.size > MAX_UPLOAD_BYTES:
        raise UserError("voice.file_too_large")
    recognizer = bot.recognizer
    if transcribe and recognizer is None:
        raise UserError("voice.transcript_needed")
    data = await attachment.read()
    max_seconds = bot.config.limits.reference_max_seconds
    # Checked from the header, then only max_seconds decoded and cut to the speech, in a thread.
    speech = await asyncio.to_thread(_read_speech, data, max_seconds)
    del data

    def transcribe_and_encode(synthesizer: "Synthesizer") -> tuple[str | None, np.ndarray]:
        heard = recognizer.transcribe(speech.samples, speech.sample_rate) if transcribe else None  # type: ignore[union-attr]
        return heard, synthesizer.codec.encode(speech.samples, speech.sample_rate, max_seconds=max_seconds)

    heard, codes = await bot.engine.call(transcribe_and_encode, owner)
    if heard is not None and not heard.strip():
        raise UserError("voice.no_words_heard")
    source = SourceClip(speech.samples, speech.sample_rate, tuple(int(c) for c in codes))
    return EncodedUpload(source, speech.original_seconds, heard)


def _read_speech(data: bytes, max_seconds: float) -> TrimmedClip:
    """The upload decoded (at most max_seconds) and cut to its speech; UploadRejected says what is wrong."""
    samples, rate = read_upload(data, max_seconds)
    return trim_to_speech(samples, rate)


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
        raise UserError("read.no_such_channel")
    mine = channel.permissions_for(member)
    if not mine.view_channel:
        raise UserError("read.you_cannot_see")
    if not stopping and not channel.permissions_for(guild.me).view_channel:  # type: ignore[union-attr]
        raise UserError("read.i_cannot_see", channel=channel.mention)
    if channel.id != interaction.channel_id and not (mine.manage_channels or member.guild_permissions.manage_guild):
        raise UserError("read.needs_manage", channel=channel.mention)
