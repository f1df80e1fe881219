"""A discord.py audio source that plays speech while it is still being generated."""
from __future__ import annotations

import queue
import threading

import discord
import numpy as np

from .resample import StreamResampler

DISCORD_RATE = 48000
FRAME_SAMPLES = 960                 # 20 ms at 48 kHz
FRAME_BYTES = FRAME_SAMPLES * 2 * 2  # stereo, s16le
SILENCE = bytes(FRAME_BYTES)


def to_discord_pcm(samples: np.ndarray) -> bytes:
    """Float mono at 48 kHz → interleaved stereo s16le bytes."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2")
    return np.repeat(pcm, 2).tobytes()


class StreamingSpeechSource(discord.AudioSource):
    """Reads float mono chunks (None = end) from a queue filled by the speech worker.

    `read()` runs on discord.py's player thread every 20 ms and must never block: on underrun
    it returns a silent frame, and `b''` only once the stream has truly ended.
    """

    def __init__(self, chunks: "queue.SimpleQueue[np.ndarray | None]", sample_rate: int) -> None:
        self._chunks = chunks
        self._resampler = StreamResampler(sample_rate, DISCORD_RATE)
        self._buffer = bytearray()
        self._ended = False
        self._stopped = threading.Event()
        self.frames_played = 0
        self.underruns = 0

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
            return SILENCE
        self.frames_played += 1
        return frame

    def stop(self) -> None:
        """End playback at the next frame (skip)."""
        self._stopped.set()

    def is_opus(self) -> bool:
        return False

    def _drain(self) -> None:
        while not self._ended:
            try:
                chunk = self._chunks.get_nowait()
            except queue.Empty:
                return
            if chunk is None:
                self._ended = True
                self._buffer += to_discord_pcm(self._resampler.push(np.zeros(0, np.float32), last=True))
            else:
                self._buffer += to_discord_pcm(self._resampler.push(chunk))
