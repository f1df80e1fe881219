"""/voice clone through the fake Discord: clips cut to their speech, and transcribed when no transcript is given."""
from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

from bot.audio.vad import trim_to_speech
from bot.speech.recognizer import SpeechRecognizer
from tests.e2e.harness import running_bot
from tests.e2e.test_hardening import RecordingCodec
from tests.fakediscord import Upload
from tests.fakes import ScriptedSynthesizer
from tests.speechlike import noise, silence, utterance
from tests.tiny_whisper import save_tiny_whisper

RATE = 16_000


@pytest.fixture(scope="module")
def tiny_recognizer(tmp_path_factory: pytest.TempPathFactory) -> SpeechRecognizer:
    return SpeechRecognizer.load(str(save_tiny_whisper(tmp_path_factory.mktemp("tiny-whisper"))))


def speech_clip() -> np.ndarray:
    """1.5 s of silence and hiss, 3.3 s of speech-like sound, 1 s of hiss: 5.8 s."""
    return np.concatenate([silence(1.0), noise(0.5), utterance("aiueoaoiueaoiaue"), noise(1.0)])


def flac(samples: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, RATE, format="FLAC", subtype="PCM_16")
    return buffer.getvalue()


async def clone(fake, data: bytes, transcript: str | None = None):
    options: dict[str, object] = {"clip": Upload("me.flac", data, "audio/flac")}
    if transcript is not None:
        options["transcript"] = transcript
    handle = await fake.send_interaction("voice", options, subcommand="clone", user="bob")
    return await handle.wait_followup(timeout=30)


async def test_a_clip_is_cut_to_its_speech_and_the_reply_says_the_kept_length(fake_discord, tmp_path):
    synth = ScriptedSynthesizer()
    synth.codec = RecordingCodec()
    async with running_bot(fake_discord, synth, tmp_path / "bot.db") as bot:
        reply = await clone(fake_discord, flac(speech_clip()), "こんにちは")
        profile = await bot.voices.get(fake_discord.user("bob").id)
    [encoded] = synth.codec.seconds
    assert 3.3 <= encoded <= 4.0  # the 3.3 s of speech and a little margin, not 5.8 s
    assert f"kept {encoded:.1f} s of speech out of 5.8 s" in reply.content
    assert profile.reference_transcript == "こんにちは" and "I heard" not in reply.content


async def test_a_clip_without_speech_is_refused_before_the_encoder(fake_discord, tmp_path):
    synth = ScriptedSynthesizer()
    synth.codec = RecordingCodec()
    async with running_bot(fake_discord, synth, tmp_path / "bot.db"):
        reply = await clone(fake_discord, flac(np.concatenate([silence(1.0), noise(4.0, level=0.05)])), "こんにちは")
    assert reply.ephemeral and "could not hear anyone speaking" in reply.content
    assert synth.codec.seconds == []


async def test_without_a_transcript_the_clip_is_transcribed_and_the_reply_shows_what_was_heard(
        fake_discord, tmp_path, tiny_recognizer):
    synth = ScriptedSynthesizer()
    synth.codec = RecordingCodec()
    clip = speech_clip()
    expected = tiny_recognizer.transcribe(trim_to_speech(clip, RATE).samples, RATE)  # random weights: junk text
    async with running_bot(fake_discord, synth, tmp_path / "bot.db", recognizer=tiny_recognizer) as bot:
        reply = await clone(fake_discord, flac(clip))
        profile = await bot.voices.get(fake_discord.user("bob").id)
    assert f"I heard: 「{expected}」" in reply.content
    assert "transcript: set to the right words" in reply.content  # how to correct it
    assert profile.reference_transcript == expected and profile.reference is not None
    assert len(synth.codec.seconds) == 1


async def test_without_a_transcript_and_without_recognition_the_user_is_told_to_give_one(fake_discord, tmp_path):
    synth = ScriptedSynthesizer()
    synth.codec = RecordingCodec()
    async with running_bot(fake_discord, synth, tmp_path / "bot.db"):
        reply = await (await fake_discord.send_interaction(
            "voice", {"clip": Upload("me.flac", flac(speech_clip()), "audio/flac")}, subcommand="clone",
            user="bob")).wait_reply()
    assert reply.ephemeral and "Add transcript:" in reply.content and "speech recognition is off" in reply.content
    assert synth.codec.seconds == []
