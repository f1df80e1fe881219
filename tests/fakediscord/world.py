"""The small world the fake Discord serves: users, guilds, channels and who sits in which voice channel."""
from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Literal

import discord

DISCORD_EPOCH_MS = 1420070400000

# What @everyone may do in the fake guilds: enough to chat, upload and speak, nothing to administer.
EVERYONE_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    read_message_history=True,
    attach_files=True,
    embed_links=True,
    add_reactions=True,
    use_application_commands=True,
    connect=True,
    speak=True,
    use_voice_activation=True,
)
BOT_PERMISSIONS = EVERYONE_PERMISSIONS | discord.Permissions(manage_messages=True, priority_speaker=True)


class Snowflakes:
    """Hands out unique, time-based snowflake ids (so `created_at` looks like now)."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)

    def next(self) -> int:
        """A new snowflake id."""
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        return (ms << 22) | (next(self._counter) & 0x3FFFFF)


@dataclass(eq=False)
class FakeUser:
    """A Discord account; the same user can be a member of several fake guilds."""

    id: int
    name: str
    bot: bool = False
    admin: bool = False
    locale: str = "en-US"  # the language the user picked in Discord; interactions carry it

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"


@dataclass(eq=False)
class FakeChannel:
    """A guild channel: `kind` is "text" or "voice"."""

    id: int
    name: str
    kind: Literal["text", "voice"]
    guild_id: int
    position: int = 0
    # Members denied View Channel here by a member permission overwrite.
    hidden_from: frozenset[int] = frozenset()

    @property
    def type(self) -> int:
        return 0 if self.kind == "text" else 2

    @property
    def mention(self) -> str:
        return f"<#{self.id}>"


@dataclass(frozen=True)
class VoiceStateRecord:
    """Where one member sits in voice, as Discord reports it."""

    user_id: int
    channel_id: int
    session_id: str
    self_mute: bool = False
    self_deaf: bool = False


@dataclass(eq=False)
class FakeGuild:
    """A guild with one text channel, two voice channels and a fixed cast of members."""

    id: int
    name: str
    owner_id: int
    admin_role_id: int
    text: FakeChannel
    voice: FakeChannel
    other_voice: FakeChannel
    members: list[FakeUser] = field(default_factory=list)
    voice_states: dict[int, VoiceStateRecord] = field(default_factory=dict)
    extra_channels: list[FakeChannel] = field(default_factory=list)
    locale: str = "en-US"  # the server's preferred locale (Community servers can change it)

    @property
    def channels(self) -> list[FakeChannel]:
        return [self.text, self.voice, self.other_voice, *self.extra_channels]

    def channel(self, channel_id: int) -> FakeChannel | None:
        """The channel with this id, if it belongs to the guild."""
        return next((c for c in self.channels if c.id == channel_id), None)

    def member(self, user_id: int) -> FakeUser | None:
        """The member with this id, if any."""
        return next((m for m in self.members if m.id == user_id), None)

    def in_voice(self, channel: FakeChannel | None = None) -> list[FakeUser]:
        """Members currently in `channel` (or in any voice channel of the guild)."""
        return [
            m
            for m in self.members
            if m.id in self.voice_states and (channel is None or self.voice_states[m.id].channel_id == channel.id)
        ]

    def permissions_of(self, user: FakeUser) -> discord.Permissions:
        """Guild-wide permissions of a member (no channel overwrites exist in the fake)."""
        if user.admin or user.id == self.owner_id:
            return discord.Permissions.all()
        return BOT_PERMISSIONS if user.bot else EVERYONE_PERMISSIONS


class World:
    """Everything the fake knows about accounts and guilds."""

    def __init__(self, *, guild_count: int = 1, bot_name: str = "LlasaBot") -> None:
        self.ids = Snowflakes()
        self.application_id = self.ids.next()
        # Like every modern app, the bot user shares its id with the application.
        self.bot_user = FakeUser(id=self.application_id, name=bot_name, bot=True)
        self.users: dict[str, FakeUser] = {
            "alice": FakeUser(self.ids.next(), "alice", admin=True),
            "bob": FakeUser(self.ids.next(), "bob"),
            "carol": FakeUser(self.ids.next(), "carol"),
            "otherbot": FakeUser(self.ids.next(), "otherbot", bot=True),
        }
        self.guilds: list[FakeGuild] = [self._make_guild(n) for n in range(guild_count)]

    def _make_guild(self, n: int) -> FakeGuild:
        guild_id = self.ids.next()
        alice = self.users["alice"]
        guild = FakeGuild(
            id=guild_id,
            name=f"Test Guild {n + 1}",
            owner_id=alice.id,
            admin_role_id=self.ids.next(),
            text=FakeChannel(self.ids.next(), "general", "text", guild_id, 0),
            voice=FakeChannel(self.ids.next(), "Voice", "voice", guild_id, 1),
            other_voice=FakeChannel(self.ids.next(), "Lounge", "voice", guild_id, 2),
            members=[self.bot_user, *self.users.values()],
        )
        # alice and bob (and another bot) are already talking when the bot starts.
        for name in ("alice", "bob", "otherbot"):
            user = self.users[name]
            guild.voice_states[user.id] = VoiceStateRecord(user.id, guild.voice.id, f"session-{user.id}")
        return guild

    def add_text_channel(self, guild: FakeGuild, name: str, *, hidden_from: tuple[FakeUser, ...] = ()) -> FakeChannel:
        """Another text channel (before the client connects), optionally hidden from some members."""
        channel = FakeChannel(self.ids.next(), name, "text", guild.id, len(guild.channels),
                              frozenset(u.id for u in hidden_from))
        guild.extra_channels.append(channel)
        return channel

    def user(self, who: FakeUser | str | int) -> FakeUser:
        """Look a user up by object, name or id."""
        if isinstance(who, FakeUser):
            return who
        for user in (self.bot_user, *self.users.values()):
            if who in (user.name, user.id):
                return user
        raise LookupError(f"no fake user {who!r}; known: {[u.name for u in self.users.values()]}")

    def guild(self, which: FakeGuild | int | None = None) -> FakeGuild:
        """Look a guild up by object or id; None means the first guild."""
        if which is None:
            return self.guilds[0]
        if isinstance(which, FakeGuild):
            return which
        for guild in self.guilds:
            if guild.id == which:
                return guild
        raise LookupError(f"no fake guild {which!r}")

    def channel(self, channel_id: int) -> FakeChannel | None:
        """Any guild channel by id."""
        for guild in self.guilds:
            channel = guild.channel(channel_id)
            if channel is not None:
                return channel
        return None
