"""Stand-ins with the real interfaces, for tests about the logic around the models."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Iterator

import numpy as np

from bot.speech.synthesizer import SpeechRequest, SynthesisReport


class FakeBackend:
    """Only a generation backend's capacity, which a test may change while jobs run."""

    def __init__(self, capacity: int = 1) -> None:
        self.capacity = capacity


class ScriptedSynthesizer:
    """Yields a tone per 'token' step and records the order requests were served in.

    `gate` (when set) holds every job at its first step until the test opens it or cancels the
    job (a cancelled job stops at once, gate or not); `capacity` is
    how many streams the engine may run at once (`llm.capacity`).
    """

    sample_rate = 16000
    pieces = None  # no codec window schedule: the start rule plans with the largest piece so far

    def __init__(self, steps: int = 5, step_seconds: float = 0.0, capacity: int = 1) -> None:
        self.llm = FakeBackend(capacity)
        self.steps = steps
        self.step_seconds = step_seconds
        self.served: list[str] = []
        self.requests: list[SpeechRequest] = []
        self.gate: threading.Event | None = None
        self.stopped_at: dict[str, int] = {}
        self.closed = False
        self.active = 0  # streams running now
        self.started_beside: dict[str, int] = {}  # per request: streams running when it started, itself included
        self._lock = threading.Lock()

    def close(self) -> None:
        self.closed = True

    def stream(
        self,
        request: SpeechRequest,
        *,
        should_stop: Callable[[], bool] = lambda: False,
        report: SynthesisReport | None = None,
        affinity: Hashable | None = None,
    ) -> Iterator[np.ndarray]:
        with self._lock:  # several lanes may call at once
            self.served.append(request.text)
            self.requests.append(request)
            self.active += 1
            self.started_beside[request.text] = self.active
        try:
            t = np.arange(320) / self.sample_rate
            for step in range(self.steps):
                self._hold(should_stop)
                if should_stop():
                    self.stopped_at[request.text] = step
                    return
                time.sleep(self.step_seconds)
                if report is not None:
                    report.codes += 1
                # Phase carries over between steps: one continuous tone.
                yield (0.3 * np.sin(2 * np.pi * 440 * (t + step * 320 / self.sample_rate))).astype(np.float32)
        finally:
            with self._lock:
                self.active -= 1

    def _hold(self, should_stop: Callable[[], bool]) -> None:
        deadline = time.monotonic() + 10  # a hang guard for a test that forgets to open the gate
        while self.gate is not None and not self.gate.wait(0.005) and not should_stop() and time.monotonic() < deadline:
            pass


class PromptRecorder:
    """The tiny real model, with every prompt it is given kept for the test to read."""

    def __init__(self, llm) -> None:
        self.llm = llm
        self.vocab = llm.vocab
        self.capacity = llm.capacity
        self.prompts: list[list[int]] = []

    def tokenize_text(self, text: str) -> list[int]:
        return self.llm.tokenize_text(text)

    def generate(self, prompt, sampling, **kwargs):
        self.prompts.append(list(prompt))
        return self.llm.generate(prompt, sampling, **kwargs)

    def close(self) -> None:
        pass
