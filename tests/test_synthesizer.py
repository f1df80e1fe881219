"""Text → audio through the real llama-cpp-python and codec code on tiny models."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from bot.speech.captions import VoiceCaption
from bot.speech.llm import FinishReason, Sampling
from bot.speech.prompt import ReferenceVoice
from bot.speech.synthesizer import SpeechRequest, SynthesisError, Voice

SAMPLING = Sampling(max_tokens=60, seed=5)


def test_a_clip_has_the_codecs_rate_and_codes_times_hop_samples(tiny_synthesizer):
    clip = tiny_synthesizer.synthesize(SpeechRequest("こんにちは。", sampling=SAMPLING))
    assert clip.sample_rate == 44100
    assert clip.report.codes == 60 and clip.report.finish_reasons == [FinishReason.LENGTH]
    assert len(clip.samples) == 60 * 882
    assert np.isfinite(clip.samples).all() and clip.samples.std() > 0


def test_streamed_chunks_add_up_to_the_clip_and_the_first_comes_early(tiny_synthesizer):
    chunks = list(tiny_synthesizer.stream(SpeechRequest("テスト", sampling=SAMPLING)))
    assert len(chunks) > 2  # audio arrives in pieces while codes are generated
    assert sum(len(c) for c in chunks) == 60 * 882
    # Same seed, same codes: streaming and one-shot give the same length.
    assert len(tiny_synthesizer.synthesize(SpeechRequest("テスト", sampling=SAMPLING)).samples) == 60 * 882


def test_long_text_is_spoken_sentence_by_sentence_with_pauses(tiny_synthesizer):
    text = "今日はいい天気です。" * 12  # 120 characters → two prompts of ≤ 80
    clip = tiny_synthesizer.synthesize(SpeechRequest(text, sampling=replace(SAMPLING, max_tokens=20)))
    assert clip.report.sentences == 2 and clip.report.codes == 40
    pause = int(0.15 * 44100)
    assert len(clip.samples) == 40 * 882 + pause
    # Known before the first chunk, for playback pacing: here the model used its whole budget.
    assert clip.report.longest_s == pytest.approx(clip.seconds)


def test_captions_and_a_reference_voice_go_into_the_prompt(tiny_synthesizer):
    voice = Voice(caption=VoiceCaption(emotion="joyful", caption="元気な少女"), reference=ReferenceVoice((1, 2, 3) * 20, "やあ"))
    clip = tiny_synthesizer.synthesize(SpeechRequest("こんにちは", voice, SAMPLING))
    # Only newly generated codes are decoded, never the reference's.
    assert len(clip.samples) == 60 * 882


def test_the_clip_length_limit_caps_generation(tiny_synthesizer):
    clip = tiny_synthesizer.synthesize(SpeechRequest("長い。" * 40, sampling=replace(SAMPLING, max_tokens=500), max_seconds=1.0))
    assert clip.report.codes == 50
    assert clip.seconds <= clip.report.longest_s <= 1.0 + 0.15  # an upper bound: a pause might have followed


def test_text_with_nothing_to_say_is_a_clear_error(tiny_synthesizer):
    with pytest.raises(SynthesisError, match="no speech"):
        tiny_synthesizer.synthesize(SpeechRequest("   ", sampling=SAMPLING))
