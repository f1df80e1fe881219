"""Failed-take detectors: small pure checks on a take's codes and audio, cheap enough for streaming.

A take fails when the model never said END, ran far longer or shorter than its text allows,
went silent mid-speech, got stuck in a loop, or its codes could not be decoded. Each detector
returns a `Failure` (which detector, and a detail for logs and users) or None. Checks that need
the finished take (speech recognition) implement `TakeCheck`.
"""
from __future__ import annotations

import re
from collections import Counter, deque
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from ..text.kana import katakana_reading
from .llm import FinishReason

CODES_PER_SECOND = 50  # XCodec2


@dataclass(frozen=True)
class Failure:
    """Why a take is not fit to be heard: the detector's name and a detail for logs and users."""

    detector: str
    detail: str


@runtime_checkable
class TakeCheck(Protocol):
    """A check on a finished take, run before any of it is released (e.g. speech recognition)."""

    def check(self, text: str, audio: np.ndarray, sample_rate: int) -> Failure | None:
        """None when the take says `text` well enough; otherwise why not."""
        ...


@dataclass(frozen=True)
class Thresholds:
    """Where the detectors draw the line; the reasons for each default are given beside it."""

    # Speaking rates in morae a second. Conversational and read Japanese run about 6–9 (news
    # ~7.5, spontaneous speech ~7–8); fast anime delivery reaches 10–12. Past 14 the take must
    # have dropped words; below 3 it is drawling, stalling or babbling past the text.
    fastest_morae_per_s: float = 14.0
    slowest_morae_per_s: float = 3.0
    # Added to the upper bound: each pause mark (、。！？…) may hold up to a second of silence,
    # each inline tag （笑いながら） a laugh or breath, and every take some breath at its edges.
    pause_s: float = 1.0
    tag_s: float = 1.5
    edge_s: float = 1.5
    # The old rule, kept as the floor: a take under 0.2 s (10 codes) is an instant END.
    shortest_s: float = 0.2
    # A silence this long between speech is a hang, not a pause: clause and sentence pauses in
    # read speech run 0.2–1 s, a dramatic one rarely past 1.5 s.
    max_inner_silence_s: float = 2.0
    # A 20 ms frame this far below the take's speech level (its 90th-percentile frame) is silent:
    # breaths and room noise sit 30–40 dB under speech, words' own dips (stop closures) last < 0.1 s.
    silence_below_db: float = 30.0
    # Whole takes quieter than this (dBFS at the speech level) are silent: nothing was said.
    silent_take_dbfs: float = -60.0


# --------------------------------------------------------------------------- no END


def no_end(finish_reason: FinishReason | None, *, capped_by_request: bool = False) -> Failure | None:
    """The take ran into the token cap without saying END (unless the request's own length limit cut it)."""
    if finish_reason == FinishReason.LENGTH and not capped_by_request:
        return Failure("no_end", "the model never finished the sentence before the length cap")
    return None


# --------------------------------------------------------------------------- duration

_TAG = re.compile(r"（[^（）]*）|\([^()]*\)")
_PAUSE_MARKS = re.compile(r"[、。，,．！？!?…‥・\n]+")
_SMALL_KANA = frozenset("ァィゥェォャュョヮ")  # fused with the kana before them: no mora of their own
_KANJI = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_VOWEL_GROUP = re.compile(r"[aeiouy]+", re.IGNORECASE)
_LATIN_WORD = re.compile(r"[a-z]+", re.IGNORECASE)


@dataclass(frozen=True)
class DurationBounds:
    """How long a take of a text may plausibly last, in seconds; morae is what they rest on."""

    morae: float
    low_s: float
    high_s: float


def count_morae(text: str) -> float:
    """Morae the text takes to say: its kana reading (OpenJTalk), with rough counts for whatever stays unread."""
    reading = katakana_reading(text)
    morae = 0.0
    for ch in reading:
        if ("\u30a1" <= ch <= "\u30fa" or ch == "ー") and ch not in _SMALL_KANA:
            morae += 1
        elif "\u3041" <= ch <= "\u3096" and ch not in "ぁぃぅぇぉゃゅょゎ":
            morae += 1  # hiragana left as written when the reader is missing
        elif _KANJI.match(ch) or ch.isdigit():
            morae += 1.5  # unread kanji or digits (reader missing): on-readings average 1.5–2 morae
    # Latin words the reader left alone (or all of them without it): ~1.5 morae a syllable in katakana.
    for word in _LATIN_WORD.findall(reading):
        morae += 1.5 * max(1, len(_VOWEL_GROUP.findall(word)))
    return morae


def speed_factor(speed_hint: str) -> float:
    """The speaking-rate factor a caption's speed field asks for: "(1.2x)" → 1.2, ゆっくり → 0.7, 速い → 1.3."""
    number = re.search(r"(\d+(?:\.\d+)?)\s*[x×倍]", speed_hint)
    if number:
        return min(max(float(number.group(1)), 0.25), 4.0)
    if any(word in speed_hint for word in ("ゆっくり", "遅", "のんびり")):
        return 0.7
    if any(word in speed_hint for word in ("速", "早口", "早い")):
        return 1.3
    return 1.0


def expected_duration(text: str, speed: float = 1.0, thresholds: Thresholds = Thresholds()) -> DurationBounds:
    """The shortest and longest plausible take of text, at a speaking-rate factor (1.0 = normal)."""
    tags = len(_TAG.findall(text))
    spoken = _TAG.sub("", text)
    morae = count_morae(spoken)
    pauses = len(_PAUSE_MARKS.findall(spoken.strip()))
    t = thresholds
    low = max(t.shortest_s, morae / t.fastest_morae_per_s / speed - 0.3)
    high = (morae / t.slowest_morae_per_s + pauses * t.pause_s + tags * t.tag_s) / speed + t.edge_s
    return DurationBounds(morae, low, high)


