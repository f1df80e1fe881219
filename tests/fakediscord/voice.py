"""The fake voice server: the voice gateway websocket (v8) and the UDP socket that receives RTP."""
from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import secrets
import struct
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

from .audio import SUPPORTED_MODE, GuildVoice, RtpStream, SpeakingEvent
from .waiting import Changes
from .world import FakeGuild, World

log = logging.getLogger(__name__)

# Voice gateway opcodes.
IDENTIFY, SELECT_PROTOCOL, READY, HEARTBEAT, SESSION_DESCRIPTION, SPEAKING = 0, 1, 2, 3, 4, 5
HEARTBEAT_ACK, RESUME, HELLO, RESUMED = 6, 7, 8, 9
CLOSE_AUTHENTICATION_FAILED, CLOSE_DISCONNECTED, CLOSE_UNKNOWN_ENCRYPTION_MODE = 4004, 4014, 4016


@dataclass(frozen=True)
class VoiceGrant:
    """What VOICE_SERVER_UPDATE handed out: the client must IDENTIFY with exactly these."""

    guild_id: int
    user_id: int
    session_id: str
    token: str


# An empty RTCP receiver report: what the fake sends to wake a client socket (see VoiceUdp.nudge_replaced).
RTCP_RECEIVER_REPORT = b"\x80\xc9\x00\x01\x00\x00\x00\x00"


class VoiceUdp(asyncio.DatagramProtocol):
    """Answers IP discovery and feeds RTP packets to their stream by SSRC."""

    def __init__(self, streams: dict[int, RtpStream], guild_of_ssrc: dict[int, int]) -> None:
        self.streams = streams
        self.guild_of_ssrc = guild_of_ssrc
        self.client_addresses: dict[int, tuple[str, int]] = {}  # guild id -> the bot's current UDP address
        self.transport: asyncio.DatagramTransport | None = None
        self.unknown_packets = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) == 74 and data[:4] == b"\x00\x01\x00\x46":
            assert self.transport is not None
            reply = bytearray(74)
            struct.pack_into(">HHI", reply, 0, 2, 70, struct.unpack_from(">I", data, 4)[0])
            reply[8 : 8 + len(addr[0])] = addr[0].encode("ascii")
            struct.pack_into(">H", reply, 72, addr[1])
            self.transport.sendto(bytes(reply), addr)
            self.nudge_replaced(struct.unpack_from(">I", data, 4)[0], addr)
            return
        ssrc = struct.unpack_from(">I", data, 8)[0] if len(data) >= 12 else -1
        stream = self.streams.get(ssrc)
        if stream is None or (data[0] & 0xC0) != 0x80:
            self.unknown_packets += 1
            return
        stream.receive(data)

    def nudge_replaced(self, ssrc: int, addr: tuple[str, int]) -> None:
        """Send one RTCP packet to the bot's previous UDP socket in this guild when a new one shows up.

        discord.py's socket reader can sit in a 30 s select() on the old socket after a move, so the new
        IP discovery answer would wait that long; on real Discord other speakers' packets end that wait.
        """
        guild_id = self.guild_of_ssrc.get(ssrc)
        if guild_id is None or self.transport is None:
            return
        previous = self.client_addresses.get(guild_id)
        self.client_addresses[guild_id] = addr
        if previous is not None and previous != addr:
            self.transport.sendto(RTCP_RECEIVER_REPORT, previous)


