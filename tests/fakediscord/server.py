"""FakeDiscord: Discord's REST API, gateway, voice gateway and voice UDP on 127.0.0.1, for the real discord.py."""
from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

import numpy as np
from aiohttp import web

from . import invocations, payloads, rest_app, rest_interactions, rest_messages
from .commands import CommandRegistry
from .gateway import Endpoints, Gateway
from .interactions import Choice, InteractionHandle
from .messages import MessageStore, SentFile, SentMessage, StoredMessage, Upload
from .rest import API_PREFIX, RestCall, RestRouter
from .voice import VoiceLog, VoiceServer
from .waiting import DEFAULT_TIMEOUT, Changes
from .world import FakeChannel, FakeGuild, FakeUser, World

UserRef = FakeUser | str


class FakeDiscord:
    """An async context manager serving one small Discord world on random local ports."""

    def __init__(
        self, *, guilds: int = 1, token: str | None = None, interaction_deadline: float | None = 3.0
    ) -> None:
        self.token = token or f"fake.{secrets.token_urlsafe(24)}"
        self.interaction_deadline = interaction_deadline
        self.world = World(guild_count=guilds)
        self.changes = Changes(self.describe_recent)
        self.store = MessageStore(self.world.ids)
        self.commands = CommandRegistry(self.world.ids, self.world.application_id)
        self.voice_server = VoiceServer(self.changes)
        self.voice = VoiceLog(self.voice_server, self.world)
        self.gateway = Gateway(self.world, self.voice_server, self.changes, self.token)
        self.router = RestRouter(self.token)
        self.router.on_call = self.changes.notify
        self.interactions: dict[str, InteractionHandle] = {}
        self.port = 0
        self._runner: web.AppRunner | None = None
        for module in (rest_app, rest_messages, rest_interactions):
            module.register(self)

    # Lifecycle.
    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(self, *exc: object | TracebackType | None) -> None:
        await self.stop()

    async def start(self) -> None:
        """Listen on 127.0.0.1 (HTTP + websockets on one port, voice on a UDP port)."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self.gateway.serve)
        app.router.add_get("/voice/", self.voice_server.serve)
        app.router.add_get("/attachments/{path:.*}", self._cdn)
        app.router.add_route("*", API_PREFIX + "/{path:.*}", self.router.handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        await self.voice_server.start()
        self.store.cdn_base = self.http_base
        self.gateway.endpoints = Endpoints(self.gateway_url, f"127.0.0.1:{self.port}/voice")

    async def stop(self) -> None:
        """Close every connection and the sockets."""
        await self.voice_server.stop()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _cdn(self, request: web.Request) -> web.Response:
        file = self.store.cdn.get(request.path)
        if file is None:
            return web.Response(status=404)
        return web.Response(body=file.data, content_type=file.content_type or "application/octet-stream")

    # Addresses.
    @property
    def http_base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        """What `discord.http.Route.BASE` must be set to."""
        return self.http_base + API_PREFIX

    @property
    def gateway_url(self) -> str:
        """What `DiscordWebSocket.DEFAULT_GATEWAY` must be set to."""
        return f"ws://127.0.0.1:{self.port}/gateway"

    # The world.
    @property
    def guild(self) -> FakeGuild:
        """The first (usually only) guild."""
        return self.world.guilds[0]

    @property
    def guilds(self) -> list[FakeGuild]:
        return self.world.guilds

    @property
    def bot_user(self) -> FakeUser:
        return self.world.bot_user

    def user(self, who: UserRef | int) -> FakeUser:
        """A fake user by name ("alice", "bob", "carol", "otherbot") or id."""
        return self.world.user(who)

    # What the bot did.
    @property
    def rest_log(self) -> list[RestCall]:
        """Every REST call the bot made, in order."""
        return self.router.log

    @property
    def unhandled(self) -> list[RestCall]:
        """REST calls the fake had no route for (answered 404)."""
        return [c for c in self.router.log if not c.handled]

    def rest_calls(self, method: str | None = None, path: str = "") -> list[RestCall]:
        """REST calls filtered by method and a regex searched in the path."""
        return [c for c in self.router.log if (method in (None, c.method)) and re.search(path, c.path)]

    def registered_commands(self, guild: FakeGuild | None = None) -> list[dict[str, Any]]:
        """The commands the bot synced: global ones, or one guild's when `guild` is given."""
        return list(self.commands.scopes.get(guild.id if guild else None, []))

    async def wait_for_commands(self, *names: str, guild: FakeGuild | None = None,
                                timeout: float = DEFAULT_TIMEOUT) -> list[str]:
        """Wait until the named commands (or any, when none are named) are visible in `guild`."""
        guild_id = self.world.guild(guild).id

        def ready() -> list[str] | None:
            have = self.commands.names(guild_id)
            return have if (set(names) <= set(have) and (names or have)) else None

        return await self.changes.wait_for(ready, timeout=timeout, what=f"commands {names or 'any'} to be synced")

    def sent_messages(self, channel: FakeChannel | None = None, *, include_deleted: bool = False) -> list[SentMessage]:
        """Messages the bot posted to channels (not interaction responses), oldest first."""
        found = [
            m.snapshot() for m in self.store.by_id.values()
            if m.kind == "channel" and (channel is None or m.channel_id == channel.id)
            and (include_deleted or not m.deleted)
        ]
        return found

    async def wait_for_message(self, channel: FakeChannel | None = None, *, contains: str = "",
                               timeout: float = DEFAULT_TIMEOUT) -> SentMessage:
        """The first channel message from the bot (already sent or still to come) containing `contains`."""
        def ready() -> SentMessage | None:
            return next((m for m in self.sent_messages(channel) if contains in m.text), None)

        return await self.changes.wait_for(ready, timeout=timeout, what=f"a bot message containing {contains!r}")

    def message(self, message_id: int) -> SentMessage:
        """Any message (the bot's or a user's) as it looks now."""
        return self.store.by_id[message_id].snapshot()

    def reactions(self, message_id: int) -> list[str]:
        """Emoji the bot has added to a message."""
        return list(self.store.by_id[message_id].reactions)

    async def wait_for_reaction(self, message_id: int, emoji: str | None = None,
                                timeout: float = DEFAULT_TIMEOUT) -> list[str]:
        """Wait until the bot reacted to a message (with `emoji`, if given)."""
        record = self.store.by_id[message_id]
        return await self.changes.wait_for(
            lambda: list(record.reactions) if (emoji in record.reactions if emoji else record.reactions) else None,
            timeout=timeout, what=f"a reaction {emoji or ''} on message {message_id}",
        )

    async def wait_for_audio(self, seconds: float = 0.02, *, guild: FakeGuild | None = None,
                             timeout: float = DEFAULT_TIMEOUT) -> np.ndarray:
        """Wait for `seconds` of audio in a guild's voice (default: first guild); returns the PCM."""
        return await self.voice[self.world.guild(guild)].wait_for_audio(seconds, timeout)

    # Acting as users and as Discord.
    async def send_interaction(
        self, name: str, options: Mapping[str, invocations.OptionValue] | None = None, *,
        subcommand: str | None = None, user: UserRef = "alice", guild: FakeGuild | None = None,
        channel: FakeChannel | None = None,
    ) -> InteractionHandle:
        """A user runs `/name [subcommand] options...`; returns a handle to follow the bot's answer."""
        return await self._command(invocations.APPLICATION_COMMAND, name, options or {}, subcommand, user, guild,
                                   channel, focused=None)

    async def autocomplete(
        self, name: str, focused: str, value: str = "", *, options: Mapping[str, invocations.OptionValue] | None = None,
        subcommand: str | None = None, user: UserRef = "alice", guild: FakeGuild | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> list[Choice]:
        """A user types `value` into option `focused` of `/name`; returns the bot's suggestions."""
        values = {**(options or {}), focused: value}
        handle = await self._command(invocations.AUTOCOMPLETE, name, values, subcommand, user, guild, None,
                                     focused=focused)
        return await handle.wait_choices(timeout)

    async def click_button(self, message: SentMessage | int, custom_id: str, *, user: UserRef = "alice",
                           values: Sequence[str] | None = None) -> InteractionHandle:
        """A user clicks a button (or picks `values` in a select menu) on a bot message."""
        record = self.store.by_id[message if isinstance(message, int) else message.id]
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": 2 if values is None else 3}
        if values is not None:
            data["values"] = list(values)
        guild = self._guild_of(record.channel_id)
        extra = {"message": self.store.payload(record)}
        return await self._interact(invocations.MESSAGE_COMPONENT, custom_id, data, user, guild,
                                    guild.channel(record.channel_id), source=record, extra=extra)

    async def submit_modal(self, custom_id: str, values: Mapping[str, str], *, user: UserRef = "alice",
                           guild: FakeGuild | None = None) -> InteractionHandle:
        """A user submits a modal the bot opened, with text inputs keyed by their custom_id."""
        guild_ = self.world.guild(guild)
        return await self._interact(invocations.MODAL_SUBMIT, custom_id, invocations.modal_data(custom_id, values),
                                    user, guild_, guild_.text)

    async def send_message(
        self, content: str, *, author: UserRef = "bob", channel: FakeChannel | None = None,
        attachments: Sequence[Upload] = (),
    ) -> SentMessage:
        """A user posts in a channel (default: the first guild's text channel); the bot gets MESSAGE_CREATE."""
        await self.gateway.wait_identified()
        channel = channel or self.guild.text
        user = self.world.user(author)
        record = self.store.create(
            channel_id=channel.id, guild_id=channel.guild_id, author=user, kind="user", body={"content": content},
            uploads=[SentFile(a.filename, a.data, None, a.content_type) for a in attachments],
        )
        mentioned = {int(i) for i in re.findall(r"<@!?(\d+)>", content)}
        record.mentions = [u for u in self._guild_of(channel.id).members if u.id in mentioned]
        await self.gateway_message_create(record)
        return record.snapshot()

    async def move_member(self, user: UserRef, channel: FakeChannel | None, *, guild: FakeGuild | None = None) -> None:
        """Someone joins, switches or leaves voice (channel None); for the bot this is a forced move/kick."""
        await self.gateway.wait_identified()
        target_guild = self._guild_of(channel.id) if channel else self.world.guild(guild)
        await self.gateway.move(target_guild, self.world.user(user), channel)

    # Plumbing shared by the route modules.
    async def gateway_message_create(self, record: StoredMessage) -> None:
        """Dispatch MESSAGE_CREATE; content is blanked for clients without the message content intent."""
        data = self.store.payload(record)
        data["member"] = payloads.member(self._guild_of(record.channel_id), record.author)
        del data["member"]["user"]
        bot_id = self.bot_user.id
        await self.gateway.message_create(
            data, content_for_all=record.author.id == bot_id or any(u.id == bot_id for u in record.mentions)
        )
        self.changes.notify()

    async def _command(
        self, kind: int, name: str, values: Mapping[str, invocations.OptionValue], subcommand: str | None,
        user: UserRef, guild: FakeGuild | None, channel: FakeChannel | None, *, focused: str | None,
    ) -> InteractionHandle:
        guild_ = self._guild_of(channel.id) if channel else self.world.guild(guild)
        command = self.commands.find(name, guild_.id)
        builder = invocations.CommandOptions(guild_, self.store.publish)
        options = builder.build(command, (subcommand or "").split(), values, focused)
        data = invocations.command_data(command, name, self.world.ids.next(), options, builder.resolved)
        note = "" if command else f"/{name} was never synced; synced: {self.commands.names(guild_.id)}"
        return await self._interact(kind, name, data, user, guild_, channel or guild_.text, note=note)

    async def _interact(
        self, kind: int, name: str, data: dict[str, Any], user: UserRef, guild: FakeGuild, channel: FakeChannel | None,
        *, source: StoredMessage | None = None, extra: dict[str, Any] | None = None, note: str = "",
    ) -> InteractionHandle:
        session = await self.gateway.wait_identified()
        channel = channel or guild.text
        interaction_id, token = self.world.ids.next(), f"itoken.{secrets.token_urlsafe(32)}"
        who = invocations.Invoker(self.world.user(user), guild, channel)
        payload = invocations.envelope(kind, interaction_id, token, self.world.application_id, who, data)
        payload.update(extra or {})
        handle = InteractionHandle(interaction_id=interaction_id, token=token, kind=kind, name=name,
                                   channel_id=channel.id, guild_id=guild.id, changes=self.changes, source=source,
                                   note=note)
        self.interactions[token] = handle
        await session.dispatch("INTERACTION_CREATE", payload)
        return handle

    def _guild_of(self, channel_id: int) -> FakeGuild:
        channel = self.world.channel(channel_id)
        if channel is None:
            raise LookupError(f"no fake channel {channel_id}")
        return self.world.guild(channel.guild_id)

    def describe_recent(self) -> str:
        """The last REST calls and any unhandled ones, for failure messages."""
        lines = [f"  {c}" for c in self.router.log[-8:]]
        unhandled = [f"  {c}" for c in self.unhandled]
        text = "recent REST calls:\n" + ("\n".join(lines) or "  (none)")
        if unhandled:
            text += "\nunhandled REST calls:\n" + "\n".join(unhandled)
        return text
