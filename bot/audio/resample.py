"""The one resampler: soxr (high quality, streaming-capable)."""
from __future__ import annotations

import numpy as np
import soxr


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Resample a whole mono float32 signal."""
    if from_rate == to_rate:
        return samples.astype(np.float32, copy=False)
    return soxr.resample(samples.astype(np.float32, copy=False), from_rate, to_rate, quality="HQ")


class StreamResampler:
    """Resample a signal that arrives in pieces, without clicks at the piece boundaries."""

    def __init__(self, from_rate: int, to_rate: int) -> None:
        self._same = from_rate == to_rate
        self._stream = None if self._same else soxr.ResampleStream(from_rate, to_rate, 1, dtype="float32", quality="HQ")

    def push(self, samples: np.ndarray, last: bool = False) -> np.ndarray:
        samples = samples.astype(np.float32, copy=False)
        if self._stream is None:
            return samples
        return self._stream.resample_chunk(samples, last=last)
