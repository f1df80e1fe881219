"""A discord.py audio source that plays speech while it is still being generated."""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Protocol

import discord
import numpy as np

from .resample import StreamResampler

log = logging.getLogger(__name__)

DISCORD_RATE = 48000
FRAME_SAMPLES = 960                 # 20 ms at 48 kHz
FRAME_BYTES = FRAME_SAMPLES * 2 * 2  # stereo, s16le
FRAME_S = FRAME_SAMPLES / DISCORD_RATE
SILENCE = bytes(FRAME_BYTES)


class ChunkFeed(Protocol):
    """Where the audio comes from (the speech job's feed): new chunks and whether that is all."""

    def take(self) -> tuple[list[np.ndarray], bool]: ...


@dataclass(frozen=True)
class PlaybackStats:
    """What one source played: speech frames, and silent frames it had to insert."""

    frames: int
    underruns: int      # all silent frames for want of audio
    gap_frames: int     # of those, the ones after the first audio: heard as breaks in the speech
    gaps: int           # how many separate breaks
    longest_gap_frames: int


def to_discord_pcm(samples: np.ndarray) -> bytes:
    """Float mono at 48 kHz → interleaved stereo s16le bytes."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2")
    return np.repeat(pcm, 2).tobytes()


class StreamingSpeechSource(discord.AudioSource):
    """Plays float mono chunks from a feed filled by the speech worker.

    `read()` runs on discord.py's player thread every 20 ms and must never block: on underrun
    it returns a silent frame (counted, and logged with its length once the audio resumes),
    and `b''` only once the stream has truly ended.
    """

    def __init__(self, feed: ChunkFeed, sample_rate: int, *, name: str = "speech") -> None:
        self._feed = feed
        self._name = name
        self._resampler = StreamResampler(sample_rate, DISCORD_RATE)
        self._buffer = bytearray()
        self._ended = False
        self._stopped = threading.Event()
        self.frames_played = 0
        self.underruns = 0
        self.gap_frames = 0
        self.gaps = 0
        self.longest_gap_frames = 0
        self._gap = 0  # the break in progress, in frames

    def read(self) -> bytes:
        if self._stopped.is_set():
            return b""
        self._drain()
        if len(self._buffer) >= FRAME_BYTES:
            frame = bytes(self._buffer[:FRAME_BYTES])
            del self._buffer[:FRAME_BYTES]
        elif self._ended:
            if not self._buffer:
                return b""
            # The encoder always wants a whole frame: pad the tail with silence.
            frame = bytes(self._buffer) + bytes(FRAME_BYTES - len(self._buffer))
            self._buffer.clear()
        else:
            self.underruns += 1
            if self.frames_played:
                self._gap += 1
                self.gap_frames += 1
            return SILENCE
        if self._gap:
            self._end_gap()
        self.frames_played += 1
        return frame

    def stats(self) -> PlaybackStats:
        in_progress = bool(self._gap)
        return PlaybackStats(self.frames_played, self.underruns, self.gap_frames, self.gaps + in_progress,
                             max(self.longest_gap_frames, self._gap))

    def stop(self) -> None:
        """End playback at the next frame (skip)."""
        self._stopped.set()

    def is_opus(self) -> bool:
        return False

    def _end_gap(self) -> None:
        # Generation stalled mid-speech for this long: the one case where silence is inserted.
        log.warning("%s: generation stalled, %d ms of silence inserted after %.2f s of speech",
                    self._name, self._gap * FRAME_S * 1000, self.frames_played * FRAME_S)
        self.gaps += 1
        self.longest_gap_frames = max(self.longest_gap_frames, self._gap)
        self._gap = 0

    def _drain(self) -> None:
        if self._ended:
            return
        chunks, ended = self._feed.take()
        for chunk in chunks:
            self._buffer += to_discord_pcm(self._resampler.push(chunk))
        if ended:
            self._ended = True
            self._buffer += to_discord_pcm(self._resampler.push(np.zeros(0, np.float32), last=True))
