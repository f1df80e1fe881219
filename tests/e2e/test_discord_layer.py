"""The real discord.py bot against the fake Discord, with a scripted synthesizer (Discord layer only)."""
from __future__ import annotations

import io

import numpy as np
import soundfile as sf

from tests.e2e.harness import running_bot
from tests.fakediscord import dominant_frequency
from tests.fakes import ScriptedSynthesizer


async def test_say_defers_then_posts_an_audio_file_that_decodes(fake_discord, tmp_path):
    synth = ScriptedSynthesizer(steps=10)
    async with running_bot(fake_discord, synth, tmp_path / "bot.db"):
        handle = await fake_discord.send_interaction("say", {"text": "こんにちは"}, user="carol")
        await handle.wait_deferred()
        final = await _edit_with_file(handle)
    data = final.attachments[0].data
    samples, rate = sf.read(io.BytesIO(data))
    assert final.attachments[0].filename == "speech.wav"
    assert rate == 16000 and len(samples) == 10 * 320
    assert synth.served == ["こんにちは"]


async def test_say_refuses_text_over_the_limit_with_a_message(fake_discord, tmp_path):
    async with running_bot(fake_discord, ScriptedSynthesizer(), tmp_path / "bot.db"):
        handle = await fake_discord.send_interaction("say", {"text": "あ" * 1001}, user="carol")
        reply = await handle.wait_reply()
    assert reply.ephemeral and "limit is 1000" in reply.content


async def test_join_then_a_message_is_read_aloud_and_skip_stops_it(fake_discord, tmp_path):
    synth = ScriptedSynthesizer(steps=400, step_seconds=0.01)  # 8 s of tone, generated slowly
    voice = fake_discord.voice[fake_discord.guild]
    async with running_bot(fake_discord, synth, tmp_path / "bot.db"):
        join = await fake_discord.send_interaction("join", user="alice")
        await join.wait_reply()
        await voice.wait_connected()
        await fake_discord.send_message("長いメッセージ", author="bob")
        await voice.wait_for_audio(seconds=0.5, timeout=10)
        assert abs(dominant_frequency(voice.pcm()) - 440) < 10
        skip = await fake_discord.send_interaction("skip", user="alice")
        assert "Skipped" in (await skip.wait_reply()).content
        await voice.wait_until_silent()
        heard = voice.duration
    assert heard < 4.0  # the rest of the 8 s message was never played
    assert synth.stopped_at[synth.served[0]] < 400  # generation stopped too


async def test_bots_own_messages_and_skip_prefix_are_not_read(fake_discord, tmp_path):
    synth = ScriptedSynthesizer(steps=5)
    voice = fake_discord.voice[fake_discord.guild]
    async with running_bot(fake_discord, synth, tmp_path / "bot.db"):
        await (await fake_discord.send_interaction("join", user="alice")).wait_reply()
        await voice.wait_connected()
        await fake_discord.send_message("beep", author="otherbot")
        await fake_discord.send_message(";内緒", author="bob")
        await fake_discord.send_message("こんにちは", author="bob")
        await voice.wait_for_audio(seconds=0.05, timeout=10)
    assert len(synth.served) == 1 and synth.served[0].endswith("こんにちは")


async def test_a_voice_set_with_voice_set_is_used_and_survives_a_restart(fake_discord, tmp_path):
    db = tmp_path / "bot.db"
    async with running_bot(fake_discord, ScriptedSynthesizer(), db):
        handle = await fake_discord.send_interaction("voice", {"preset": "cheerful", "temperature": 0.5},
                                                     subcommand="set", user="bob")
        assert "cheerful" in (await handle.wait_reply()).content
    synth = ScriptedSynthesizer(steps=3)
    voice = fake_discord.voice[fake_discord.guild]
    async with running_bot(fake_discord, synth, db):  # a restart on the same database file
        await (await fake_discord.send_interaction("join", user="alice")).wait_reply()
        await voice.wait_connected()
        await fake_discord.send_message("やっほー", author="bob")
        await voice.wait_for_audio(seconds=0.02, timeout=10)
    request = synth.requests[0]
    assert request.voice.caption is not None and "元気で明るい少女" in request.voice.caption.caption
    assert request.sampling.temperature == 0.5


async def _edit_with_file(handle):
    for index in range(10):
        edit = await handle.wait_edit(index)
        if edit.attachments:
            return edit
    raise AssertionError("no edit carried a file")
