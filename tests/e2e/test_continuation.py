"""/say continue_from: a clip continued in its own voice, through discord.py, the fake Discord and the tiny models.

Encoding is the one stand-in (XCodec2's encoder with w2v-BERT takes about a minute on our CPU;
tests/test_codec.py covers it): 50 codes a second, as the real one gives. The clip is cut to its
speech first, as for /voice clone.
"""
from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

from bot.audio.vad import trim_to_speech
from bot.speech.codec import SpeechCodec
from bot.speech.normalize import normalize_for_llasa
from bot.speech.synthesizer import Synthesizer
from tests.e2e.harness import running_bot
from tests.e2e.test_voice_clone import tiny_recognizer  # noqa: F401  (fixture)
from tests.fakediscord import Upload
from tests.fakes import PromptRecorder
from tests.speechlike import noise, silence, utterance

RATE = 44100  # the tiny codec's rate, so the joined file holds the clip unresampled
NEW_CODES = 200  # the harness caps sampling at 200 tokens; the random tiny model never ends early


def clip_codes(seconds: float) -> list[int]:
    return [(7 * n + 11) % 65536 for n in range(int(seconds * 50) + 1)]


@pytest.fixture
def encoder(monkeypatch) -> list[float]:
    """XCodec2's encoder as a stand-in: the seconds it was given, 50 codes a second."""
    given: list[float] = []

    def encode(self, wav: np.ndarray, sample_rate: int, *, max_seconds: float) -> np.ndarray:
        seconds = min(len(wav) / sample_rate, max_seconds)
        given.append(seconds)
        return np.asarray(clip_codes(seconds), dtype=np.int64)

    monkeypatch.setattr(SpeechCodec, "encode", encode)
    return given


@pytest.fixture
def recorder(tiny_synthesizer) -> tuple[PromptRecorder, Synthesizer]:
    model = PromptRecorder(tiny_synthesizer.llm)
    return model, Synthesizer(model, tiny_synthesizer.codec, captions=True)


def as_wav(samples: np.ndarray, rate: int = RATE) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def speech(vowels: str = "aiueoaoiue") -> np.ndarray:
    """Speech-like sound between silence and hiss, as a recorded clip has (about 2.5 s in all)."""
    return np.concatenate([silence(0.5, RATE), utterance(vowels, RATE), noise(0.5, RATE)])


def wav(seconds: float, rate: int = RATE) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    return as_wav((0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), rate)


def kept(data: bytes) -> np.ndarray:
    """What the bot keeps of an uploaded WAV: its speech (16-bit as uploaded)."""
    samples, rate = sf.read(io.BytesIO(data), dtype="float32")
    return trim_to_speech(samples, rate).samples


async def say(fake, options: dict, user: str = "carol"):
    handle = await fake.send_interaction("say", options, user=user)
    await handle.wait_deferred()
    for index in range(10):
        edit = await handle.wait_edit(index, timeout=60)
        if edit.attachments or not edit.content.startswith(("⏳", "🎙", "🔊 Speaking")):
            return edit
    raise AssertionError("no final answer")


def posted_samples(edit) -> np.ndarray:
    samples, rate = sf.read(io.BytesIO(edit.attachments[0].data), dtype="float32")
    assert rate == RATE
    return samples


async def test_a_posted_continuation_holds_only_the_new_speech_after_the_clips_codes(fake_discord, tmp_path, recorder, encoder):
    model, synthesizer = recorder
    async with running_bot(fake_discord, synthesizer, tmp_path / "bot.db"):
        edit = await say(fake_discord, {"text": "続きの文章", "continue_from": Upload("hello.wav", as_wav(speech()), "audio/wav"),
                                        "transcript": "こんにちは"})
    [seconds] = encoder
    assert seconds == len(kept(as_wav(speech()))) / RATE < 2.5  # cut to the speech, as for cloning
    [prompt] = model.prompts
    start = prompt.index(model.vocab.speech_start)
    assert prompt[start + 1:] == [model.vocab.speech_0 + c for c in clip_codes(seconds)]
    text = prompt[prompt.index(model.vocab.text_start) + 1:prompt.index(model.vocab.text_end)]
    assert text == model.tokenize_text(normalize_for_llasa("こんにちは続きの文章"))
    assert len(posted_samples(edit)) == NEW_CODES * synthesizer.codec.samples_per_code


