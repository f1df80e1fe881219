"""Read-aloud (読み上げ): new messages in bound text channels are spoken in their author's voice."""
from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from ..speech.engine import EngineBusy, Owner, Priority, SpeechJob
from ..speech.prompt import ReferenceVoice
from ..store.dictionary import DictScope
from ..text.dictionary import ReadingDictionary
from ..text.message import Attachment, ChatMessage, ReadingSettings
from ..text.pipeline import speakable_phrase, speakable_text
from ..i18n.replies import text_for
from ..user_errors import UserError
from ..voices import at_speed, speech_request
from .common import check_can_bind, shared_reference
from .ratelimit import rate_limits

if TYPE_CHECKING:
    from ..app import LlasaBot
    from ..store.guilds import GuildSettings

log = logging.getLogger(__name__)
READ_ALOUD_MAX_SECONDS = 60.0
# Bounds on what the reader remembers (module constants: bot/config.py has no place for them yet).
MAX_CACHED_DICTIONARIES = 512  # compiled dictionaries, least recently used evicted
MAX_TRACKED_JOBS = 256         # a hard cap on `spoken` on top of releasing finished jobs
KEEP_FINISHED = 2              # finished jobs still shown in `spoken` (each holds its whole clip)


@dataclass
class ReadAloudSession:
    """What the reader remembers per server: where to read, and who spoke last."""

    channel_ids: set[int] = field(default_factory=set)
    last_speaker_id: int | None = None
    last_spoken_at: float = 0.0
    dropped: int = 0  # messages dropped over the queue limit, announced with the next one

    def needs_name(self, user_id: int, pause_seconds: float, now: float) -> bool:
        """Announce the name when the speaker changes or after a pause."""
        return user_id != self.last_speaker_id or now - self.last_spoken_at > pause_seconds


