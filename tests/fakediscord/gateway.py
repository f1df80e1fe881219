"""The fake main gateway: HELLO, IDENTIFY→READY+GUILD_CREATE, voice state updates, member chunks, dispatch."""
from __future__ import annotations

import json
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

from . import payloads
from .voice import VoiceServer
from .waiting import DEFAULT_TIMEOUT, Changes
from .world import FakeChannel, FakeGuild, FakeUser, VoiceStateRecord, World

log = logging.getLogger(__name__)

# Gateway opcodes.
DISPATCH, HEARTBEAT, IDENTIFY, PRESENCE, VOICE_STATE, RESUME = 0, 1, 2, 3, 4, 6
REQUEST_MEMBERS, HELLO, HEARTBEAT_ACK = 8, 10, 11
CLOSE_AUTHENTICATION_FAILED = 4004

# Intent bits that decide which events a client receives.
GUILD_MEMBERS, GUILD_VOICE_STATES, GUILD_MESSAGES, MESSAGE_CONTENT = 1 << 1, 1 << 7, 1 << 9, 1 << 15


@dataclass(frozen=True)
class GatewayFrame:
    """One frame the bot sent on the main gateway."""

    op: int
    data: Any
    at: float


@dataclass(frozen=True)
class Endpoints:
    """Where the fake listens, as URLs the bot is given."""

    gateway_url: str
    voice_endpoint: str


