"""Failed takes never reach the voice channel: the real bot, engine and tiny models against the fake Discord."""
from __future__ import annotations

import numpy as np

from bot.speech.detectors import Failure
from bot.speech.synthesizer import Synthesizer
from tests.e2e.harness import running_bot

CODES = 200  # the harness caps sampling at 200 tokens; the random tiny model never ends early


class RejectTakes:
    """A take check (as speech recognition is) that turns down the first `rejected` takes it is shown."""

    def __init__(self, rejected: int) -> None:
        self.rejected = rejected
        self.shown: list[np.ndarray] = []

    def check(self, text: str, audio: np.ndarray, sample_rate: int) -> Failure | None:
        self.shown.append(audio)
        return Failure("verify", "heard something else") if len(self.shown) <= self.rejected else None


async def say_in_voice(fake, text: str):
    """/say from a member of the bot's voice channel; its interaction handle."""
    await (await fake.send_interaction("join", user="alice")).wait_reply()
    await fake.voice[fake.guild].wait_connected()
    handle = await fake.send_interaction("say", {"text": text}, user="alice")
    await handle.wait_deferred()
    return handle


async def final_edit(handle):
    for index in range(10):
        edit = await handle.wait_edit(index, timeout=60)
        if not edit.content.startswith(("⏳", "🎙", "🔊 Speaking")):
            return edit
    raise AssertionError("no final answer")


async def test_only_the_retried_take_is_heard_and_the_reply_says_so(fake_discord, tmp_path, tiny_synthesizer):
    check = RejectTakes(1)
    synthesizer = Synthesizer(tiny_synthesizer.llm, tiny_synthesizer.codec, captions=True, checks=[check])
    voice = fake_discord.voice[fake_discord.guild]
    async with running_bot(fake_discord, synthesizer, tmp_path / "bot.db") as bot:
        reply = await final_edit(await say_in_voice(fake_discord, "こんにちは"))
        await voice.wait_until_silent(timeout=60)
        played = bot.players[fake_discord.guild.id].last_played
    assert len(check.shown) == 2  # the first take was made, checked and turned down
    assert reply.content.startswith("🔊 Said 4.0 s") and "retries: 1 (verify)" in reply.content
    # One take's worth of frames reached the channel, not two: every frame heard was the second
    # take's or a counted underrun (silence while waiting), none of the first take's 4 s.
    assert played.frames == CODES
    assert len(voice.audio_packets) == played.frames + played.underruns


async def test_when_every_try_fails_the_user_is_told_why_and_nothing_is_heard(fake_discord, tmp_path, tiny_synthesizer):
    check = RejectTakes(3)
    synthesizer = Synthesizer(tiny_synthesizer.llm, tiny_synthesizer.codec, captions=True, checks=[check], retries=2)
    voice = fake_discord.voice[fake_discord.guild]
    async with running_bot(fake_discord, synthesizer, tmp_path / "bot.db"):
        reply = await (await say_in_voice(fake_discord, "こんにちは")).wait_followup(timeout=60)
    assert len(check.shown) == 3
    assert "failed 3 tries" in reply.content and "こんにちは" in reply.content
    assert "hiragana" in reply.content
    assert voice.audio_packets == [] or all(p.is_silence_marker for p in voice.audio_packets)
