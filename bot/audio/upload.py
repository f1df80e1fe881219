"""Uploaded clips (for /voice clone): checked from the header, then only the needed seconds decoded.

A few hundred KB of FLAC can hold ten minutes of eight-channel silence, which is a gigabyte
once decoded. So nothing is decoded before the header passes the checks below, decoding stops
after `keep_seconds`, and channels are mixed to mono block by block (memory stays one block
plus the mono result). Call it in a thread: decoding is CPU work.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import soundfile as sf

from ..i18n import UserFacing

# Absurd for a voice clip, whatever the config says (module constants: not user settings).
MAX_CHANNELS = 2
MIN_RATE, MAX_RATE = 8_000, 96_000
MAX_FILE_SECONDS = 600.0  # longer files are refused outright, not just cut
MIN_SECONDS = 1.0
_BLOCK_FRAMES = 65_536


class UploadRejected(UserFacing, ValueError):
    """The upload is not a usable audio clip; the message says why, fit for the user."""


@dataclass(frozen=True)
class ClipHeader:
    """What the file says about itself, read without decoding any audio."""

    channels: int
    sample_rate: int
    frames: int
    format: str

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate


def check_header(header: ClipHeader) -> None:
    """Refuse files that are not a plausible voice clip (UploadRejected says why)."""
    if header.channels < 1 or header.channels > MAX_CHANNELS:
        raise UploadRejected("upload.channels", channels=header.channels)
    if not MIN_RATE <= header.sample_rate <= MAX_RATE:
        raise UploadRejected("upload.sample_rate", rate=header.sample_rate)
    if header.seconds > MAX_FILE_SECONDS:
        raise UploadRejected("upload.too_long", minutes=header.seconds / 60)
    if header.seconds < MIN_SECONDS:
        raise UploadRejected("upload.too_short", seconds=header.seconds)


def read_upload(data: bytes, keep_seconds: float) -> tuple[np.ndarray, int]:
    """Float32 mono samples of at most the first keep_seconds, and the rate; UploadRejected if unusable."""
    try:
        with sf.SoundFile(io.BytesIO(data)) as f:
            header = ClipHeader(f.channels, f.samplerate, f.frames, f.format)
            check_header(header)
            wanted = min(header.frames, int(keep_seconds * header.sample_rate))
            mono = np.empty(wanted, dtype=np.float32)
            done = 0
            while done < wanted:
                block = f.read(frames=min(_BLOCK_FRAMES, wanted - done), dtype="float32", always_2d=True)
                if not len(block):
                    break  # the header promised more frames than the file holds
                mono[done:done + len(block)] = block.mean(axis=1)
                done += len(block)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise UploadRejected("upload.unreadable", detail=str(exc)) from None
    if done / header.sample_rate < MIN_SECONDS:
        raise UploadRejected("upload.no_audio")
    return mono[:done], header.sample_rate
