"""The cogs in a busy server for weeks: bounded memory, hostile uploads, who may bind channels,
opt-out for announcements, and per-user rate limits. Real discord.py against the fake Discord."""
from __future__ import annotations

import asyncio
import gc
import io
import logging
import threading
from collections.abc import Callable

import discord
import numpy as np
import pytest
import soundfile as sf

from bot.cogs import read_aloud
from bot.cogs.ratelimit import rate_limits
from bot.speech.engine import SpeechJob
from bot.speech.synthesizer import Clip
from tests.e2e.harness import running_bot
from tests.fakediscord import Upload
from tests.fakes import ScriptedSynthesizer
from tests.speechlike import utterance


async def until(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    """Wait for a condition the bot reaches in the background (the timeout only guards a hang)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def _join(fake) -> None:
    await (await fake.send_interaction("join", user="alice")).wait_reply()
    await fake.voice[fake.guild].wait_connected()


def live(kind: type) -> int:
    gc.collect()
    return sum(type(o) is kind for o in gc.get_objects())  # not isinstance: lazy torch modules warn


# Defect 1: memory grows with every message read aloud -----------------------------------------
@pytest.fixture
def fast_playback(monkeypatch):
    """Play frames back to back instead of one per 20 ms, for tests about counts, not pacing."""
    monkeypatch.setattr(discord.player.AudioPlayer, "DELAY", 0.0005)


async def test_finished_read_aloud_jobs_and_their_clips_are_released(fake_discord, tmp_path, fast_playback):
    synth = ScriptedSynthesizer(steps=1)
    messages = 40
    async with running_bot(fake_discord, synth, tmp_path / "bot.db") as bot:
        reader = bot.get_cog("ReadAloudCog")
        reader.limits.messages.burst = 10 * messages  # this test is about memory, not flood control
        await _join(fake_discord)
        player = bot.player(fake_discord.guild.id)
        jobs_before, clips_before = live(SpeechJob), live(Clip)
        for n in range(messages):
            await fake_discord.send_message(f"メッセージ{n}", author=("alice", "bob")[n % 2])
            await until(lambda: len(synth.served) == n + 1 and player.pending() == 0, f"message {n} to be spoken")
        # The last job's release runs a loop turn after its playback ends (the old cog never released).
        await until(lambda: len(reader.spoken) <= read_aloud.KEEP_FINISHED, "finished jobs to be released")
        await fake_discord.voice[fake_discord.guild].wait_until_silent()
        jobs_after, clips_after = live(SpeechJob), live(Clip)
        tracked = len(reader.spoken)
    # The old cog kept every job with its clip: 40 of each here, growing without end.
    kept = read_aloud.KEEP_FINISHED  # the last few stay visible for observability
    assert tracked <= kept
    assert jobs_after - jobs_before <= kept + 2 and clips_after - clips_before <= kept + 2


async def test_compiled_dictionaries_are_evicted_past_the_cap(fake_discord, tmp_path, monkeypatch):
    monkeypatch.setattr(read_aloud, "MAX_CACHED_DICTIONARIES", 2)
    synth = ScriptedSynthesizer(steps=1)
    async with running_bot(fake_discord, synth, tmp_path / "bot.db") as bot:
        reader = bot.get_cog("ReadAloudCog")
        await _join(fake_discord)
        await fake_discord.move_member("carol", fake_discord.guild.voice)
        for n, author in enumerate(("alice", "bob", "carol")):
            await fake_discord.send_message("こんにちは", author=author)
            await until(lambda: sum(t.endswith("こんにちは") for t in synth.served) == n + 1, f"message {n}")
        cached = len(reader._dictionaries)
    assert cached == 2  # three users and the server: four scopes, two kept


# Defect 2: one small upload can stall or kill the bot ------------------------------------------
class RecordingCodec:
    """Stands in for XCodec2's encoder: records how much audio it was given, 50 codes a second."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    def encode(self, samples: np.ndarray, rate: int, *, max_seconds: float) -> np.ndarray:
        self.seconds.append(len(samples) / rate)
        return np.arange(int(min(len(samples) / rate, max_seconds) * 50), dtype=np.int64) % 65536


def silent_flac(seconds: float, channels: int, rate: int = 16000) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, np.zeros((int(seconds * rate), channels), np.float32), rate, format="FLAC", subtype="PCM_16")
    return buffer.getvalue()


