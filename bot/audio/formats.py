"""Finished clips as files: WAV, FLAC or Ogg/Opus bytes, chosen to fit an upload limit."""
from __future__ import annotations

import io
from enum import Enum

import numpy as np
import soundfile as sf

from .resample import resample
from .upload import MAX_FILE_SECONDS, read_upload


class AudioFormat(str, Enum):
    WAV = "wav"
    FLAC = "flac"
    OGG = "ogg"  # Opus inside Ogg: ~10x smaller than WAV for speech

    @property
    def mime(self) -> str:
        return {"wav": "audio/wav", "flac": "audio/flac", "ogg": "audio/ogg"}[self.value]


# Opus only takes these rates; 44.1 kHz clips are resampled to 48 kHz first.
_OPUS_RATES = (8000, 12000, 16000, 24000, 48000)


def encode_clip(samples: np.ndarray, sample_rate: int, fmt: AudioFormat) -> bytes:
    """Encode float mono samples (clipped to [-1, 1]) into a file in memory."""
    samples = np.clip(np.nan_to_num(samples.astype(np.float32, copy=False)), -1.0, 1.0)
    buffer = io.BytesIO()
    if fmt is AudioFormat.OGG:
        if sample_rate not in _OPUS_RATES:
            samples, sample_rate = resample(samples, sample_rate, 48000), 48000
        sf.write(buffer, samples, sample_rate, format="OGG", subtype="OPUS")
    elif fmt is AudioFormat.FLAC:
        sf.write(buffer, samples, sample_rate, format="FLAC", subtype="PCM_16")
    else:
        sf.write(buffer, samples, sample_rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def encode_within(samples: np.ndarray, sample_rate: int, preferred: AudioFormat, limit_bytes: int) -> tuple[bytes, AudioFormat] | None:
    """The preferred format if it fits the limit, else the next smaller one; None if none fits."""
    order = [AudioFormat.WAV, AudioFormat.FLAC, AudioFormat.OGG]
    for fmt in order[order.index(preferred):]:
        data = encode_clip(samples, sample_rate, fmt)
        if len(data) <= limit_bytes:
            return data, fmt
    return None


def read_clip(data: bytes, max_seconds: float = MAX_FILE_SECONDS) -> tuple[np.ndarray, int]:
    """Decode an uploaded audio file to float32 mono; ValueError when it is not a usable clip."""
    return read_upload(data, keep_seconds=max_seconds)
