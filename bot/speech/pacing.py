"""When to start playing speech that is still being generated, so that it never runs dry.

Generation that is slower than real time must not start playing at the first chunk: the player
would run out of audio and Discord would hear silence in the middle of a word. Instead a message
starts once the audio already made, plus what generation will add at its measured speed, covers
the rest of the message. Faster than real time, the first chunk starts it.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

# Plan with a rate this much slower than measured, and one 20 ms frame more in hand, so that
# jitter (a busy machine, a slow chunk, the player thread's ticks) does not empty the buffer.
RATE_MARGIN = 0.15
LEAD_S = 0.02


@dataclass(frozen=True)
class PieceSchedule:
    """How a stream's audio comes out: the length of the next piece once `released_s` seconds
    are out, and how much generated audio the decoder holds back (its lookahead) before a piece
    can be released. The codec's windows grow, so the largest piece so far says too little."""

    next_piece_s: Callable[[float], float]
    held_s: float = 0.0


@dataclass(frozen=True)
class Progress:
    """One job's generation so far, as the start rule sees it (all in audio or wall seconds)."""

    produced_s: float   # audio made so far
    expected_s: float   # how long the whole message will be (exact once ended)
    rate: float         # audio seconds generated per wall second from now on (0: unknown)
    chunk_s: float      # the largest piece so far: the next pieces' size when `pieces` is unknown
    ended: bool = False
    pieces: PieceSchedule | None = None


# Shortest piece the rule simulates: bounds its loop for streams of many tiny chunks.
MIN_PIECE_S = 0.1


def can_start(p: Progress) -> bool:
    """True when playback started now will not run out of audio before generation ends.

    Walks the pieces still to come: each is released once the audio up to its end (plus what the
    decoder holds back) is generated at the planned rate, and by then the audio already released
    must not have been played out.
    """
    if p.ended:
        return True
    if p.produced_s <= 0 or p.rate <= 0:
        return False
    rate = p.rate * (1 - RATE_MARGIN)
    pieces = p.pieces or PieceSchedule(lambda _released: p.chunk_s)
    released = p.produced_s
    generated = released + pieces.held_s  # the decoder released nothing before its lookahead was made
    while released < p.expected_s - 1e-9:
        piece = min(max(pieces.next_piece_s(released), MIN_PIECE_S), p.expected_s - released)
        needed = min(released + piece + pieces.held_s, p.expected_s)
        arrives = max(needed - generated, 0.0) / rate
        if arrives + LEAD_S > released:  # everything released so far would be played out first
            return False
        released += piece
    return True


class Learned:
    """A running estimate that follows bad news at once and good news slowly.

    Underestimating a message's length or overestimating the machine's speed causes gaps;
    the opposite only costs a little latency, so the estimate leans to the safe side.
    """

    def __init__(self, *, safe_is_high: bool, weight: float = 0.25) -> None:
        self.value: float | None = None
        self._safe_is_high = safe_is_high
        self._weight = weight

    def add(self, sample: float) -> None:
        worse = self.value is None or (sample > self.value) == self._safe_is_high
        self.value = sample if worse else (1 - self._weight) * self.value + self._weight * sample  # type: ignore[operator]


class SpeechPacing:
    """What this machine has learned across jobs: generation speed and seconds per character.

    Speed is learned per level of concurrency (streams generating at once): eight streams on one
    server each run slower than one alone, and a single stream's speed must not plan for them.
    Shared by the engine's worker threads.
    """

    def __init__(self) -> None:
        self.rates: dict[int, Learned] = {}  # streams at once -> audio s per wall s, after the first chunk
        self.seconds_per_char = Learned(safe_is_high=True)
        self._lock = threading.Lock()

    @property
    def rate(self) -> Learned:
        """The speed of one stream alone."""
        return self.rates.setdefault(1, Learned(safe_is_high=False))

    def rate_at(self, streams: int) -> float | None:
        """The learned speed with that many streams, else the nearest busier level's (slower: safe)."""
        known = sorted((n, e.value) for n, e in self.rates.items() if e.value is not None and n >= streams)
        return known[0][1] if known else None

    def expected_seconds(self, text: str, cap_s: float, produced_s: float) -> float:
        """The message's length from its text, never above the request's cap.

        Once more audio exists than the text suggested, the estimate was wrong: fall back to the cap.
        """
        per_char = self.seconds_per_char.value
        if per_char is None:
            return cap_s
        guess = per_char * max(len(text), 1)
        return min(guess, cap_s) if produced_s < guess else cap_s

    def learn(self, text: str, clip_s: float | None, after_first_audio_s: float, after_first_wall_s: float,
              streams: int = 1) -> None:
        """Fold in one job: its length (None when it did not finish), and its speed once audio flowed
        while `streams` generated at once."""
        if clip_s:
            with self._lock:
                self.seconds_per_char.add(clip_s / max(len(text), 1))
        self.learn_rate(after_first_audio_s, after_first_wall_s, streams)

    def forget_rates(self) -> None:
        """Another model was loaded: its speed is unknown (message lengths stay)."""
        with self._lock:
            self.rates = {}

    def learn_rate(self, audio_s: float, wall_s: float, streams: int) -> None:
        if audio_s > 0 and wall_s > 0:
            with self._lock:
                self.rates.setdefault(streams, Learned(safe_is_high=False)).add(audio_s / wall_s)


