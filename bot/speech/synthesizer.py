"""Text in, audio out: sentences → Llasa prompts → streamed codes → streamed PCM."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field, replace

import numpy as np

from ..i18n import UserFacing
from .captions import VoiceCaption
from .codec import DEFAULT_SCHEDULE, SpeechCodec, StreamSchedule
from .backends.base import GenerationBackend
from .llm import FinishReason, Sampling
from .pacing import PieceSchedule
from .prompt import ReferenceVoice, build_prompt
from .sentences import DEFAULT_MAX_CHARS, split_sentences

log = logging.getLogger(__name__)

CODES_PER_SECOND = 50
# Codes go to the codec in small batches: its stream schedule, not ours, decides when a window is
# decoded, so audio comes out as soon as the codec can release it.
PUSH_CODES = 5


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
    finish_reasons: list[FinishReason] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)
    first_audio_s: float | None = None
    elapsed_s: float = 0.0
    longest_s: float | None = None  # the most audio this request can make (known once the text is split)


@dataclass(frozen=True)
class Clip:
    samples: np.ndarray  # float32 mono
    sample_rate: int
    report: SynthesisReport

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.sample_rate


class Synthesizer:
    """Owns nothing but references to the loaded models; as many threads may call it at once as
    its generation backend (`llm`, see backends/base.py) has capacity."""

    def __init__(
        self,
        llm: GenerationBackend,
        codec: SpeechCodec,
        *,
        captions: bool,
        instruction: str = "Convert the text to speech:",
        max_sentence_chars: int = DEFAULT_MAX_CHARS,
        chunk_codes: int = PUSH_CODES,
        min_codes: int = 10,
        retries: int = 2,
        pause_s: float = 0.15,
    ) -> None:
        self.llm = llm
        self.codec = codec
        self.captions = captions
        self.instruction = instruction
        self.max_sentence_chars = max_sentence_chars
        self.chunk_codes = chunk_codes
        # A take that ends before min_codes (0.2 s) is a failed take: retried with a new seed.
        # Nothing reaches the codec before min_codes are in, so nothing of a failed take is played.
        self.min_codes = min_codes
        self.retries = retries
        self.pause_s = pause_s

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
        """Yield float32 mono chunks at `sample_rate` as soon as they are decoded.

        affinity (the guild's queue lane) keeps one server's work on one backend endpoint.
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
            for chunk in self._sentence(sentence, request, budget, should_stop, report, affinity):
                if report.first_audio_s is None and len(chunk):
                    report.first_audio_s = time.perf_counter() - started
                yield chunk
            budget = int(request.max_seconds * CODES_PER_SECOND) - report.codes
        report.elapsed_s = time.perf_counter() - started

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
        for attempt in range(self.retries + 1):
            if attempt:
                report.retries += 1
                # The same seed would fail the same way again; a derived one keeps fixed-seed takes reproducible.
                sampling = replace(sampling, seed=-1 if sampling.seed < 0 else (sampling.seed + 7919) % 2**31)
            generation = self.llm.generate(prompt, sampling, should_stop=should_stop, affinity=affinity)
            stream = self.codec.stream()
            pending: list[int] = []
            emitted = 0
            for code in generation:
                pending.append(code)
                if len(pending) >= self.chunk_codes and emitted + len(pending) >= self.min_codes:
                    emitted += len(pending)
                    audio = stream.push(pending)
                    pending = []
                    if len(audio):
                        yield audio
            total = emitted + len(pending)
            report.seeds.append(generation.seed)
            report.finish_reasons.append(generation.finish_reason or FinishReason.END)
            failed_take = total < self.min_codes and generation.finish_reason == FinishReason.END
            if failed_take and attempt < self.retries and not should_stop():
                log.info("take of %d codes for %r ended early; retrying", total, sentence[:30])
                continue
            if total == 0 or generation.finish_reason == FinishReason.CANCELLED:
                report.codes += total
                return
            report.codes += total
            if pending:
                yield stream.push(pending)
            yield stream.finish()
            return