def speech_flac(seconds: float, rate: int = 16000) -> bytes:
    """Speech-like sound throughout (a pure tone is no speech to the clip's voice-activity trimming)."""
    buffer = io.BytesIO()
    sentence = utterance("aiueoaoiueaoiaue", rate)
    wave = np.tile(sentence, int(seconds * rate) // len(sentence) + 1)[:int(seconds * rate)]
    sf.write(buffer, wave, rate, format="FLAC", subtype="PCM_16")
    return buffer.getvalue()


async def _clone(fake, data: bytes, name: str = "clip.flac"):
    handle = await fake.send_interaction(
        "voice", {"clip": Upload(name, data, "audio/flac"), "transcript": "こんにちは"}, subcommand="clone", user="bob")
    return await handle.wait_followup(timeout=20)


async def test_a_tiny_flac_of_ten_minutes_of_eight_channels_is_refused_before_decoding(fake_discord, tmp_path):
    synth = ScriptedSynthesizer()
    synth.codec = RecordingCodec()
    hostile = silent_flac(600, channels=8)
    assert len(hostile) < 1_000_000
    async with running_bot(fake_discord, synth, tmp_path / "bot.db"):
        reply = await _clone(fake_discord, hostile)
    assert reply.ephemeral and "8 audio channels" in reply.content
    assert synth.codec.seconds == []  # nothing reached the model


async def test_a_long_mono_upload_is_refused_and_a_long_allowed_one_is_cut_to_the_reference_limit(fake_discord, tmp_path):
    synth = ScriptedSynthesizer()
    synth.codec = RecordingCodec()
    async with running_bot(fake_discord, synth, tmp_path / "bot.db") as bot:
        too_long = await _clone(fake_discord, silent_flac(1200, channels=1))
        cut = await _clone(fake_discord, speech_flac(90), "long.flac")
        limit = bot.config.limits.reference_max_seconds
    assert too_long.ephemeral and "20 minutes long" in too_long.content
    assert "Cloned from long.flac" in cut.content
    assert synth.codec.seconds == [limit]  # only the needed seconds were decoded


# Defect 5: who may choose which channels are read aloud ----------------------------------------
async def test_reading_a_channel_needs_seeing_it_and_another_channel_needs_manage_rights(fake_discord, tmp_path):
    world, guild = fake_discord.world, fake_discord.guild
    secret = world.add_text_channel(guild, "secret", hidden_from=(fake_discord.user("bob"),))
    other = world.add_text_channel(guild, "other")
    botless = world.add_text_channel(guild, "botless", hidden_from=(fake_discord.bot_user,))
    async with running_bot(fake_discord, ScriptedSynthesizer(steps=1), tmp_path / "bot.db") as bot:
        await _join(fake_discord)

        async def read(subcommand: str, channel, user: str):
            options = {"channel": channel} if channel is not None else {}
            handle = await fake_discord.send_interaction("read", options, subcommand=subcommand, user=user)
            return await handle.wait_reply()

        hidden = await read("start", secret, "bob")
        elsewhere = await read("start", other, "bob")
        no_bot = await read("start", botless, "alice")
        by_admin = await read("start", other, "alice")
        stop_by_bob = await read("stop", other, "bob")
        here = await read("start", None, "bob")
        reading = set(bot.get_cog("ReadAloudCog").sessions[guild.id].channel_ids)
    assert hidden.ephemeral and "can't see that channel" in hidden.content
    assert elsewhere.ephemeral and "Manage Channels" in elsewhere.content
    assert no_bot.ephemeral and "I can't see" in no_bot.content
    assert "Reading" in by_admin.content and not by_admin.ephemeral
    assert stop_by_bob.ephemeral and "Manage Channels" in stop_by_bob.content
    assert "Reading" in here.content
    assert reading == {guild.text.id, other.id}


# Defect 6: /optout and join/leave announcements ------------------------------------------------
async def test_opted_out_members_are_not_announced_joining_or_leaving(fake_discord, tmp_path):
    synth = ScriptedSynthesizer(steps=1)
    voice = fake_discord.voice[fake_discord.guild]
    async with running_bot(fake_discord, synth, tmp_path / "bot.db"):
        await _join(fake_discord)
        await (await fake_discord.send_interaction("optout", user="carol")).wait_reply()
        await (await fake_discord.send_interaction("optout", user="bob")).wait_reply()
        await fake_discord.move_member("carol", fake_discord.guild.voice)
        await fake_discord.move_member("bob", None)
        await fake_discord.send_message("おしまい", author="alice")
        await voice.wait_for_audio(seconds=0.01, timeout=10)
        await voice.wait_until_silent()
    assert synth.served == ["アリス、おしまい"]


# Issue 13, cog half: per-user rate limits ------------------------------------------------------
async def test_a_user_spamming_commands_gets_a_clear_ephemeral_answer(fake_discord, tmp_path):
    async with running_bot(fake_discord, ScriptedSynthesizer(), tmp_path / "bot.db") as bot:
        limiter = rate_limits(bot).commands
        limiter.clock = lambda: 1000.0  # no refill during the test, however slow the machine
        replies = []
        for _ in range(limiter.burst):
            replies.append(await (await fake_discord.send_interaction("voice", subcommand="show", user="bob")).wait_reply())
        # Every command counts, whichever cog it belongs to: /dict and /optout too.
        for name, subcommand in (("dict", "list"), ("optout", None)):
            replies.append(await (await fake_discord.send_interaction(name, subcommand=subcommand, user="bob")).wait_reply())
        other = await (await fake_discord.send_interaction("voice", subcommand="show", user="carol")).wait_reply()
    assert all("Preset" in r.content for r in replies[:limiter.burst])
    assert all(r.ephemeral and "too fast" in r.content for r in replies[limiter.burst:])
    assert "Preset" in other.content  # the limit is per user


async def test_a_flood_of_messages_is_dropped_with_a_log_line(fake_discord, tmp_path, caplog):
    synth = ScriptedSynthesizer(steps=1)
    caplog.set_level(logging.INFO, logger="bot.cogs.read_aloud")
    async with running_bot(fake_discord, synth, tmp_path / "bot.db") as bot:
        limiter = bot.get_cog("ReadAloudCog").limits.messages
        limiter.clock = lambda: 1000.0
        await _join(fake_discord)
        for n in range(limiter.burst + 4):
            await fake_discord.send_message(f"スパム{n}", author="bob")
        await fake_discord.send_message("ふつう", author="alice")
        await until(lambda: sum("スパム" in t for t in synth.served) == limiter.burst and
                    any("ふつう" in t for t in synth.served), "the allowed messages")
        dropped = [r for r in caplog.records if "posting too fast" in r.getMessage()]
    assert len(dropped) == 4


async def test_hopping_in_and_out_of_voice_is_announced_only_within_the_budget(fake_discord, tmp_path, caplog):
    synth = ScriptedSynthesizer(steps=1)
    caplog.set_level(logging.INFO, logger="bot.cogs.read_aloud")
    async with running_bot(fake_discord, synth, tmp_path / "bot.db") as bot:
        limiter = bot.get_cog("ReadAloudCog").limits.messages
        limiter.clock = lambda: 1000.0
        await _join(fake_discord)
        hops = limiter.burst + 4
        carol, voice = fake_discord.user("carol"), bot.get_channel(fake_discord.guild.voice.id)
        for n in range(hops):
            await fake_discord.move_member("carol", None if n % 2 else fake_discord.guild.voice)
            # One hop at a time, as the bot sees them (the fake builds each event when it sends it).
            await until(lambda: (carol.id in {m.id for m in voice.members}) == (n % 2 == 0), f"hop {n}")
        await until(lambda: sum("joins and leaves too fast" in r.getMessage() for r in caplog.records) == 4,
                    "the extra hops to be dropped")
        await until(lambda: len(synth.served) == limiter.burst, "the allowed announcements")
    assert all(t.startswith("カロルさんが") for t in synth.served)


async def test_a_deleted_channel_leaves_the_read_list_and_a_gone_one_can_be_stopped(fake_discord, tmp_path):
    other = fake_discord.world.add_text_channel(fake_discord.guild, "other")
    async with running_bot(fake_discord, ScriptedSynthesizer(steps=1), tmp_path / "bot.db") as bot:
        await _join(fake_discord)
        start = await fake_discord.send_interaction("read", {"channel": other}, subcommand="start", user="alice")
        await start.wait_reply()
        guild_id = fake_discord.guild.id
        assert other.id in (await bot.guild_settings.get(guild_id)).read_channel_ids
        bot.dispatch("guild_channel_delete", bot.get_channel(other.id))
        reader = bot.get_cog("ReadAloudCog")
        await until(lambda: other.id not in reader.sessions[guild_id].channel_ids, "the deleted channel to be dropped")
        saved = (await bot.guild_settings.get(guild_id)).read_channel_ids
    assert other.id not in saved and fake_discord.guild.text.id in saved


async def test_say_in_voice_is_refused_when_the_servers_queue_is_full(fake_discord, tmp_path):
    synth = ScriptedSynthesizer(steps=400, step_seconds=0.01)  # a long first message keeps the queue busy
    voice = fake_discord.voice[fake_discord.guild]
    async with running_bot(fake_discord, synth, tmp_path / "bot.db") as bot:
        await bot.guild_settings.update(fake_discord.guild.id, max_queue=1)
        await (await fake_discord.send_interaction("join", user="alice")).wait_reply()
        await voice.wait_connected()
        first = await fake_discord.send_interaction("say", {"text": "ひとつめ"}, user="alice")
        await first.wait_edit(0)  # queued with the player
        second = await fake_discord.send_interaction("say", {"text": "ふたつめ"}, user="alice")
        refusal = await second.wait_reply()
        await (await fake_discord.send_interaction("skip", user="alice")).wait_reply()
    assert "already waiting" in refusal.content
    assert synth.served == ["ひとつめ"]


async def test_skip_stops_a_message_that_is_still_buffering(fake_discord, tmp_path):
    synth = ScriptedSynthesizer(steps=50)
    synth.gate = threading.Event()  # generation holds at its first step: nothing is playable yet
    voice = fake_discord.voice[fake_discord.guild]
    async with running_bot(fake_discord, synth, tmp_path / "bot.db") as bot:
        await (await fake_discord.send_interaction("join", user="alice")).wait_reply()
        await voice.wait_connected()
        await fake_discord.send_message("まだかな", author="alice")
        await until(lambda: bool(synth.served) and bot.player(fake_discord.guild.id).pending() == 1, "the job to run")
        skip = await (await fake_discord.send_interaction("skip", user="alice")).wait_reply()
        synth.gate.set()
        await until(lambda: "アリス、まだかな" in synth.stopped_at, "generation to stop")
    assert "Skipped" in skip.content
    assert voice.duration == 0.0  # nothing of it was heard
