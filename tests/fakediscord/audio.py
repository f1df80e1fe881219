"""Audio the bot sent to a guild's voice channel: RTP packets decrypted and Opus-decoded to 48 kHz stereo."""
from __future__ import annotations

import struct
import time
from dataclasses import dataclass, field

import discord.opus
import nacl.exceptions
import nacl.secret
import numpy as np

from .waiting import DEFAULT_TIMEOUT, Changes

SAMPLE_RATE = 48000
CHANNELS = 2
OPUS_SILENCE = b"\xf8\xff\xfe"
SUPPORTED_MODE = "aead_xchacha20_poly1305_rtpsize"


def ensure_opus() -> None:
    """Load libopus (lazily, like discord.py) so the fake can decode what the bot sends."""
    if not discord.opus.is_loaded() and not discord.opus._load_default():
        discord.opus.load_opus("libopus.so.0")


def new_decoder() -> discord.opus.Decoder:
    """A 48 kHz stereo Opus decoder."""
    ensure_opus()
    return discord.opus.Decoder()


@dataclass(frozen=True)
class AudioPacket:
    """One RTP packet the bot sent, with its decoded audio."""

    sequence: int
    timestamp: int
    ssrc: int
    received_at: float
    opus: bytes
    pcm: bytes

    @property
    def is_silence_marker(self) -> bool:
        """The 3-byte Opus silence frame discord.py sends (5 times) when it stops speaking."""
        return self.opus == OPUS_SILENCE


@dataclass(frozen=True)
class SpeakingEvent:
    """A SPEAKING (op 5) message from the bot."""

    at: float
    speaking: int


@dataclass(eq=False)
class GuildVoice:
    """Everything the fake heard from the bot in one guild's voice, across connections."""

    guild_id: int
    changes: Changes
    packets: list[AudioPacket] = field(default_factory=list)
    speaking_events: list[SpeakingEvent] = field(default_factory=list)
    channel_id: int | None = None
    sessions_started: int = 0
    undecryptable: int = 0
    open_sessions: int = 0

    @property
    def connected(self) -> bool:
        """The bot sits in a voice channel here and its voice connection finished the handshake."""
        return self.channel_id is not None and self.open_sessions > 0

    @property
    def speaking(self) -> bool:
        return bool(self.speaking_events and self.speaking_events[-1].speaking)

    @property
    def audio_packets(self) -> list[AudioPacket]:
        """Packets carrying audio (the end-of-speech silence markers left out)."""
        return [p for p in self.packets if not p.is_silence_marker]

    @property
    def duration(self) -> float:
        """Seconds of audio received (silence markers not counted)."""
        return sum(len(p.pcm) for p in self.audio_packets) / (SAMPLE_RATE * CHANNELS * 2)

    @property
    def first_packet_at(self) -> float | None:
        """`time.monotonic()` when the first audio packet arrived."""
        audio = self.audio_packets
        return audio[0].received_at if audio else None

    def pcm(self, since: float | None = None) -> np.ndarray:
        """Received audio as int16 of shape (samples, 2), optionally only packets received after `since`."""
        chunks = [p.pcm for p in self.audio_packets if since is None or p.received_at >= since]
        return np.frombuffer(b"".join(chunks), dtype=np.int16).reshape(-1, CHANNELS)

    def clear(self) -> None:
        """Forget the audio and speaking events received so far."""
        self.packets.clear()
        self.speaking_events.clear()

    async def wait_for_audio(self, seconds: float = 0.02, timeout: float = DEFAULT_TIMEOUT) -> np.ndarray:
        """Wait until at least `seconds` of audio arrived; returns the PCM so far."""
        await self.changes.wait_for(
            lambda: self.duration >= seconds - 1e-9, timeout=timeout,
            what=f"{seconds:.2f}s of audio in guild {self.guild_id} (have {self.duration:.2f}s)",
        )
        return self.pcm()

    async def wait_until_silent(self, timeout: float = DEFAULT_TIMEOUT) -> np.ndarray:
        """Wait until the bot sent audio and then its end-of-speech silence markers; returns the PCM."""

        def ended() -> bool:
            tail = self.packets[-5:]
            return bool(self.audio_packets) and len(tail) == 5 and all(p.is_silence_marker for p in tail)

        await self.changes.wait_for(ended, timeout=timeout, what=f"the bot to stop speaking in guild {self.guild_id}")
        return self.pcm()

    async def wait_connected(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Wait until the bot's voice connection is up."""
        what = f"a voice connection in guild {self.guild_id}"
        await self.changes.wait_for(lambda: self.connected, timeout=timeout, what=what)

    async def wait_disconnected(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Wait until the bot left voice (channel cleared and voice websocket closed)."""
        await self.changes.wait_for(
            lambda: self.channel_id is None and self.open_sessions == 0, timeout=timeout,
            what=f"the bot to leave voice in {self.guild_id}",
        )


@dataclass(eq=False)
class RtpStream:
    """One voice connection's RTP: its key, its Opus decoder and where decoded audio goes."""

    ssrc: int
    secret_key: bytes
    voice: GuildVoice
    decoder: discord.opus.Decoder = field(default_factory=new_decoder)

    def receive(self, packet: bytes) -> None:
        """Decrypt (AEAD XChaCha20-Poly1305, rtpsize) and decode one RTP packet."""
        header_len = 12 + 4 * (packet[0] & 0x0F)
        has_extension = bool(packet[0] & 0x10)
        aad_len = header_len + (4 if has_extension else 0)
        nonce = packet[-4:] + bytes(20)
        try:
            plain = nacl.secret.Aead(self.secret_key).decrypt(packet[aad_len:-4], packet[:aad_len], nonce)
        except nacl.exceptions.CryptoError:
            self.voice.undecryptable += 1
            return
        if has_extension:
            ext_words = struct.unpack_from(">H", packet, header_len + 2)[0]
            plain = plain[4 * ext_words:]
        sequence, timestamp, ssrc = struct.unpack_from(">HII", packet, 2)
        pcm = self.decoder.decode(plain, fec=False)
        self.voice.packets.append(AudioPacket(sequence, timestamp, ssrc, time.monotonic(), plain, pcm))
        self.voice.changes.notify()


def sine_pcm(seconds: float = 1.0, hz: float = 440.0, amplitude: float = 0.3) -> bytes:
    """A 48 kHz stereo s16le sine: what discord.PCMAudio plays, for tests that need known audio."""
    t = np.arange(int(SAMPLE_RATE * seconds)) / SAMPLE_RATE
    mono = (amplitude * 32767 * np.sin(2 * np.pi * hz * t)).astype(np.int16)
    return np.repeat(mono[:, None], CHANNELS, axis=1).tobytes()


def dominant_frequency(pcm: np.ndarray, sample_rate: int = SAMPLE_RATE) -> float:
    """The strongest frequency (Hz) in int16 PCM of shape (n,) or (n, channels)."""
    mono = pcm.astype(np.float64)
    if mono.ndim == 2:
        mono = mono.mean(axis=1)
    spectrum = np.abs(np.fft.rfft(mono * np.hanning(len(mono))))
    spectrum[0] = 0.0
    return float(np.fft.rfftfreq(len(mono), 1 / sample_rate)[int(np.argmax(spectrum))])


def rms(pcm: np.ndarray) -> float:
    """Root mean square of int16 PCM, as a fraction of full scale."""
    if pcm.size == 0:
        return 0.0
    return float(np.sqrt(np.mean((pcm.astype(np.float64) / 32768.0) ** 2)))
