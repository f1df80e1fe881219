"""Stand-ins with the real interfaces, for tests about the logic around the models."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Iterator

import numpy as np

from bot.speech.synthesizer import SpeechRequest, SynthesisReport


class ScriptedSynthesizer:
    """Yields a tone per 'token' step and records the order requests were served in.

    `gate` (when set) holds every job at its first step until the test opens it.
    """

    sample_rate = 16000
    pieces = None  # no codec window schedule: the start rule plans with the largest piece so far

    def __init__(self, steps: int = 5, step_seconds: float = 0.0) -> None:
        self.steps = steps
        self.step_seconds = step_seconds
        self.served: list[str] = []
        self.requests: list[SpeechRequest] = []
        self.gate: threading.Event | None = None
        self.stopped_at: dict[str, int] = {}

    def stream(
        self,
        request: SpeechRequest,
        *,
        should_stop: Callable[[], bool] = lambda: False,
        report: SynthesisReport | None = None,
        affinity: Hashable | None = None,
    ) -> Iterator[np.ndarray]:
        self.served.append(request.text)
        self.requests.append(request)
        t = np.arange(320) / self.sample_rate
        for step in range(self.steps):
            if self.gate is not None:
                self.gate.wait(timeout=10)
            if should_stop():
                self.stopped_at[request.text] = step
                return
            time.sleep(self.step_seconds)
            if report is not None:
                report.codes += 1
            # Phase carries over between steps: one continuous tone.
            yield (0.3 * np.sin(2 * np.pi * 440 * (t + step * 320 / self.sample_rate))).astype(np.float32)