class GatewaySession:
    """One main-gateway websocket from the bot."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.seq = 0
        self.session_id = secrets.token_hex(16)
        self.intents = 0
        self.identified = False
        self.shard = (0, 1)  # (shard id, shard count) from IDENTIFY

    def owns(self, guild_id: int | None) -> bool:
        """Discord's rule: a guild's events go to shard (guild_id >> 22) % shard count."""
        shard_id, count = self.shard
        return guild_id is None or (guild_id >> 22) % count == shard_id

    async def send(self, op: int, data: Any) -> None:
        await self.ws.send_str(json.dumps({"op": op, "d": data, "s": None, "t": None}))

    async def dispatch(self, event: str, data: Any) -> None:
        self.seq += 1
        await self.ws.send_str(json.dumps({"op": DISPATCH, "d": data, "s": self.seq, "t": event}))


class Gateway:
    """Serves the gateway websocket and pushes events to every identified session."""

    def __init__(self, world: World, voice: VoiceServer, changes: Changes, token: str) -> None:
        self.world = world
        self.voice = voice
        self.changes = changes
        self.token = token
        self.endpoints = Endpoints("", "")
        self.sessions: list[GatewaySession] = []
        self.frames: list[GatewayFrame] = []

    @property
    def identified(self) -> list[GatewaySession]:
        return [s for s in self.sessions if s.identified and not s.ws.closed]

    async def wait_identified(self, timeout: float = DEFAULT_TIMEOUT) -> GatewaySession:
        """The first identified session (waits for a client to log in)."""
        return await self.changes.wait_for(
            lambda: self.identified[0] if self.identified else None, timeout=timeout, what="a client to IDENTIFY"
        )

    async def dispatch(self, event: str, data: Any, *, intent: int = 0) -> None:
        """Send an event to every identified session whose intents include `intent` (and whose shard has the guild)."""
        guild_id = _guild_of(data)
        for session in self.identified:
            if (intent == 0 or session.intents & intent) and session.owns(guild_id):
                await session.dispatch(event, data)

    async def message_create(self, data: dict[str, Any], *, content_for_all: bool) -> None:
        """MESSAGE_CREATE as Discord filters it: guild messages intent needed, and without the message
        content intent the text is blank unless the bot wrote the message or is mentioned in it."""
        for session in self.identified:
            if not session.intents & GUILD_MESSAGES or not session.owns(_guild_of(data)):
                continue
            event = data
            if not (session.intents & MESSAGE_CONTENT or content_for_all):
                event = {**data, "content": "", "attachments": [], "embeds": [], "components": []}
            await session.dispatch("MESSAGE_CREATE", event)

    async def serve(self, request: web.Request) -> web.WebSocketResponse:
        """The gateway websocket handler."""
        ws = web.WebSocketResponse(max_msg_size=0, timeout=2.0)
        await ws.prepare(request)
        session = GatewaySession(ws)
        self.sessions.append(session)
        try:
            await session.send(HELLO, {"heartbeat_interval": 41250})
            async for message in ws:
                if message.type is WSMsgType.TEXT:
                    frame = json.loads(message.data)
                    self.frames.append(GatewayFrame(frame["op"], frame.get("d"), time.monotonic()))
                    await self._handle(session, frame["op"], frame.get("d"))
        finally:
            self.sessions.remove(session)
            self.changes.notify()
        return ws

    async def _handle(self, session: GatewaySession, op: int, data: Any) -> None:
        if op == HEARTBEAT:
            await session.send(HEARTBEAT_ACK, None)
        elif op == IDENTIFY:
            await self._identify(session, data)
        elif op == RESUME:
            await session.dispatch("RESUMED", {})
        elif op == VOICE_STATE:
            await self._bot_voice_state(session, data)
        elif op == REQUEST_MEMBERS:
            await self._member_chunk(session, data)
        elif op != PRESENCE:
            log.debug("ignoring gateway op %s: %s", op, data)

    async def _identify(self, session: GatewaySession, data: dict[str, Any]) -> None:
        if data.get("token") != self.token:
            await session.ws.close(code=CLOSE_AUTHENTICATION_FAILED, message=b"Authentication failed.")
            return
        session.intents = int(data.get("intents") or 0)
        session.shard = tuple(data.get("shard") or (0, 1))  # type: ignore[assignment]
        world = self.world
        guilds = [g for g in world.guilds if session.owns(g.id)]
        await session.dispatch("READY", {
            "v": 10,
            "user": payloads.client_user(world.bot_user),
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": session.session_id,
            "shard": list(session.shard),
            "resume_gateway_url": self.endpoints.gateway_url,
            "application": {"id": str(world.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "user_settings": {},
        })
        for guild in guilds:
            await session.dispatch("GUILD_CREATE", payloads.guild(
                guild, all_members=bool(session.intents & GUILD_MEMBERS), bot=world.bot_user
            ))
        session.identified = True
        self.changes.notify()

    async def _member_chunk(self, session: GatewaySession, data: dict[str, Any]) -> None:
        guild = self.world.guild(int(data["guild_id"]))
        wanted = {int(u) for u in data.get("user_ids") or []}
        query = (data.get("query") or "").lower()
        members = [m for m in guild.members if (not wanted or m.id in wanted) and m.name.lower().startswith(query)]
        await session.dispatch("GUILD_MEMBERS_CHUNK", {
            "guild_id": str(guild.id),
            "members": [payloads.member(guild, m) for m in members],
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
            "nonce": data.get("nonce"),
        })

    async def _bot_voice_state(self, session: GatewaySession, data: dict[str, Any]) -> None:
        """Op 4 from the bot: join, move or leave, answered like Discord does."""
        guild = self.world.guild(int(data["guild_id"]))
        channel = guild.channel(int(data["channel_id"])) if data.get("channel_id") else None
        # When the bot leaves on its own it closes its voice websocket itself; Discord only cuts it on moves.
        await self.move(
            guild, self.world.bot_user, channel, session_id=session.session_id,
            self_mute=bool(data.get("self_mute")), self_deaf=bool(data.get("self_deaf")), cut_voice=channel is not None,
        )

    async def move(
        self, guild: FakeGuild, user: FakeUser, channel: FakeChannel | None, *,
        session_id: str | None = None, self_mute: bool = False, self_deaf: bool = False, cut_voice: bool = True,
    ) -> None:
        """Put `user` into `channel` (None: out of voice) and tell the clients, including the voice handover.

        For the bot, a new channel brings VOICE_SERVER_UPDATE, and `cut_voice` closes the old voice
        websocket with 4014 as Discord does when a bot is moved or disconnected by someone else.
        """
        previous = guild.voice_states.get(user.id)
        is_bot = user.id == self.world.bot_user.id
        if is_bot and session_id is None:
            owners = [s for s in self.identified if s.owns(guild.id)]
            session_id = owners[0].session_id if owners else secrets.token_hex(16)
        session_id = session_id or (previous.session_id if previous else f"session-{user.id}")
        if channel is None:
            guild.voice_states.pop(user.id, None)
        else:
            guild.voice_states[user.id] = VoiceStateRecord(user.id, channel.id, session_id, self_mute, self_deaf)
        if is_bot:
            self.voice.voice(guild.id).channel_id = channel.id if channel else None
        record = guild.voice_states.get(user.id)
        await self.dispatch(
            "VOICE_STATE_UPDATE", payloads.voice_state(guild, user, record, session_id=session_id),
            intent=GUILD_VOICE_STATES,
        )
        if is_bot and channel is not None and (previous is None or previous.channel_id != channel.id):
            grant = self.voice.grant(guild.id, user.id, session_id)
            await self.dispatch("VOICE_SERVER_UPDATE", {
                "token": grant.token, "guild_id": str(guild.id), "endpoint": self.endpoints.voice_endpoint,
            })
        if cut_voice and is_bot and previous is not None and (channel is None or previous.channel_id != channel.id):
            self.voice.disconnect(guild.id)
        self.changes.notify()


def _guild_of(data: Any) -> int | None:
    """The guild an event belongs to (None: not a guild event)."""
    if isinstance(data, dict) and data.get("guild_id"):
        return int(data["guild_id"])
    return None
