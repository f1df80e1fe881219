"""/voice: each user's own voice (preset, caption fields, cloned clip, sampling), kept in SQLite."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from ..i18n.replies import text_for
from ..speech.captions import EMOTIONS, VoiceCaption
from ..speech.engine import Owner
from ..store.voices import pack_codes
from ..user_errors import UserError
from ..voices import caption_for, sampling_for
from .common import encoded_upload, preset_autocomplete, shared_reference

if TYPE_CHECKING:
    from ..app import LlasaBot

log = logging.getLogger(__name__)


async def emotion_autocomplete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
    names = [e for e in sorted(EMOTIONS) if current.lower() in e][:25]
    return [app_commands.Choice(name=e, value=e) for e in names]


async def my_clip_autocomplete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
    bot: "LlasaBot" = interaction.client  # type: ignore[assignment]
    names = [c.name for c in await bot.clips.mine(interaction.user.id) if current.lower() in c.name.lower()]
    return [app_commands.Choice(name=n[:100], value=n[:100]) for n in names[:25]]


async def shared_autocomplete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
    bot: "LlasaBot" = interaction.client  # type: ignore[assignment]
    if interaction.guild_id is None:
        return []
    names = [s.name for s in await bot.clips.shared_in(interaction.guild_id) if current.lower() in s.name.lower()]
    return [app_commands.Choice(name=n, value=n) for n in names[:25]]


class VoiceProfileCog(commands.GroupCog, group_name="voice", group_description="Your own voice"):
    def __init__(self, bot: "LlasaBot") -> None:
        self.bot = bot
        super().__init__()

    @app_commands.command(name="set", description="Choose your voice: a preset, caption details, sampling")
    @app_commands.describe(
        preset="A voice preset", emotion="One of the model's emotion words", speed="e.g. ゆっくり, 速い, (1.2x)",
        style="e.g. 会話調, ナレーション風", caption="Describe the voice in one sentence (Japanese works best)",
        temperature="Randomness 0–2 (default 0.8)", top_p="0–1 (default 0.95)", top_k="0 = off, up to 100",
        repeat_penalty="1–10 (default 1.1)", seed="-1 = random each time; a number repeats a take")
    @app_commands.autocomplete(preset=preset_autocomplete, emotion=emotion_autocomplete)
    async def set_voice(
        self,
        interaction: discord.Interaction,
        preset: str | None = None,
        emotion: str | None = None,
        speed: app_commands.Range[str, 0, 40] | None = None,
        style: app_commands.Range[str, 0, 40] | None = None,
        caption: app_commands.Range[str, 0, 200] | None = None,
        temperature: app_commands.Range[float, 0.0, 2.0] | None = None,
        top_p: app_commands.Range[float, 0.01, 1.0] | None = None,
        top_k: app_commands.Range[int, 0, 100] | None = None,
        repeat_penalty: app_commands.Range[float, 1.0, 10.0] | None = None,
        seed: app_commands.Range[int, -1, 2**31 - 1] | None = None,
    ) -> None:
        changes: dict[str, object] = {}
        profile = await self.bot.voices.get(interaction.user.id)
        if preset is not None:
            if preset in self.bot.presets:
                changes.update(preset=preset, shared_voice=None)
            elif interaction.guild_id is not None and await shared_reference(self.bot, interaction.guild_id, preset):
                changes.update(preset=None, shared_voice=(await self.bot.clips.shared(interaction.guild_id, preset)).name)
            else:
                raise UserError("voice.no_such_voice", name=preset)
            changes.update(reference=None, reference_transcript="", reference_name="")
        fields = {"emotion": emotion, "speed": speed, "style": style, "caption": caption}
        if any(v is not None for v in fields.values()):
            merged = dict(profile.caption or {}) | {k: v for k, v in fields.items() if v is not None}
            VoiceCaption.from_dict({k: v for k, v in merged.items() if v})  # validates (emotion words, lengths)
            changes["caption"] = merged
        for name, value in (("temperature", temperature), ("top_p", top_p), ("top_k", top_k),
                            ("repeat_penalty", repeat_penalty), ("seed", seed)):
            if value is not None:
                changes[name] = value
        if not changes:
            raise UserError("voice.nothing_to_change")
        profile = await self.bot.voices.update(interaction.user.id, **changes)
        await interaction.response.send_message(self._describe(interaction, profile), ephemeral=True)

    @app_commands.command(name="clone", description="Clone a voice from a short clip (5–30 s) and what it says")
    @app_commands.describe(clip="An audio file: 5–30 s of one clear voice",
                           transcript="What is said in the clip, exactly (leave it out to have the clip transcribed)")
    async def clone(self, interaction: discord.Interaction, clip: discord.Attachment,
                    transcript: app_commands.Range[str, 1, 300] | None = None) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        upload = await encoded_upload(self.bot, clip, Owner(interaction.guild_id, interaction.user.id),
                                      transcribe=transcript is None)
        speech, heard = upload.clip, upload.heard
        said = transcript or heard or ""
        packed = pack_codes(speech.codes)
        await self.bot.clips.add(interaction.user.id, clip.filename[:100], packed, said)  # kept in /voice clips
        profile = await self.bot.voices.update(
            interaction.user.id, reference=packed, reference_transcript=said, reference_name=clip.filename,
            shared_voice=None)
        lines = [text_for(interaction, "voice.cloned", file=clip.filename, kept=speech.seconds,
                          original=upload.original_seconds)]
        if heard is not None:
            lines.append(text_for(interaction, "voice.heard", heard=heard))
        await interaction.followup.send("\n".join(lines) + "\n" + self._describe(interaction, profile), ephemeral=True)

    @app_commands.command(name="clips", description="List the clips you cloned, and the voices shared in this server")
    async def clips(self, interaction: discord.Interaction) -> None:
        mine = await self.bot.clips.mine(interaction.user.id)
        lines = ([f"**{c.name}** ({c.seconds:.1f} s) 「{c.transcript[:40]}」" for c in mine]
                 or [text_for(interaction, "voice.no_clips")])
        if interaction.guild_id is not None:
            shared = await self.bot.clips.shared_in(interaction.guild_id)
            if shared:
                lines.append(text_for(interaction, "voice.shared_here", names=", ".join(
                    text_for(interaction, "voice.shared_yours", name=s.name) if s.clip.user_id == interaction.user.id
                    else f"**{s.name}**" for s in shared)))
        await interaction.response.send_message("\n".join(lines)[:1900], ephemeral=True)

    @app_commands.command(name="use", description="Speak with one of your cloned clips again")
    @app_commands.autocomplete(clip=my_clip_autocomplete)
    async def use(self, interaction: discord.Interaction, clip: str) -> None:
        kept = await self.bot.clips.get(interaction.user.id, clip)
        profile = await self.bot.voices.update(interaction.user.id, reference=kept.codes, reference_transcript=kept.transcript,
                                               reference_name=kept.name, shared_voice=None)
        await interaction.response.send_message(self._describe(interaction, profile), ephemeral=True)

    @app_commands.command(name="delete", description="Delete one of your cloned clips and its data (it is unshared everywhere)")
    @app_commands.autocomplete(clip=my_clip_autocomplete)
    async def delete(self, interaction: discord.Interaction, clip: str) -> None:
        gone = await self.bot.clips.delete(interaction.user.id, clip)
        profile = await self.bot.voices.get(interaction.user.id)
        if profile.reference == gone.codes:  # it was the active voice: its codes go too
            await self.bot.voices.update(interaction.user.id, reference=None, reference_transcript="", reference_name="")
        await interaction.response.send_message(text_for(interaction, "voice.deleted", name=gone.name), ephemeral=True)

    @app_commands.command(name="share", description="Share one of your cloned clips with this server under a name")
    @app_commands.describe(clip="One of your clips", name="The name others pick it by")
    @app_commands.autocomplete(clip=my_clip_autocomplete)
    @app_commands.guild_only()
    async def share(self, interaction: discord.Interaction, clip: str, name: app_commands.Range[str, 1, 32]) -> None:
        shared = await self.bot.clips.share(interaction.guild_id, interaction.user.id, clip, name)  # type: ignore[arg-type]
        await interaction.response.send_message(
            text_for(interaction, "voice.shared", clip=shared.clip.name, name=shared.name),
            ephemeral=True)

    @app_commands.command(name="unshare", description="Stop sharing a voice in this server (yours, or any with Manage Server)")
    @app_commands.autocomplete(name=shared_autocomplete)
    @app_commands.guild_only()
    async def unshare(self, interaction: discord.Interaction, name: str) -> None:
        perms = getattr(interaction.user, "guild_permissions", None)
        manager = perms is not None and perms.manage_guild
        await self.bot.clips.unshare(interaction.guild_id, name, user_id=None if manager else interaction.user.id)  # type: ignore[arg-type]
        await interaction.response.send_message(text_for(interaction, "voice.unshared", name=name), ephemeral=True)

    @app_commands.command(name="name", description="How read-aloud announces you (empty: your display name)")
    async def name(self, interaction: discord.Interaction, spoken_name: app_commands.Range[str, 0, 32] = "") -> None:
        await self.bot.voices.update(interaction.user.id, spoken_name=spoken_name or None)
        await interaction.response.send_message(
            text_for(interaction, "voice.spoken_name", name=spoken_name) if spoken_name
            else text_for(interaction, "voice.display_name"), ephemeral=True)

    @app_commands.command(name="show", description="Show your voice settings")
    async def show(self, interaction: discord.Interaction) -> None:
        profile = await self.bot.voices.get(interaction.user.id)
        await interaction.response.send_message(self._describe(interaction, profile), ephemeral=True)

    @app_commands.command(name="reset", description="Back to the default voice (your clips stay in /voice clips)")
    async def reset(self, interaction: discord.Interaction) -> None:
        await self.bot.voices.reset(interaction.user.id)
        await interaction.response.send_message(
            text_for(interaction, "voice.reset"), ephemeral=True)

    @app_commands.command(name="presets", description="List the voice presets")
    async def presets(self, interaction: discord.Interaction) -> None:
        lines = [f"**{name}**: {p.caption}" for name, p in sorted(self.bot.presets.items())]
        await interaction.response.send_message("\n".join(lines)[:1900] or text_for(interaction, "voice.no_presets"),
                                                ephemeral=True)

    def _describe(self, interaction: discord.Interaction, profile) -> str:
        caption = caption_for(profile, self.bot.presets)
        s = sampling_for(profile, self.bot.default_sampling)
        lines = [text_for(interaction, "voice.profile_preset", preset=profile.preset or text_for(interaction, "voice.none"))]
        if profile.shared_voice:
            lines.append(text_for(interaction, "voice.profile_shared", name=profile.shared_voice))
        if profile.reference:
            lines.append(text_for(interaction, "voice.profile_cloned", name=profile.reference_name or "clip",
                                  transcript=profile.reference_transcript))
        if caption:
            lines.append(text_for(interaction, "voice.profile_caption", caption=caption.caption)
                         + (f" ({caption.emotion})" if caption.emotion else ""))
        lines.append(text_for(interaction, "voice.profile_sampling", temperature=s.temperature, top_p=s.top_p,
                              top_k=s.top_k, repeat_penalty=s.repeat_penalty,
                              seed=text_for(interaction, "voice.random_seed") if s.seed < 0 else s.seed))
        if profile.spoken_name:
            lines.append(text_for(interaction, "voice.profile_name", name=profile.spoken_name))
        return "\n".join(lines)