class ReadAloudCog(commands.Cog):
    def __init__(self, bot: "LlasaBot") -> None:
        self.bot = bot
        self.sessions: dict[int, ReadAloudSession] = {}
        self._dictionaries: OrderedDict[DictScope, tuple[int, ReadingDictionary]] = OrderedDict()
        # Observability for tests and logs: message id → (received, job), for jobs still being
        # generated and the last KEEP_FINISHED finished ones. A finished job holds its whole clip,
        # so the rest are released (see _track).
        self.spoken: dict[int, tuple[float, SpeechJob]] = {}
        self._finished: deque[int] = deque()
        self._watchers: set[asyncio.Future] = set()
        self.limits = rate_limits(bot)

    # Binding channels ---------------------------------------------------------------------
    async def activate(self, guild_id: int, channel_id: int | None = None) -> ReadAloudSession:
        """Start reading the server's saved channels, plus channel_id (saved too)."""
        settings = await self.bot.guild_settings.get(guild_id)
        channels = set(settings.read_channel_ids)
        if channel_id is not None and channel_id not in channels:
            channels.add(channel_id)
            # Saved first: if the store refuses (too many channels), the session stays as it was.
            await self.bot.guild_settings.update(guild_id, read_channel_ids=tuple(sorted(channels)))
        session = self.sessions.setdefault(guild_id, ReadAloudSession())
        session.channel_ids = channels
        return session

    async def deactivate(self, guild_id: int) -> None:
        """Stop reading (the saved channels stay for the next /join or auto-join)."""
        self.sessions.pop(guild_id, None)

    read = app_commands.Group(name="read", description="Read a text channel aloud", guild_only=True)

    @read.command(name="start", description="Read this channel aloud (another one needs Manage Channels or Manage Server)")
    async def read_start(self, interaction: discord.Interaction, channel: discord.TextChannel | None = None) -> None:
        assert interaction.guild_id is not None
        target = channel.id if channel else interaction.channel_id
        check_can_bind(interaction, target)
        if self.bot.player(interaction.guild_id) is None:
            raise UserError("read.not_in_voice")
        await self.activate(interaction.guild_id, target)
        await interaction.response.send_message(text_for(interaction, "read.started", channel=f"<#{target}>"))

    @read.command(name="stop", description="Stop reading this channel (another one needs Manage Channels or Manage Server)")
    async def read_stop(self, interaction: discord.Interaction, channel: discord.TextChannel | None = None) -> None:
        assert interaction.guild_id is not None
        target = channel.id if channel else interaction.channel_id
        session = self.sessions.get(interaction.guild_id)
        check_can_bind(interaction, target, stopping=True)
        if session is None or target not in session.channel_ids:
            raise UserError("read.not_reading", channel=f"<#{target}>")
        remaining = tuple(sorted(session.channel_ids - {target}))
        await self.bot.guild_settings.update(interaction.guild_id, read_channel_ids=remaining)
        session.channel_ids = set(remaining)
        await interaction.response.send_message(text_for(interaction, "read.stopped", channel=f"<#{target}>"))

    # Reading ------------------------------------------------------------------------------
    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        received = time.perf_counter()
        if message.guild is None or message.author.bot or message.webhook_id is not None:
            return
        player = self.bot.player(message.guild.id)
        session = self.sessions.get(message.guild.id)
        if player is None or session is None:
            return
        if message.channel.id not in session.channel_ids and message.channel.id != player.channel.id:
            return
        if not self.limits.messages.allow(message.author.id):
            # Flooding: drop before any database or text work; the queue limit handles the rest.
            log.info("guild %s: user %s is posting too fast, not reading message %s",
                     message.guild.id, message.author.id, message.id)
            return
        settings = await self.bot.guild_settings.get(message.guild.id)
        if not await self._should_read(message, settings, player.channel):
            return
        reading = ReadingSettings.from_dict(settings.reading, ignore_unknown=True)
        dictionary = await self._dictionary(message.guild.id, message.author.id)
        text = await asyncio.to_thread(speakable_text, chat_message(message), reading, dictionary)
        if not text:
            return
        profile = await self.bot.voices.get(message.author.id)
        now = time.monotonic()
        if settings.announce_names and session.needs_name(message.author.id, settings.name_pause_seconds, now):
            name = profile.spoken_name or message.author.display_name
            spoken_name = await asyncio.to_thread(speakable_phrase, name, reading, dictionary)
            if spoken_name:
                text = f"{spoken_name}、{text}"
        session.last_speaker_id, session.last_spoken_at = message.author.id, now
        shared = await shared_reference(self.bot, message.guild.id, profile.shared_voice)
        job = self._speak(player, session, settings, message.author.id, text, profile, shared)
        if job is not None:
            self._track(message.id, received, job)

    def _track(self, message_id: int, received: float, job: SpeechJob) -> None:
        """Remember a message's job while it runs, and let go of it (and its clip) when it ends."""
        while len(self.spoken) >= MAX_TRACKED_JOBS:
            del self.spoken[next(iter(self.spoken))]
        self.spoken[message_id] = (received, job)
        watcher = asyncio.ensure_future(job.result())
        self._watchers.add(watcher)

        def release(done: asyncio.Future) -> None:
            self._watchers.discard(done)
            self._finished.append(message_id)
            while len(self._finished) > KEEP_FINISHED:
                self.spoken.pop(self._finished.popleft(), None)
            if not done.cancelled():
                done.exception()  # failures are the player's and the engine's to log

        watcher.add_done_callback(release)

    async def cog_unload(self) -> None:
        for watcher in list(self._watchers):
            watcher.cancel()

    def _speak(self, player, session: ReadAloudSession, settings: "GuildSettings", user_id: int, text: str, profile,
               shared: ReferenceVoice | None):
        """Queue text in the user's voice, within the server's queue and length limits; None when dropped."""
        waiting = player.pending()
        if waiting >= settings.max_queue:
            # Over the limit: drop it, and say how many were dropped before the next one.
            session.dropped += 1
            return None
        if session.dropped:
            text = f"ほか{session.dropped}件省略、{text}"
            session.dropped = 0
        seconds = min(READ_ALOUD_MAX_SECONDS, self.bot.config.limits.max_clip_seconds, settings.max_seconds or READ_ALOUD_MAX_SECONDS)
        request = speech_request(text, profile, self.bot.presets, self.bot.default_sampling, seconds, shared=shared)
        request = at_speed(request, settings.read_speed)
        if waiting >= max(2, settings.max_queue // 2) and request.voice.caption is not None:
            # A long queue: ask the model for brisk speech (it has no speed knob but the caption).
            request = replace(request, voice=replace(request.voice, caption=replace(request.voice.caption, speed="速い")))
        try:
            job = self.bot.engine.submit(request, Owner(player.guild_id, user_id), Priority.READ_ALOUD)
        except EngineBusy:
            session.dropped += 1
            log.info("guild %s: engine queue full, dropping a message", player.guild_id)
            return None
        player.enqueue(job)
        return job

    @commands.Cog.listener()
    async def on_voice_state_update(self, member: discord.Member, before: discord.VoiceState, after: discord.VoiceState) -> None:
        """Announce people entering and leaving the bot's voice channel (入室 / 退室)."""
        if member.bot or before.channel == after.channel:
            return
        player = self.bot.player(member.guild.id)
        session = self.sessions.get(member.guild.id)
        if player is None or session is None:
            return
        if after.channel is not None and after.channel.id == player.channel.id:
            action = "が入室しました"
        elif before.channel is not None and before.channel.id == player.channel.id:
            action = "が退室しました"
        else:
            return
        settings = await self.bot.guild_settings.get(member.guild.id)
        if not settings.announce_join_leave:
            return
        if await self.bot.guild_settings.is_opted_out(member.guild.id, member.id):
            return  # opted out: the bot says nothing about them, not even their name
        if not self.limits.messages.allow(member.id):
            # Hopping in and out of voice is flooding too; it shares the member's message budget.
            log.info("guild %s: user %s joins and leaves too fast, not announcing", member.guild.id, member.id)
            return
        reading = ReadingSettings.from_dict(settings.reading, ignore_unknown=True)
        profile = await self.bot.voices.get(member.id)
        dictionary = await self._dictionary(member.guild.id, member.id)
        name = await asyncio.to_thread(speakable_phrase, profile.spoken_name or member.display_name, reading, dictionary)
        shared = await shared_reference(self.bot, member.guild.id, profile.shared_voice)
        self._speak(player, session, settings, member.id, f"{name or 'だれか'}さん{action}", profile, shared)

    async def _should_read(self, message: discord.Message, settings: "GuildSettings", voice_channel) -> bool:
        if settings.skip_prefix and message.content.startswith(settings.skip_prefix):
            return False
        author = message.author
        if await self.bot.guild_settings.is_opted_out(message.guild.id, author.id):  # type: ignore[union-attr]
            return False
        if isinstance(author, discord.Member):
            if settings.required_role_id and not any(r.id == settings.required_role_id for r in author.roles):
                return False
            if settings.read_only_members_in_voice and (author.voice is None or author.voice.channel != voice_channel):
                return False
        return True

    async def _dictionary(self, guild_id: int, user_id: int) -> ReadingDictionary | None:
        """The user's dictionary over the server's, compiled once per version."""
        layers = []
        for scope in (DictScope.user(user_id), DictScope.guild(guild_id)):
            version = await self.bot.dictionaries.version(scope)
            cached = self._dictionaries.get(scope)
            if cached is None or cached[0] != version:
                entries = await self.bot.dictionaries.entries(scope)
                # Compiling a large dictionary is CPU work: keep it off the event loop.
                cached = (version, await asyncio.to_thread(ReadingDictionary, entries))
                self._dictionaries[scope] = cached
            self._dictionaries.move_to_end(scope)
            while len(self._dictionaries) > MAX_CACHED_DICTIONARIES:
                self._dictionaries.popitem(last=False)
            layers.append(cached[1])
        # A new pair of layers is compiled into one automaton: CPU work, so in a thread.
        return await asyncio.to_thread(ReadingDictionary.layered, *layers)

    def forget_dictionary(self, scope: DictScope) -> None:
        self._dictionaries.pop(scope, None)

    @commands.Cog.listener()
    async def on_guild_channel_delete(self, channel: discord.abc.GuildChannel) -> None:
        """A deleted channel leaves the server's read list (which the store caps in size)."""
        settings = await self.bot.guild_settings.get(channel.guild.id)
        if channel.id in settings.read_channel_ids:
            remaining = tuple(c for c in settings.read_channel_ids if c != channel.id)
            await self.bot.guild_settings.update(channel.guild.id, read_channel_ids=remaining)
        session = self.sessions.get(channel.guild.id)
        if session is not None:
            session.channel_ids.discard(channel.id)

    @commands.Cog.listener()
    async def on_guild_remove(self, guild: discord.Guild) -> None:
        """Kicked or the server was deleted: forget everything kept for it."""
        self.sessions.pop(guild.id, None)
        self._dictionaries.pop(DictScope.guild(guild.id), None)


def chat_message(message: discord.Message) -> ChatMessage:
    """The plain-data view of a Discord message that the text pipeline reads."""
    reference = message.reference.resolved if message.reference else None
    reply_to = reference.author.display_name if isinstance(reference, discord.Message) else None
    return ChatMessage(
        content=message.content,
        author_name=message.author.display_name,
        user_names={m.id: m.display_name for m in message.mentions},
        role_names={r.id: r.name for r in message.role_mentions},
        channel_names={c.id: c.name for c in message.channel_mentions},
        attachments=tuple(Attachment(a.filename, a.content_type) for a in message.attachments),
        sticker_names=tuple(s.name for s in message.stickers),
        is_reply=message.type == discord.MessageType.reply,
        reply_to_name=reply_to,
        created_at=message.created_at.timestamp(),
    )