class VoiceServer:
    """Voice connections per guild: grants, websockets, RTP streams and the received audio."""

    def __init__(self, changes: Changes) -> None:
        self.changes = changes
        self.voices: dict[int, GuildVoice] = {}
        self.streams: dict[int, RtpStream] = {}
        self.guild_of_ssrc: dict[int, int] = {}
        self.udp = VoiceUdp(self.streams, self.guild_of_ssrc)
        self.udp_port = 0
        self._grants: dict[int, VoiceGrant] = {}
        self._sockets: dict[int, set[web.WebSocketResponse]] = {}
        self._ssrcs = itertools.count(1001)
        self._closing: set[asyncio.Task[bool]] = set()

    async def start(self) -> None:
        """Open the UDP socket on a random local port."""
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: self.udp, local_addr=("127.0.0.1", 0))
        self.udp_port = transport.get_extra_info("sockname")[1]

    async def stop(self) -> None:
        """Close every voice websocket and the UDP socket."""
        for sockets in self._sockets.values():
            for ws in list(sockets):
                await ws.close(code=1001)
        for task in list(self._closing):
            task.cancel()
        if self.udp.transport is not None:
            self.udp.transport.close()

    def voice(self, guild_id: int) -> GuildVoice:
        """The received-audio record of a guild (created on first use)."""
        if guild_id not in self.voices:
            self.voices[guild_id] = GuildVoice(guild_id, self.changes)
        return self.voices[guild_id]

    def grant(self, guild_id: int, user_id: int, session_id: str) -> VoiceGrant:
        """A fresh voice token for VOICE_SERVER_UPDATE."""
        grant = VoiceGrant(guild_id, user_id, session_id, secrets.token_hex(8))
        self._grants[guild_id] = grant
        return grant

    def disconnect(self, guild_id: int) -> None:
        """Close the guild's voice websockets the way Discord does when the bot is moved or kicked (4014).

        The close runs in the background: its handshake needs the bot's reply, which may come later.
        """
        for ws in list(self._sockets.get(guild_id, ())):
            task = asyncio.create_task(ws.close(code=CLOSE_DISCONNECTED, message=b"Disconnected"))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    def admit(self, identify: dict[str, Any], ws: web.WebSocketResponse) -> int | None:
        """Check an IDENTIFY against the grant; returns the SSRC assigned, or None to refuse."""
        grant = self._grants.get(int(identify["server_id"]))
        if grant is None or (grant.token, grant.session_id, grant.user_id) != (
            identify["token"], identify["session_id"], int(identify["user_id"])
        ):
            return None
        self._sockets.setdefault(grant.guild_id, set()).add(ws)
        ssrc = next(self._ssrcs)
        self.guild_of_ssrc[ssrc] = grant.guild_id
        return ssrc

    def open_stream(self, guild_id: int, ssrc: int) -> bytes:
        """Create the RTP stream for a connection that selected its protocol; returns its secret key."""
        key = os.urandom(32)
        voice = self.voice(guild_id)
        self.streams[ssrc] = RtpStream(ssrc, key, voice)
        voice.open_sessions += 1
        voice.sessions_started += 1
        self.changes.notify()
        return key

    def release(self, guild_id: int, ws: web.WebSocketResponse, ssrc: int | None) -> None:
        """Forget a closed connection and its stream."""
        self._sockets.get(guild_id, set()).discard(ws)
        if ssrc is not None and self.streams.pop(ssrc, None) is not None:
            self.voice(guild_id).open_sessions -= 1
        self.changes.notify()

    async def serve(self, request: web.Request) -> web.WebSocketResponse:
        """The voice gateway websocket: HELLO, IDENTIFY→READY, SELECT_PROTOCOL→SESSION_DESCRIPTION, heartbeats."""
        ws = web.WebSocketResponse(max_msg_size=0, timeout=2.0)
        await ws.prepare(request)
        connection = VoiceConnection(self, ws)
        try:
            await connection.run()
        finally:
            if connection.guild_id is not None:
                self.release(connection.guild_id, ws, connection.ssrc)
        return ws


class VoiceConnection:
    """One voice websocket from the bot."""

    def __init__(self, server: VoiceServer, ws: web.WebSocketResponse) -> None:
        self.server = server
        self.ws = ws
        self.seq = 0
        self.guild_id: int | None = None
        self.ssrc: int | None = None

    async def send(self, op: int, data: Any) -> None:
        self.seq += 1
        await self.ws.send_str(json.dumps({"op": op, "d": data, "seq": self.seq}))

    async def run(self) -> None:
        await self.send(HELLO, {"heartbeat_interval": 13750.0, "v": 8})
        async for message in self.ws:
            if message.type is WSMsgType.TEXT:
                payload = json.loads(message.data)
                await self.handle(payload["op"], payload.get("d"))
            elif message.type is WSMsgType.BINARY:
                log.debug("ignoring binary (DAVE) voice frame op %s", message.data[:1])

    async def handle(self, op: int, data: Any) -> None:
        server = self.server
        if op == IDENTIFY:
            self.ssrc = server.admit(data, self.ws)
            if self.ssrc is None:
                await self.ws.close(code=CLOSE_AUTHENTICATION_FAILED, message=b"Authentication failed")
                return
            self.guild_id = int(data["server_id"])
            ready = {"ssrc": self.ssrc, "ip": "127.0.0.1", "port": server.udp_port, "modes": [SUPPORTED_MODE]}
            await self.send(READY, ready)
        elif op == SELECT_PROTOCOL:
            if data["data"]["mode"] != SUPPORTED_MODE or self.ssrc is None or self.guild_id is None:
                await self.ws.close(code=CLOSE_UNKNOWN_ENCRYPTION_MODE, message=b"Unknown encryption mode")
                return
            key = server.open_stream(self.guild_id, self.ssrc)
            await self.send(SESSION_DESCRIPTION, {
                "mode": SUPPORTED_MODE, "secret_key": list(key), "dave_protocol_version": 0,
                "audio_codec": "opus", "media_session_id": secrets.token_hex(8),
            })
        elif op == HEARTBEAT:
            await self.send(HEARTBEAT_ACK, {"t": data["t"] if isinstance(data, dict) else data})
        elif op == SPEAKING and self.guild_id is not None:
            server.voice(self.guild_id).speaking_events.append(SpeakingEvent(time.monotonic(), int(data["speaking"])))
            server.changes.notify()
        elif op == RESUME:
            await self.send(RESUMED, None)
        else:
            log.debug("ignoring voice op %s: %s", op, data)


class VoiceLog(Mapping[Any, GuildVoice]):
    """`fake.voice[guild]` (a FakeGuild or a guild id): what the bot sent to that guild's voice."""

    def __init__(self, server: VoiceServer, world: World) -> None:
        self._server = server
        self._world = world

    def __getitem__(self, guild: FakeGuild | int) -> GuildVoice:
        return self._server.voice(self._world.guild(guild).id)

    def __iter__(self) -> Iterator[int]:
        return iter(g.id for g in self._world.guilds)

    def __len__(self) -> int:
        return len(self._world.guilds)
