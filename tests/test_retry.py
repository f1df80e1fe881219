"""Failed takes are retried before anyone hears them, on the tiny real models (llama.cpp + XCodec2)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from bot.speech.codec import SpeechCodec
from bot.speech.detectors import Failure, Thresholds
from bot.speech.llm import CodeGeneration, FinishReason, LlasaModel, LoadOptions, Sampling
from bot.speech.synthesizer import FailedTake, SpeechRequest, SynthesisReport, Synthesizer, TakeFailed

# Temperature 1 on the model that ends: takes of a geometric length (seed 7: 6 codes, then 60).
ENDING = Sampling(max_tokens=300, temperature=1.0, top_p=1.0, repeat_penalty=1.0, seed=7)
NEXT_SEED = 7 + 7919
JUDGED = Thresholds()  # the detectors' defaults, as the [quality] config gives them


@pytest.fixture(scope="module")
def ending_llm(tiny_gguf_that_ends):
    return LlasaModel.load(tiny_gguf_that_ends, LoadOptions(n_gpu_layers=0, n_threads=2))


@pytest.fixture(scope="module")
def codec(tiny_codec_dir):
    return SpeechCodec.load(str(tiny_codec_dir))


def unjudged_take(llm, codec, seed: int, text: str = "あ") -> np.ndarray:
    """The audio a take with this seed makes when nobody judges it."""
    plain = Synthesizer(llm, codec, captions=True, thresholds=None, retries=0)
    return plain.synthesize(SpeechRequest(text, sampling=replace(ENDING, seed=seed))).samples


class RejectFirst:
    """A TakeCheck (like speech recognition) that turns down the first take it is shown."""

    def __init__(self) -> None:
        self.shown: list[np.ndarray] = []

    def check(self, text: str, audio: np.ndarray, sample_rate: int) -> Failure | None:
        self.shown.append(audio)
        return Failure("verify", "heard something else") if len(self.shown) == 1 else None


def test_an_instant_end_is_retried_and_only_the_retried_take_is_heard(ending_llm, codec):
    synthesizer = Synthesizer(ending_llm, codec, captions=True, thresholds=JUDGED)
    report = SynthesisReport()
    chunks = list(synthesizer.stream(SpeechRequest("あ", sampling=ENDING), report=report))
    heard = np.concatenate(chunks)
    # Seed 7 ends after 6 codes (0.12 s, under the 0.2 s floor): held back, judged, never released.
    assert report.failed_takes == [FailedTake(0, 7, report.failed_takes[0].failure, heard=False)]
    assert report.failed_takes[0].failure.detector == "too_short"
    assert report.retries == 1 and report.seeds == [NEXT_SEED] and report.finish_reasons == [FinishReason.END]
    np.testing.assert_array_equal(heard, unjudged_take(ending_llm, codec, NEXT_SEED))
    assert report.codes == 60 and len(heard) == 60 * 882


def test_with_checks_registered_the_whole_take_waits_for_them(ending_llm, codec):
    check = RejectFirst()
    synthesizer = Synthesizer(ending_llm, codec, captions=True, thresholds=None, checks=[check])
    sampling = replace(ENDING, seed=NEXT_SEED)  # 60 codes: longer than the held start
    report = SynthesisReport()
    chunks = list(synthesizer.stream(SpeechRequest("あ", sampling=sampling), report=report))
    # The 60-code take was checked whole, rejected, and none of it came out; the next one came out whole.
    assert len(check.shown) == 2 and len(check.shown[0]) == 60 * 882
    assert len(chunks) == 1
    np.testing.assert_array_equal(chunks[0], check.shown[1])
    # Decoded in one window, not streamed: the same codes as the unjudged take, not the same samples.
    assert len(chunks[0]) == len(unjudged_take(ending_llm, codec, NEXT_SEED + 7919))
    assert [t.failure for t in report.failed_takes] == [Failure("verify", "heard something else")]


def test_when_every_try_fails_the_error_names_the_detector_and_suggests_hiragana(ending_llm, codec):
    # Every take is too short and, held back whole (hold_codes), judged before any of it is out.
    synthesizer = Synthesizer(ending_llm, codec, captions=True, thresholds=Thresholds(shortest_s=30.0), retries=2,
                              hold_codes=1000)
    heard: list[np.ndarray] = []
    with pytest.raises(TakeFailed) as failed:
        heard.extend(synthesizer.stream(SpeechRequest("あ", sampling=ENDING)))
    assert [f.detector for f in failed.value.failures] == ["too_short"] * 3
    assert "3 tries" in str(failed.value) and "stopped far too early" in str(failed.value)
    assert "hiragana" in str(failed.value)
    assert heard == []  # no broken clip


class ScriptedBackend:
    """A generation backend that plays given code sequences, one per take, and stops as LlasaModel does."""

    capacity = 1

    def __init__(self, llm: LlasaModel, takes: list[list[int]]) -> None:
        self.vocab, self.tokenize_text = llm.vocab, llm.tokenize_text
        self._takes = iter(takes)

    def generate(self, prompt, sampling, *, should_stop=lambda: False, affinity=None) -> CodeGeneration:
        codes, cap = next(self._takes), sampling.max_tokens
        generation = CodeGeneration(iter(()), sampling.seed)

        def play():
            for count, code in enumerate(codes[:cap], 1):
                yield code
                if should_stop():
                    generation.finish_reason = FinishReason.CANCELLED
                    return
            generation.finish_reason = FinishReason.LENGTH if len(codes) >= cap else FinishReason.END

        generation._codes = play()
        return generation

    def close(self) -> None:
        pass


def varied(n: int, seed: int = 0) -> list[int]:
    return [int(c) for c in np.random.default_rng(seed).integers(0, 65536, n)]


LOOPING = varied(30) + varied(40, seed=1) * 10  # a 0.8 s stretch said over and over


def test_a_loop_found_while_held_is_retried(tiny_llm, codec):
    backend = ScriptedBackend(tiny_llm, [LOOPING, varied(80, seed=2)])
    synthesizer = Synthesizer(backend, codec, captions=True, hold_codes=200, thresholds=JUDGED)  # type: ignore[arg-type]
    clip = synthesizer.synthesize(SpeechRequest("あいうえおかきくけこ", sampling=Sampling(max_tokens=600, seed=1)))
    (failed,) = clip.report.failed_takes
    assert failed.failure == Failure("loop", "the same 0.80 s of codes repeats") and not failed.heard
    assert clip.report.retries == 1 and clip.report.codes == 80 and len(clip.samples) == 80 * 882


def test_a_loop_found_after_the_start_was_heard_is_cut_short_not_retried(tiny_llm, codec):
    backend = ScriptedBackend(tiny_llm, [LOOPING])
    synthesizer = Synthesizer(backend, codec, captions=True, thresholds=JUDGED)  # type: ignore[arg-type]
    clip = synthesizer.synthesize(SpeechRequest("あいうえおかきくけこ", sampling=Sampling(max_tokens=600, seed=1)))
    (late,) = clip.report.failed_takes
    assert late.failure.detector == "loop" and late.heard
    assert clip.report.retries == 0 and clip.report.finish_reasons == [FinishReason.REPETITION]
    # Stopped once 90 of the last 100 codes repeated the 40 before them (159), not at the 430 scripted;
    # what was pushed to the codec by then (5 at a time) is heard, the rest dropped.
    assert clip.report.codes == 155 and len(clip.samples) == 155 * 882


def test_a_take_running_past_its_text_is_stopped_there(tiny_llm, codec):
    backend = ScriptedBackend(tiny_llm, [varied(400)])
    synthesizer = Synthesizer(backend, codec, captions=True, thresholds=JUDGED)  # type: ignore[arg-type]
    clip = synthesizer.synthesize(SpeechRequest("あ", sampling=Sampling(max_tokens=400, seed=3)))
    # "あ" may take 1/3 s + 1.5 s of edges: 91 codes, then the take is stopped (not at 400); the
    # 90 pushed to the codec by then (5 at a time) are heard.
    assert clip.report.codes == 90 and len(clip.samples) == 90 * 882
    assert clip.report.finish_reasons == [FinishReason.STOPPED]
    assert clip.report.failed_takes[0].failure.detector == "too_long" and clip.report.failed_takes[0].heard


def test_the_requests_own_length_limit_is_not_a_failed_take(tiny_llm, codec):
    backend = ScriptedBackend(tiny_llm, [varied(500)])
    synthesizer = Synthesizer(backend, codec, captions=True, thresholds=JUDGED)  # type: ignore[arg-type]
    clip = synthesizer.synthesize(SpeechRequest("ながい。" * 20, sampling=Sampling(max_tokens=500, seed=3), max_seconds=1.0))
    assert clip.report.codes == 50 and clip.report.finish_reasons == [FinishReason.LENGTH]
    assert clip.report.failed_takes == [] and clip.report.retries == 0


class CodecFailingOnce:
    """The real codec, whose first stream raises on its first decode (a CUDA hiccup, say)."""

    def __init__(self, codec: SpeechCodec) -> None:
        self._codec = codec
        self.sample_rate = codec.sample_rate
        self.streams = 0

    def stream(self):
        self.streams += 1
        inner = self._codec.stream()
        if self.streams > 1:
            return inner

        class Broken:
            def push(self, codes):
                raise RuntimeError("CUDA error: an illegal memory access was encountered")

            def finish(self):
                return inner.finish()

        return Broken()


def test_a_decode_error_fails_the_take_not_the_job(ending_llm, codec):
    flaky = CodecFailingOnce(codec)
    synthesizer = Synthesizer(ending_llm, flaky, captions=True, thresholds=JUDGED)  # type: ignore[arg-type]
    clip = synthesizer.synthesize(SpeechRequest("あ", sampling=replace(ENDING, seed=1)))  # 61 codes, then 13
    assert [t.failure.detector for t in clip.report.failed_takes] == ["decode"]
    assert not clip.report.failed_takes[0].heard
    np.testing.assert_array_equal(clip.samples, unjudged_take(ending_llm, codec, 1 + 7919))

