"""Verification by speech recognition: a take fails when what is heard reads too differently from its text."""
from __future__ import annotations

import numpy as np
import pytest

from bot.speech.detectors import Failure, TakeCheck
from bot.speech.recognizer import SpeechRecognizer
from bot.speech.verify import RecognitionCheck
from bot.text.reading import reading_cer
from tests.speechlike import utterance
from tests.tiny_whisper import save_tiny_whisper

TEXT = "今日は良い天気ですね。"


class Heard:
    """A transcriber that hears the given text, whatever the audio."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.calls = 0

    def transcribe(self, samples: np.ndarray, sample_rate: int) -> str:
        self.calls += 1
        return self.text


@pytest.fixture(scope="module")
def tiny_recognizer(tmp_path_factory: pytest.TempPathFactory) -> SpeechRecognizer:
    return SpeechRecognizer.load(str(save_tiny_whisper(tmp_path_factory.mktemp("tiny-whisper"))))


def test_the_real_recogniser_decides_by_the_threshold(tiny_recognizer):
    audio = utterance("aiueoaiueo", 44_100)
    heard = tiny_recognizer.transcribe(audio, 44_100)  # random weights: junk text
    cer = reading_cer(TEXT, heard)
    assert cer > 0.15
    strict = RecognitionCheck(tiny_recognizer, max_cer=0.15)
    assert isinstance(strict, TakeCheck)
    failure = strict.check(TEXT, audio, 44_100)
    assert isinstance(failure, Failure) and failure.detector == "recognition"
    assert f"reading error {cer:.2f}, more than 0.15" in failure.detail
    assert RecognitionCheck(tiny_recognizer, max_cer=cer).check(TEXT, audio, 44_100) is None


@pytest.mark.parametrize("heard", ["きょうはいいてんきですね", "今日は良い天気ですね", "きょうはよいてんきですね"])
def test_the_same_words_in_other_writing_pass(heard):
    assert RecognitionCheck(Heard(heard), max_cer=0.15).check(TEXT, np.zeros(100, np.float32), 16_000) is None


def test_a_dropped_clause_fails_and_says_what_was_heard():
    failure = RecognitionCheck(Heard("明日の会議は"), max_cer=0.15).check(
        "明日の会議は十時からです", np.zeros(100, np.float32), 16_000)
    assert failure is not None and failure.detail.startswith("heard 「明日の会議は」 for 「明日の会議は十時からです」")


def test_delivery_tags_are_not_expected_to_be_heard():
    check = RecognitionCheck(Heard("ねえ、ちょっと来て"), max_cer=0.15)
    assert check.check("（囁き）ねえ、（少し間を置いて）ちょっと来て", np.zeros(100, np.float32), 16_000) is None


class Counting:
    """The tiny recogniser, counting the takes it is given."""

    def __init__(self, recognizer: SpeechRecognizer) -> None:
        self.recognizer = recognizer
        self.takes = 0

    def transcribe(self, samples: np.ndarray, sample_rate: int) -> str:
        self.takes += 1
        return self.recognizer.transcribe(samples, sample_rate)


@pytest.mark.parametrize("max_cer, passes", [(0.15, False), (100.0, True)])
def test_the_synthesizer_makes_takes_again_until_recognition_passes(tiny_gguf_that_ends, tiny_codec_dir,
                                                                    tiny_recognizer, max_cer, passes):
    from bot.speech.codec import SpeechCodec
    from bot.speech.llm import LlasaModel, LoadOptions, Sampling
    from bot.speech.loader import verify_takes
    from bot.speech.synthesizer import SpeechRequest, Synthesizer, TakeFailed

    llm = LlasaModel.load(tiny_gguf_that_ends, LoadOptions(n_gpu_layers=0, n_threads=2))
    synthesizer = Synthesizer(llm, SpeechCodec.load(str(tiny_codec_dir)), captions=True, thresholds=None, retries=2)
    recognizer = Counting(tiny_recognizer)
    verify_takes(synthesizer, recognizer, max_cer)  # type: ignore[arg-type]
    request = SpeechRequest(TEXT, sampling=Sampling(max_tokens=300, temperature=1.0, top_p=1.0, repeat_penalty=1.0, seed=7))
    if passes:
        clip = synthesizer.synthesize(request)
        assert len(clip.samples) > 0 and recognizer.takes == 1
    else:
        with pytest.raises(TakeFailed) as failed:
            synthesizer.synthesize(request)
        # Random weights hear junk: every try fails recognition, and none is kept.
        assert [f.detector for f in failed.value.failures] == ["recognition"] * 3 and recognizer.takes == 3
