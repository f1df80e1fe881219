"""Continuing a clip on the tiny real models: the clip's codes lead the prompt, only new speech comes out."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from bot.speech.captions import VoiceCaption
from bot.speech.continuation import SourceClip, continuing, joined
from bot.speech.llm import Sampling
from bot.speech.normalize import normalize_for_llasa
from bot.speech.synthesizer import SpeechRequest, Synthesizer, Voice
from tests.fakes import PromptRecorder

CLIP_CODES = tuple(range(1000, 1150))  # 3 s of the clip's voice
SAMPLING = Sampling(max_tokens=40, seed=3)


def source_clip(seconds: float = 3.0, rate: int = 44100) -> SourceClip:
    t = np.arange(int(seconds * rate)) / rate
    return SourceClip((0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), rate, CLIP_CODES)


def test_the_clips_codes_follow_speech_generation_start_and_its_transcript_leads_the_text(tiny_synthesizer):
    model = PromptRecorder(tiny_synthesizer.llm)
    synthesizer = Synthesizer(model, tiny_synthesizer.codec, captions=True)
    request = continuing(SpeechRequest("続きの文章", sampling=SAMPLING), source_clip(), "こんにちは")

    clip = synthesizer.synthesize(request)

    [prompt] = model.prompts
    vocab = model.vocab
    start = prompt.index(vocab.speech_start)
    assert prompt[start + 1:] == [vocab.speech_0 + c for c in CLIP_CODES]  # generation goes on after the clip
    text = prompt[prompt.index(vocab.text_start) + 1:prompt.index(vocab.text_end)]
    assert text == model.tokenize_text(normalize_for_llasa("こんにちは続きの文章"))
    # Only the new codes are decoded: none of the clip's 150 codes come back as audio.
    assert clip.report.codes == 40
    assert len(clip.samples) == 40 * tiny_synthesizer.codec.samples_per_code


def test_joined_is_the_original_audio_then_the_new_part(tiny_synthesizer):
    source = source_clip(seconds=2.0)
    request = continuing(SpeechRequest("続き", sampling=SAMPLING), source, "やあ")
    new = tiny_synthesizer.synthesize(request)

    both = joined(source, new)

    assert both.sample_rate == new.sample_rate == source.sample_rate
    assert len(both.samples) == len(source.samples) + 40 * tiny_synthesizer.codec.samples_per_code
    assert np.array_equal(both.samples[:len(source.samples)], source.samples)
    assert np.array_equal(both.samples[len(source.samples):], new.samples)


def test_a_clip_at_another_rate_is_resampled_before_joining(tiny_synthesizer):
    source = replace(source_clip(seconds=1.0, rate=16000), codes=CLIP_CODES[:50])
    new = tiny_synthesizer.synthesize(continuing(SpeechRequest("続き", sampling=SAMPLING), source, "やあ"))

    both = joined(source, new)

    assert len(both.samples) == 44100 + len(new.samples)  # 1 s at the codec's rate, then the new part


def test_continuing_keeps_the_requests_caption_and_sampling():
    caption = VoiceCaption(caption="落ち着いた声")
    request = SpeechRequest("続き", Voice(caption=caption), SAMPLING)

    continued = continuing(request, source_clip(), "やあ")

    assert continued.voice.caption == caption and continued.sampling == SAMPLING
    assert continued.voice.reference.codes == CLIP_CODES and continued.voice.reference.transcript == "やあ"
