"""/say: speak a text in the caller's voice channel, or post it as an audio file."""
from __future__ import annotations

import asyncio
import io
import logging
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands

from ..audio.formats import AudioFormat, encode_within
from ..i18n.replies import text_for
from ..speech.continuation import continuing, joined
from ..speech.engine import JobCancelled, Owner, Priority, SpeechJob
from ..user_errors import UserError
from .common import encoded_upload, preset_autocomplete, voice_request

if TYPE_CHECKING:
    from ..app import LlasaBot

log = logging.getLogger(__name__)


class SayCog(commands.Cog):
    def __init__(self, bot: "LlasaBot") -> None:
        self.bot = bot

    @app_commands.command(name="say", description="Speak a text in your voice channel, or post it as an audio file")
    @app_commands.describe(text="What to say", voice="A preset or this server's shared voice, for this once (default: your own)",
                           file_format="Audio file format when posting a file",
                           continue_from="An audio clip to continue in its own voice (5–30 s)",
                           transcript="What is said in that clip, exactly (it goes before your text)",
                           with_clip="Post the clip and its continuation as one file")
    @app_commands.autocomplete(voice=preset_autocomplete)
    async def say(
        self,
        interaction: discord.Interaction,
        text: str,
        voice: str | None = None,
        file_format: Literal["wav", "flac", "ogg"] = "wav",
        continue_from: discord.Attachment | None = None,
        transcript: app_commands.Range[str, 1, 300] | None = None,
        with_clip: bool = False,
    ) -> None:
        limit = self.bot.config.limits.max_text_chars
        if len(text) > limit:
            raise UserError("say.too_long", length=len(text), limit=limit)
        if not text.strip():
            raise UserError("say.empty")
        if continue_from is None and (transcript or with_clip):
            raise UserError("say.continue_options_alone")
        if continue_from is not None and not (transcript or "").strip() and self.bot.recognizer is None:
            raise UserError("say.transcript_needed")
        await interaction.response.defer(thinking=True)
        owner = Owner(interaction.guild_id, interaction.user.id)
        profile = await self.bot.voices.get(interaction.user.id)
        request = await voice_request(self.bot, interaction.guild_id, profile, text,
                                      self.bot.config.limits.max_clip_seconds, voice=voice)
        source, heard = None, None
        if continue_from is not None:
            upload = await encoded_upload(self.bot, continue_from, owner, transcribe=not (transcript or "").strip())
            source, heard = upload.clip, upload.heard
            request = continuing(request, source, transcript or heard or "")
        player = self._player_with(interaction.user)
        if player is not None:
            # Finished clips wait in the player, outside the engine's queue bound: bound them here.
            bound = (await self.bot.guild_settings.get(player.guild_id)).max_queue
            if player.pending() >= bound:
                raise UserError("say.queue_full", waiting=player.pending())
        job = self.bot.engine.submit(request, owner, Priority.COMMAND)
        if player is not None:
            player.enqueue(job)
        await self._show_progress(interaction, job, text_for(interaction, "say.speaking") if player
                                  else text_for(interaction, "say.generating"))
        try:
            clip = await job.result()
        except JobCancelled:
            await interaction.edit_original_response(content=text_for(interaction, "say.skipped"))
            return
        # A transcription can be wrong: show it, so a bad continuation can be explained and corrected.
        heard_note = "\n" + text_for(interaction, "say.heard", heard=heard) if heard else ""
        if player is not None:
            await interaction.edit_original_response(
                content=text_for(interaction, "say.said", seconds=clip.seconds, channel=player.channel.mention,
                                 reasons=clip.report.end_reasons(), retries=clip.report.retries_note()) + heard_note)
            return
        if source is not None and with_clip:
            clip = await asyncio.to_thread(joined, source, clip)
        await self._post_file(interaction, clip, AudioFormat(file_format), heard_note)

    def _player_with(self, user: discord.abc.User):
        """The guild's player when the caller is in the bot's voice channel."""
        if not isinstance(user, discord.Member) or user.voice is None or user.voice.channel is None:
            return None
        player = self.bot.player(user.guild.id)
        return player if player is not None and player.channel.id == user.voice.channel.id else None

    async def _show_progress(self, interaction: discord.Interaction, job: SpeechJob, working: str) -> None:
        position = self.bot.engine.position(job)
        if position > 0:
            await interaction.edit_original_response(content=text_for(interaction, "say.waiting", position=position))
            await job.started()
        await interaction.edit_original_response(content=working)

    async def _post_file(self, interaction: discord.Interaction, clip, fmt: AudioFormat, extra: str = "") -> None:
        limit = interaction.filesize_limit
        encoded = await asyncio.to_thread(encode_within, clip.samples, clip.sample_rate, fmt, limit)
        if encoded is None:
            raise UserError("say.too_big", seconds=clip.seconds)
        data, used = encoded
        note = "" if used is fmt else text_for(interaction, "say.other_format", used=used.value, wanted=fmt.value)
        file = discord.File(fp=io.BytesIO(data), filename=f"speech.{used.value}")
        await interaction.edit_original_response(
            content=text_for(interaction, "say.posted", seconds=clip.seconds, note=note, reasons=clip.report.end_reasons(),
                             retries=clip.report.retries_note(),
                             seeds=", ".join(map(str, clip.report.seeds[:3]))) + extra,
            attachments=[file],
        )