def duration_failure(seconds: float, bounds: DurationBounds) -> Failure | None:
    """A finished take far shorter or longer than its text predicts."""
    if seconds < bounds.low_s:
        return Failure("too_short", f"{seconds:.2f} s for {bounds.morae:g} morae (at least {bounds.low_s:.2f} s expected)")
    return runaway(seconds, bounds)


def runaway(seconds_so_far: float, bounds: DurationBounds) -> Failure | None:
    """A take (finished or still streaming) already longer than its text can take."""
    if seconds_so_far > bounds.high_s:
        return Failure("too_long", f"over {bounds.high_s:.1f} s for {bounds.morae:g} morae")
    return None


# --------------------------------------------------------------------------- silence

FRAME_S = 0.02


def frame_levels_db(audio: np.ndarray, sample_rate: int, frame_s: float = FRAME_S) -> np.ndarray:
    """RMS level of each whole frame in dBFS (floored at -120)."""
    n = max(1, int(frame_s * sample_rate))
    frames = len(audio) // n
    if frames == 0:
        return np.zeros(0)
    blocks = np.asarray(audio[: frames * n], dtype=np.float64).reshape(frames, n)
    rms = np.sqrt(np.mean(blocks * blocks, axis=1))
    return 20 * np.log10(np.maximum(rms, 1e-6))


def inner_silence(audio: np.ndarray, sample_rate: int, thresholds: Thresholds = Thresholds()) -> Failure | None:
    """A silence longer than max_inner_silence_s between speech (not at the edges), or a silent take."""
    levels = frame_levels_db(audio, sample_rate)
    if len(levels) == 0:
        return None
    speech_level = float(np.percentile(levels, 90))
    if speech_level < thresholds.silent_take_dbfs:
        return Failure("silence", f"the take is silent ({speech_level:.0f} dBFS)")
    speech = np.flatnonzero(levels >= speech_level - thresholds.silence_below_db)
    gaps = np.diff(speech) - 1  # silent frames between consecutive speech frames
    longest = int(gaps.max()) if len(gaps) else 0
    if longest * FRAME_S > thresholds.max_inner_silence_s:
        where = speech[int(np.argmax(gaps))] * FRAME_S
        return Failure("silence", f"{longest * FRAME_S:.1f} s of silence inside the speech at {where:.1f} s")
    return None


# --------------------------------------------------------------------------- loops


class LoopWatch:
    """Watches codes one at a time for a stuck or looping model; a few µs a code.

    Two rules over the last `span` codes (2 s): the seed's, fewer than `min_distinct` values
    (stuck on a few codes, in any order); and ours, the codes repeating with some period p up to
    `max_period` (3 s): at least `match` of the last max(span, 2p) codes equal the code p before,
    i.e. the same stretch said three times or more. Natural speech repeats single codes rarely
    and whole stretches never; a pause is far shorter than 2 s.
    """

    def __init__(self, span: int = 100, min_distinct: int = 20, max_period: int = 150, match: float = 0.9) -> None:
        self.span, self.min_distinct, self.match = span, min_distinct, match
        self._recent: deque[int] = deque(maxlen=span)
        self._counts: Counter[int] = Counter()
        periods = np.arange(1, max_period + 1)
        self._windows = np.maximum(span, 2 * periods)  # codes each period's match share is taken over
        self._needed = self._windows + periods  # codes seen before a period can be judged
        self._history = np.zeros((int(self._windows.max()), max_period), dtype=bool)
        self._previous = np.full(max_period, -1, dtype=np.int64)  # _previous[k]: the code k+1 steps back
        self._matches = np.zeros(max_period, dtype=np.int64)
        self._columns = np.arange(max_period)
        self.seen = 0

    def push(self, code: int) -> Failure | None:
        """Add the next code; a Failure once the take is stuck or looping."""
        if len(self._recent) == self.span:
            old = self._recent[0]
            self._counts[old] -= 1
            if not self._counts[old]:
                del self._counts[old]
        self._recent.append(code)
        self._counts[code] += 1
        rows = len(self._history)
        same = self._previous == code
        # Slide every period's window: the match that leaves it is max(span, 2p) codes old.
        self._matches += same
        self._matches -= self._history[(self.seen - self._windows) % rows, self._columns]
        self._history[self.seen % rows] = same
        self._previous[1:] = self._previous[:-1]
        self._previous[0] = code
        self.seen += 1
        if len(self._recent) == self.span and len(self._counts) < self.min_distinct:
            return Failure("loop", f"stuck on {len(self._counts)} codes for {self.span / CODES_PER_SECOND:.0f} s")
        looping = (self._needed <= self.seen) & (self._matches >= self.match * self._windows)
        if looping.any():
            period = int(np.argmax(looping)) + 1
            return Failure("loop", f"the same {period / CODES_PER_SECOND:.2f} s of codes repeats")
        return None


def loop_failure(codes: list[int] | np.ndarray) -> Failure | None:
    """LoopWatch over a whole code sequence: the first stuck or looping stretch, if any."""
    watch = LoopWatch()
    for code in codes:
        failure = watch.push(int(code))
        if failure is not None:
            return failure
    return None


# --------------------------------------------------------------------------- decoding


def decode_failure(error: Exception) -> Failure:
    """A codec exception as a failed take (retried like any other), not a failed job."""
    return Failure("decode", f"the codec could not decode the take ({type(error).__name__}: {error})")
