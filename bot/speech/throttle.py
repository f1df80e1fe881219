"""A synthesizer slowed to a chosen speed, for benchmarks and tests of playback pacing.

It first makes the whole clip with the real synthesizer, then hands the real chunks out on an
absolute schedule (chunk k at t0 + audio_k / speed), so a late wake-up never slows the rest:
generation at exactly `speed` × real time, however busy the machine is.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterator
from typing import Any

import numpy as np

from .synthesizer import SpeechRequest, SynthesisReport


class ThrottledSynthesizer:
    """Wraps a synthesizer (anything with `stream` and `sample_rate`); everything else passes through."""

    def __init__(self, inner: Any, speed: float) -> None:
        self.inner = inner
        self.speed = speed

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def stream(
        self,
        request: SpeechRequest,
        *,
        should_stop: Callable[[], bool] = lambda: False,
        report: SynthesisReport | None = None,
        affinity: Hashable | None = None,
    ) -> Iterator[np.ndarray]:
        """The inner synthesizer's chunks, chunk k released at t0 + (audio up to k) / speed."""
        chunks = list(self.inner.stream(request, should_stop=should_stop, report=report, affinity=affinity))
        rate = self.inner.sample_rate
        total_s = sum(len(c) for c in chunks) / rate
        # A real stream releases a piece only once the decoder's lookahead after it is generated too.
        held_s = self.inner.pieces.held_s if self.inner.pieces else 0.0
        t0 = time.monotonic()
        made = 0
        for chunk in chunks:
            made += len(chunk)
            delay = t0 + min(made / rate + held_s, total_s) / self.speed - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            if should_stop():
                return
            yield chunk