class StartGate:
    """Evaluates `can_start` for one job as its chunks arrive (on the worker thread).

    The job's speed is measured per stretch at one level of concurrency (`streams`, given with each
    chunk): when other streams start or end beside it, its speed before says little about after.
    """

    # How many wall seconds of the learned rate count against the job's own measurements.
    PRIOR_WALL_S = 1.0

    def __init__(self, pacing: SpeechPacing, text: str, pieces: PieceSchedule | None = None) -> None:
        self._pacing = pacing
        self._text = text
        self.pieces = pieces  # the synthesizer's, set when the job starts on it
        self._started_at = 0.0
        self.produced_s = 0.0
        self.chunks = 0
        self.chunk_s = 0.0
        self.first_at: float | None = None
        self.last_at: float | None = None
        self._first_s = 0.0
        self.streams = 1
        self._stretch_at = 0.0     # when the current stretch at one level started (a chunk's arrival)
        self._stretch_s = 0.0      # audio generated in it since
        self.open = False
        self.opened_at_s: float | None = None   # audio in hand when playback was allowed to start
        self.opened_after_chunks = 0

    def begin(self, now: float) -> None:
        """Generation (prompt included) starts now."""
        self._started_at = now

    def add(self, seconds: float, now: float, cap_s: float, streams: int = 1) -> bool:
        """Count a chunk (the clip can be at most cap_s long) made while `streams` generated at once;
        True the first time it may start playing."""
        self.chunks += 1
        self.produced_s += seconds
        self.chunk_s = max(self.chunk_s, seconds)
        if self.first_at is None:
            self.first_at, self._first_s = now, seconds
            self.streams, self._stretch_at = streams, now
        elif streams != self.streams:
            # Teach the stretch that ended at the previous chunk; this chunk starts a new one.
            self._pacing.learn_rate(self._stretch_s, (self.last_at if self.last_at is not None else now) - self._stretch_at, self.streams)
            self.streams, self._stretch_at, self._stretch_s = streams, now, 0.0
        else:
            self._stretch_s += seconds
        self.last_at = now
        if self.open:
            return False
        expected = self._pacing.expected_seconds(self._text, cap_s, self.produced_s)
        progress = Progress(self.produced_s, max(expected, self.produced_s), self.rate(now), self.chunk_s,
                            pieces=self.pieces)
        return self._open_if(can_start(progress))

    def end(self) -> bool:
        """Generation ended: whatever exists can play. True if this opened the gate."""
        return self._open_if(True)

    def rate(self, now: float) -> float:
        """Audio seconds per wall second: the job's own speed since its first chunk (at the present
        level of concurrency), weighed against what earlier jobs measured at that level; the audio
        so far over the time since the start (prompt included) when nothing was learned yet."""
        assert self.first_at is not None
        prior = self._pacing.rate_at(self.streams)
        audio, wall = self._stretch_s, now - self._stretch_at
        if prior is not None:
            return (audio + prior * self.PRIOR_WALL_S) / (wall + self.PRIOR_WALL_S)
        if wall > 0 and audio > 0:
            return audio / wall
        return self.produced_s / max(now - self._started_at, 1e-6)

    def learn(self, *, finished: bool) -> None:
        """Teach the machine-wide estimates what this job showed (its length only if it finished)."""
        if self.first_at is None or self.last_at is None:
            return
        self._pacing.learn(self._text, self.produced_s if finished else None,
                           self._stretch_s, self.last_at - self._stretch_at, self.streams)

    def _open_if(self, condition: bool) -> bool:
        if self.open or not condition:
            return False
        self.open = True
        self.opened_at_s = self.produced_s
        self.opened_after_chunks = self.chunks
        return True
