"""Text in, audio out: sentences → Llasa prompts → streamed codes → streamed PCM."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator, Hashable, Iterator, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from ..i18n import UserFacing
from .captions import VoiceCaption
from .codec import DEFAULT_SCHEDULE, SpeechCodec, StreamSchedule
from .backends.base import GenerationBackend
from .detectors import (
    DurationBounds, Failure, LoopWatch, TakeCheck, Thresholds, decode_failure, duration_failure, expected_duration,
    inner_silence, no_end, runaway, speed_factor,
)
from .llm import FinishReason, Sampling
from .pacing import PieceSchedule
from .prompt import ReferenceVoice, build_prompt
from .sentences import DEFAULT_MAX_CHARS, split_sentences

log = logging.getLogger(__name__)

CODES_PER_SECOND = 50
# Codes go to the codec in small batches: its stream schedule, not ours, decides when a window is
# decoded, so audio comes out as soon as the codec can release it.
PUSH_CODES = 5
# A take's first codes are held back and checked before the codec gets any. The codec releases no
# audio before its first window (25 codes) is in anyway, so holding that many costs no first-audio
# time and still catches an instant END; holding more delays first audio (bench/first_audio.py).
HOLD_CODES = DEFAULT_SCHEDULE.first_audio_codes


def piece_schedule(schedule: StreamSchedule) -> PieceSchedule:
    """A codec stream schedule in the start rule's terms (seconds of audio).

    Counted over the whole message: later sentences restart with small windows, so this errs long.
    """
    return PieceSchedule(
        lambda released_s: schedule.step_after(int(released_s * CODES_PER_SECOND)) / CODES_PER_SECOND,
        held_s=(schedule.lookahead + schedule.fade) / CODES_PER_SECOND,
    )


class SynthesisError(UserFacing, RuntimeError):
    """Synthesis could not produce speech; the message is fit for the user."""


# Each detector's failure as users read it; failures of other take checks read as "check".
_WHY: dict[str, Callable[[], UserFacing]] = {
    "no_end": lambda: UserFacing("speech.failed.no_end"),
    "too_short": lambda: UserFacing("speech.failed.too_short"),
    "too_long": lambda: UserFacing("speech.failed.too_long"),
    "silence": lambda: UserFacing("speech.failed.silence"),
    "loop": lambda: UserFacing("speech.failed.loop"),
    "decode": lambda: UserFacing("speech.failed.decode"),
}


class TakeFailed(SynthesisError):
    """Every try at one sentence failed a detector or check; the message says why and what helps."""

    failures: tuple[Failure, ...] = ()

    @classmethod
    def of(cls, sentence: str, failures: Sequence[Failure]) -> "TakeFailed":
        """The error for a sentence whose every try failed, for these failures (one per try)."""
        detectors = [f.detector for f in failures]
        # The most frequent reason (the latest among equals) speaks for all tries.
        worst = max(reversed(detectors), key=detectors.count)
        why = _WHY.get(worst, lambda: UserFacing("speech.failed.check"))()
        shown = sentence if len(sentence) <= 30 else sentence[:30] + "…"
        error = TakeFailed("speech.take_failed", tries=len(failures), sentence=shown, why=why)
        error.failures = tuple(failures)
        return error


@dataclass(frozen=True)
class FailedTake:
    """A take a detector or check rejected. `heard`: its start was already out, so it was cut short, not retried."""

    sentence: int
    seed: int
    failure: Failure
    heard: bool = False


@dataclass(frozen=True)
class Voice:
    """Who speaks: a caption (Captions model), a reference clip to clone, or neither."""

    caption: VoiceCaption | None = None
    reference: ReferenceVoice | None = None


@dataclass(frozen=True)
class SpeechRequest:
    """Everything one synthesis needs; it crosses from the bot to the engine unchanged."""

    text: str
    voice: Voice = Voice()
    sampling: Sampling = Sampling()
    max_seconds: float = 120.0


@dataclass
class SynthesisReport:
    """What happened, for logs and for the user ("why did it stop?")."""

    sentences: int = 0
    codes: int = 0
    retries: int = 0
    finish_reasons: list[FinishReason] = field(default_factory=list)  # per sentence: how its heard take ended
    seeds: list[int] = field(default_factory=list)  # per sentence: the heard take's seed
    failed_takes: list[FailedTake] = field(default_factory=list)
    first_audio_s: float | None = None
    elapsed_s: float = 0.0
    longest_s: float | None = None  # the most audio this request can make (known once the text is split)

    def end_reasons(self) -> str:
        """How the sentences' heard takes ended (the seed UI's "End reason"): "end", "end, length"."""
        return ", ".join(dict.fromkeys(r.value for r in self.finish_reasons)) or "-"

    def retries_note(self) -> str:
        """How many takes were made again, and which detectors failed takes: "1 (too_short)"."""
        detectors = ", ".join(dict.fromkeys(t.failure.detector for t in self.failed_takes))
        return f"{self.retries} ({detectors})" if detectors else str(self.retries)

    def summary(self) -> str:
        """End reasons, retries and failing detectors in one line, for logs."""
        return f"end: {self.end_reasons()}, retries: {self.retries_note()}"


@dataclass(frozen=True)
class Clip:
    samples: np.ndarray  # float32 mono
    sample_rate: int
    report: SynthesisReport

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.sample_rate


@dataclass
class _Take:
    """How one take went (local to one take: the synthesizer keeps no state between calls)."""

    seed: int
    codes: int = 0
    finish_reason: FinishReason = FinishReason.END
    failure: Failure | None = None
    heard: bool = False  # some of its audio was released


class Synthesizer:
    """Owns nothing but references to the loaded models; as many threads may call it at once as
    its generation backend (`llm`, see backends/base.py) has capacity.

    Every take is checked (detectors.py, with `thresholds`; None, the default, judges nothing: the
    loader passes the [quality] config's) and a failed one
    is retried with a new seed up to `retries` times. The first `hold_codes` codes of a take are
    held back and checked before the codec gets any, so a bad start (instant END, early loop,
    decode error) is never heard; with `checks` (e.g. speech recognition) the whole take is held
    until they pass. A take that fails after its start was released cannot be un-said: it is cut
    short where it failed (a loop or runaway stops there), reported, and not retried.
    """

    def __init__(
        self,
        llm: GenerationBackend,
        codec: SpeechCodec,
        *,
        captions: bool,
        instruction: str = "Convert the text to speech:",
        max_sentence_chars: int = DEFAULT_MAX_CHARS,
        chunk_codes: int = PUSH_CODES,
        retries: int = 2,
        hold_codes: int = HOLD_CODES,
        thresholds: Thresholds | None = None,
        checks: Sequence[TakeCheck] = (),
        pause_s: float = 0.15,
    ) -> None:
        self.llm = llm
        self.codec = codec
        self.captions = captions
        self.instruction = instruction
        self.max_sentence_chars = max_sentence_chars
        self.chunk_codes = chunk_codes
        self.retries = retries
        self.hold_codes = hold_codes
        self.thresholds = thresholds
        self.checks = tuple(checks)
        self.pause_s = pause_s

    def close(self) -> None:
        """Release the generation backend (its model, or its server connections and health thread) and the codec."""
        self.llm.close()
        self.codec.close()

    @property
    def sample_rate(self) -> int:
        return self.codec.sample_rate

    @property
    def pieces(self) -> PieceSchedule:
        """How streamed audio comes out (the codec's window schedule), for the playback start rule."""
        return piece_schedule(DEFAULT_SCHEDULE)

    def stream(
        self,
        request: SpeechRequest,
        *,
        should_stop: Callable[[], bool] = lambda: False,
        report: SynthesisReport | None = None,
        affinity: Hashable | None = None,
    ) -> Iterator[np.ndarray]:
        """Yield float32 mono chunks at `sample_rate` as soon as they are decoded and fit to be heard.

        affinity (the guild's queue lane) keeps one server's work on one backend endpoint.
        TakeFailed when every try at a sentence failed.
        """
        report = report if report is not None else SynthesisReport()
        started = time.perf_counter()
        budget = int(request.max_seconds * CODES_PER_SECOND)
        pause = np.zeros(int(self.pause_s * self.sample_rate), dtype=np.float32)
        sentences = split_sentences(request.text, self.max_sentence_chars)
        codes = min(budget, len(sentences) * request.sampling.max_tokens)
        report.longest_s = codes / CODES_PER_SECOND + max(len(sentences) - 1, 0) * len(pause) / self.sample_rate
        for index, sentence in enumerate(sentences):
            if should_stop() or budget <= 0:
                break
            if index:
                yield pause
            report.sentences += 1
            for chunk in self._sentence(index, sentence, request, budget, should_stop, report, affinity):
                if report.first_audio_s is None and len(chunk):
                    report.first_audio_s = time.perf_counter() - started
                yield chunk
            budget = int(request.max_seconds * CODES_PER_SECOND) - report.codes
        report.elapsed_s = time.perf_counter() - started
        if report.retries or report.failed_takes:
            log.info("spoke %d sentence(s) of %r: %s", report.sentences, request.text[:30], report.summary())

    def synthesize(self, request: SpeechRequest, *, should_stop: Callable[[], bool] = lambda: False) -> Clip:
        """The whole clip at once; SynthesisError when no speech came out."""
        report = SynthesisReport()
        chunks = list(self.stream(request, should_stop=should_stop, report=report))
        if report.codes == 0:
            raise SynthesisError("speech.no_speech")
        samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
        return Clip(samples, self.sample_rate, report)

    def _sentence(
        self,
        index: int,
        sentence: str,
        request: SpeechRequest,
        budget: int,
        should_stop: Callable[[], bool],
        report: SynthesisReport,
        affinity: Hashable | None,
    ) -> Iterator[np.ndarray]:
        voice = request.voice
        prompt = build_prompt(
            self.llm.vocab, self.llm.tokenize_text, sentence,
            caption=voice.caption, reference=voice.reference,
            with_system_block=self.captions, instruction=self.instruction,
        )
        sampling = replace(request.sampling, max_tokens=min(request.sampling.max_tokens, budget))
        capped_by_request = sampling.max_tokens < request.sampling.max_tokens
        bounds = None
        if self.thresholds is not None:
            speed = speed_factor(voice.caption.speed) if voice.caption is not None and self.captions else 1.0
            bounds = expected_duration(sentence, speed, self.thresholds)
        failures: list[Failure] = []
        for attempt in range(self.retries + 1):
            if attempt:
                report.retries += 1
                # The same seed would fail the same way again; a derived one keeps fixed-seed takes reproducible.
                sampling = replace(sampling, seed=-1 if sampling.seed < 0 else (sampling.seed + 7919) % 2**31)
            take = yield from self._take(sentence, prompt, sampling, bounds, capped_by_request, should_stop, affinity)
            if take.failure is not None:
                report.failed_takes.append(FailedTake(index, take.seed, take.failure, take.heard))
            if take.failure is None or take.heard or take.finish_reason == FinishReason.CANCELLED:
                if take.failure is not None:
                    log.warning("sentence %d (%r) was cut short after its start was heard: %s: %s",
                                index + 1, sentence[:30], take.failure.detector, take.failure.detail)
                report.codes += take.codes
                report.finish_reasons.append(take.finish_reason)
                report.seeds.append(take.seed)
                return
            failures.append(take.failure)
            log.info("take %d of sentence %d (%r, seed %d) failed: %s: %s", attempt + 1, index + 1, sentence[:30],
                     take.seed, take.failure.detector, take.failure.detail)
            if should_stop():
                return
        log.warning("giving up on sentence %d (%r) after %d tries", index + 1, sentence[:30], len(failures))
        raise TakeFailed.of(sentence, failures)

    def _take(
        self,
        sentence: str,
        prompt: list[int],
        sampling: Sampling,
        bounds: DurationBounds | None,
        capped_by_request: bool,
        should_stop: Callable[[], bool],
        affinity: Hashable | None,
    ) -> Generator[np.ndarray, None, _Take]:
        """One try: yields the audio it releases; returns how it went."""
        tripped: list[Failure] = []  # set mid-stream; the backend stops at its next token
        generation = self.llm.generate(prompt, sampling, should_stop=lambda: bool(tripped) or should_stop(),
                                       affinity=affinity)
        take = _Take(seed=generation.seed)
        watch = LoopWatch() if self.thresholds is not None else None
        hold = self.hold_codes if not self.checks else None  # None: hold the whole take
        stream = self.codec.stream()
        pending: list[int] = []
        heard: list[np.ndarray] = []  # this take's released audio, for the silence check while streaming
        for code in generation:
            failure = watch.push(code) if watch is not None else None
            if failure is None and bounds is not None:
                failure = runaway((take.codes + 1) / CODES_PER_SECOND, bounds)
            if failure is not None:
                tripped.append(failure)
                continue  # the generation ends at its next step: should_stop() is now true
            take.codes += 1
            pending.append(code)
            if hold is None or take.codes < hold or len(pending) < self.chunk_codes:
                continue
            # A released hold goes in chunk by chunk: the codec's first window stays small (first audio sooner).
            while len(pending) >= self.chunk_codes and failure is None:
                piece, pending = pending[:self.chunk_codes], pending[self.chunk_codes:]
                audio, failure = self._decode(lambda: stream.push(piece))
                if failure is None and len(audio):
                    heard.append(audio)
                    take.heard = True
                    yield audio
                    if self.thresholds is not None and len(heard) > 1:
                        failure = inner_silence(np.concatenate(heard), self.sample_rate, self.thresholds)
            if failure is not None:
                tripped.append(failure)
        take.seed = generation.seed
        if should_stop():  # the listener left: nothing to check or retry
            take.finish_reason = FinishReason.CANCELLED
            return take
        if tripped:
            take.failure = tripped[0]
            take.finish_reason = FinishReason.REPETITION if take.failure.detector == "loop" else FinishReason.STOPPED
            if take.heard and take.failure.detector != "decode":
                take.codes -= len(pending)  # the codes not yet decoded are the failing ones: dropped
                yield self._decode(stream.finish)[0]  # the tail of what was heard
            return take
        take.finish_reason = generation.finish_reason or FinishReason.END
        if take.codes == 0:
            return take
        rest, take.failure = self._decode(lambda: np.concatenate([stream.push(pending), stream.finish()]))
        if take.failure is not None:
            return take
        take.failure = self._check(sentence, np.concatenate([*heard, rest]), take, bounds, capped_by_request)
        if take.heard or take.failure is None:
            # Heard takes end as they are: a failure found now is too late to retry.
            take.heard = True
            yield rest
        return take

    def _check(self, sentence: str, audio: np.ndarray, take: _Take, bounds: DurationBounds | None,
               capped_by_request: bool) -> Failure | None:
        """The finished take's detectors, then the registered checks; the first failure or None."""
        if self.thresholds is not None and bounds is not None:
            cut_by_request = capped_by_request and take.finish_reason == FinishReason.LENGTH
            failure = (no_end(take.finish_reason, capped_by_request=capped_by_request)
                       or (None if cut_by_request else duration_failure(take.codes / CODES_PER_SECOND, bounds))
                       or inner_silence(audio, self.sample_rate, self.thresholds))
            if failure is not None:
                return failure
        for check in self.checks:
            try:
                failure = check.check(sentence, audio, self.sample_rate)
            except Exception:  # noqa: BLE001 - a broken check must cost the check, not the speech
                log.exception("take check %s failed on %r; passing the take", type(check).__name__, sentence[:30])
                continue
            if failure is not None:
                return failure
        return None

    def _decode(self, step: Callable[[], np.ndarray]) -> tuple[np.ndarray, Failure | None]:
        """Run one codec step; an exception fails this take (retried with a new seed), not the job."""
        try:
            return step(), None
        except Exception as error:  # noqa: BLE001 - any codec error, logged with its traceback
            log.warning("decoding a take failed", exc_info=True)
            return np.zeros(0, dtype=np.float32), decode_failure(error)