async def test_with_clip_posts_the_original_then_the_continuation(fake_discord, tmp_path, recorder, encoder):
    _, synthesizer = recorder
    original = kept(as_wav(speech()))
    async with running_bot(fake_discord, synthesizer, tmp_path / "bot.db"):
        edit = await say(fake_discord, {"text": "続き", "continue_from": Upload("hello.wav", as_wav(speech()), "audio/wav"),
                                        "transcript": "やあ", "with_clip": True})
    samples = posted_samples(edit)
    assert len(samples) == len(original) + NEW_CODES * synthesizer.codec.samples_per_code
    assert np.abs(samples[:len(original)] - original).max() < 1e-4  # the clip's speech as uploaded (16-bit both ways)


async def test_a_continuation_is_spoken_in_the_voice_channel(fake_discord, tmp_path, recorder, encoder):
    model, synthesizer = recorder
    voice = fake_discord.voice[fake_discord.guild]
    async with running_bot(fake_discord, synthesizer, tmp_path / "bot.db"):
        await (await fake_discord.send_interaction("join", user="alice")).wait_reply()
        await voice.wait_connected()
        edit = await say(fake_discord, {"text": "続き", "continue_from": Upload("hi.wav", as_wav(speech("aoi")), "audio/wav"),
                                        "transcript": "やあ"}, user="bob")
        await voice.wait_until_silent(timeout=60)
    assert edit.content.startswith("🔊 Said 4.0 s") and not edit.attachments
    codes = clip_codes(encoder[0])
    assert model.prompts[0][-len(codes):] == [model.vocab.speech_0 + c for c in codes]
    assert len(voice.audio_packets) >= NEW_CODES  # one 20 ms frame per code reached the channel


def hostile_flac() -> bytes:
    """Ten minutes of eight-channel silence: a few hundred KB that decode to a gigabyte."""
    buffer = io.BytesIO()
    sf.write(buffer, np.zeros((600 * 8000, 8), np.float32), 8000, format="FLAC", subtype="PCM_16")
    return buffer.getvalue()


@pytest.mark.parametrize("upload, refusal", [
    (Upload("notes.txt", b"just some text, not audio" * 40, "text/plain"), "not audio that can be read"),
    (Upload("hostile.flac", hostile_flac(), "audio/flac"), "8 audio channels"),
    (Upload("blip.wav", wav(0.3), "audio/wav"), "only 0.3 s long"),
    (Upload("hiss.wav", as_wav(noise(3.0, RATE, level=0.05)), "audio/wav"), "could not hear anyone speaking"),
])
async def test_a_bad_attachment_gets_the_cloning_refusal_and_nothing_reaches_the_models(
        fake_discord, tmp_path, recorder, encoder, upload, refusal):
    model, synthesizer = recorder
    async with running_bot(fake_discord, synthesizer, tmp_path / "bot.db"):
        handle = await fake_discord.send_interaction("say", {"text": "続き", "continue_from": upload, "transcript": "やあ"},
                                                     user="bob")
        reply = await handle.wait_followup(timeout=30)
    assert refusal in reply.content
    assert encoder == [] and model.prompts == []


async def test_a_clip_without_its_transcript_is_refused_with_what_to_add(fake_discord, tmp_path, recorder, encoder):
    model, synthesizer = recorder
    async with running_bot(fake_discord, synthesizer, tmp_path / "bot.db"):
        handle = await fake_discord.send_interaction("say", {"text": "続き", "continue_from": Upload("a.wav", as_wav(speech()), "audio/wav")},
                                                     user="bob")
        reply = await handle.wait_reply()
    assert reply.ephemeral and "add transcript:" in reply.content and "speech recognition is off" in reply.content
    assert encoder == [] and model.prompts == []


async def test_without_a_transcript_the_clip_is_transcribed_and_what_was_heard_leads_the_text(
        fake_discord, tmp_path, recorder, encoder, tiny_recognizer):  # noqa: F811
    model, synthesizer = recorder
    data = as_wav(speech())
    heard = tiny_recognizer.transcribe(kept(data), RATE)  # random weights: junk text, but the same junk
    async with running_bot(fake_discord, synthesizer, tmp_path / "bot.db", recognizer=tiny_recognizer):
        edit = await say(fake_discord, {"text": "続き", "continue_from": Upload("a.wav", data, "audio/wav")})
    [prompt] = model.prompts
    text = prompt[prompt.index(model.vocab.text_start) + 1:prompt.index(model.vocab.text_end)]
    assert text == model.tokenize_text(normalize_for_llasa(heard + "続き"))
    assert f"「{heard}」" in edit.content and edit.attachments
