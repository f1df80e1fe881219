"""How many streams to run at once, from their measured speed at each level of concurrency.

Speeds are audio seconds per wall second per stream (1.0 = real time = 50 codes/s). A level that
measured too slow is backed off at once; the admitted count grows to what the best measured
aggregate throughput keeps above real time with a margin, and one stream at a time past that
when the busiest level has been comfortably fast for a few samples (a probe; each time a level
fell behind, probing it again waits for twice as many).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .pacing import Learned

CODES_PER_SECOND = 50  # codes per second of audio: a stream at 1.0x makes this many per wall second


@dataclass(frozen=True)
class CapacityReport:
    """The engine's figures for logs and /status."""

    lanes: int                    # streams the backend can run at once now
    admitted: int                 # streams the engine lets run at once now (≤ lanes)
    running: int                  # jobs running now
    speeds: tuple[tuple[int, float], ...]  # (streams at once, measured speed per stream, × real time)

    def codes_per_second(self, streams: int) -> float | None:
        """Measured codes per second per stream at that level, if measured."""
        return next((s * CODES_PER_SECOND for n, s in self.speeds if n == streams), None)


class Admission:
    """The admission rule: pure, fed with (streams at once, speed per stream) samples.

    Not thread-safe: the engine calls it under its lock.
    """

    def __init__(self, *, start: int = 1, floor: float = 1.1, target: float = 1.3, probe: float = 1.6,
                 probe_after: int = 3) -> None:
        # Back off below `floor`; predict up to streams kept above `target`; probe past `probe`.
        self.floor, self.target, self.probe, self.probe_after = floor, target, probe, probe_after
        self._start = start
        self.forget()

    def forget(self) -> None:
        """Start measuring afresh (another model was loaded)."""
        self.limit = self._start  # until measured: one stream, whose speed then says how many more fit
        self._speeds: dict[int, Learned] = {}
        self._comfortable = 0  # samples in a row at the limit fast enough to probe one more
        self._failed: dict[int, int] = {}  # level -> times it fell behind: each doubles the wait to probe it

    def admitted(self, capacity: int) -> int:
        """Streams that may run at once given the backend's capacity now."""
        return max(min(self.limit, capacity), 0)

    def speeds(self) -> tuple[tuple[int, float], ...]:
        return tuple(sorted((n, e.value) for n, e in self._speeds.items() if e.value is not None))

    def observe(self, streams: int, speed: float) -> None:
        """One stream ran at `speed` while `streams` ran at once (itself included)."""
        estimate = self._speeds.setdefault(streams, Learned(safe_is_high=False))
        estimate.add(speed)
        assert estimate.value is not None
        if estimate.value < self.floor:
            if streams <= self.limit:
                self._failed[streams] = self._failed.get(streams, 0) + 1
            self.limit = max(1, min(self.limit, streams - 1))
            self._comfortable = 0
            return
        if streams >= self.limit:
            self._comfortable = self._comfortable + 1 if speed >= self.probe else 0
            if self._comfortable >= self.probe_after << min(self._failed.get(streams + 1, 0), 6):
                self.limit = streams + 1
                self._comfortable = 0
                self._speeds.pop(self.limit, None)  # what it measured before is stale: measure again
        self.limit = max(self.limit, self._predicted())

    def _predicted(self) -> int:
        """Streams the best measured aggregate keeps above target, below any level measured too slow.

        Serving engines batch: adding a stream does not lower the aggregate, so per-stream speed at
        m streams is at least aggregate / m."""
        known = {n: e.value for n, e in self._speeds.items() if e.value is not None}
        aggregate = max((n * v for n, v in known.items()), default=0.0)
        predicted = int(aggregate / self.target)
        too_slow = [n for n, v in known.items() if v < self.floor]
        return min(predicted, min(too_slow) - 1) if too_slow else predicted


class StreamMeter:
    """Cuts one stream's output into speed samples taken at a steady level of concurrency.

    A window starts at a chunk and closes once `window_s` of audio came after it; a change in the
    number of streams running restarts it (its speed belongs to no single level).
    """

    def __init__(self, sink: Callable[[int, float], None], window_s: float = 1.0) -> None:
        self._sink = sink
        self._window_s = window_s
        self._level = 0
        self._since: float | None = None
        self._audio = 0.0

    def add(self, audio_s: float, now: float, streams: int) -> None:
        """A chunk of audio_s seconds arrived at `now` while `streams` ran."""
        if self._since is None or streams != self._level:
            self._level, self._since, self._audio = streams, now, 0.0  # the first chunk carries prompt time
            return
        self._audio += audio_s
        wall = now - self._since
        if self._audio >= self._window_s and wall > 0:
            self._sink(streams, self._audio / wall)
            self._since, self._audio = now, 0.0
