"""Shutdown on SIGTERM/SIGINT, as `python -m bot run` does it: in order, with work in flight, nothing left behind.

The test runs its own `asyncio.run`, like the bot, so anything that touches the loop after it closed
(a worker thread settling a job, a player callback) shows up as a thread exception or a logged error.
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.app import LlasaBot, serve
from bot.config import Config
from bot.speech.captions import load_presets
from bot.speech.engine import EngineClosed, Owner, SpeechEngine
from bot.speech.llm import Sampling
from bot.store.database import Database
from tests.e2e.harness import running_bot
from tests.fakediscord import FakeDiscord, pointed_at
from tests.fakes import ScriptedSynthesizer

ROOT = Path(__file__).resolve().parents[2]
HANG_GUARD_S = 120  # only so a regression fails instead of hanging; nothing here depends on speed


@dataclass
class Outcome:
    voice_when_gateway_closed: tuple[int | None, int]  # the fake's (bot's voice channel, open voice sockets)
    bot_sees_itself_in_voice: bool
    left_voice_frames: int
    database_closed: bool
    engine_refuses_work: bool
    generation_stopped_at: int | None


async def shut_down_while_speaking(synth: ScriptedSynthesizer, sig: signal.Signals, database_path: Path) -> Outcome:
    async with FakeDiscord() as fake:
        with pointed_at(fake):
            engine = SpeechEngine(synth, per_guild=20, per_user=20)
            database = await Database.open(database_path)
            bot = LlasaBot(config=Config(), engine=engine, database=database, presets=load_presets(ROOT / "presets"),
                           default_sampling=Sampling(max_tokens=200))
            server = asyncio.create_task(serve(bot, fake.token))
            await fake.gateway.wait_identified()
            await bot.wait_until_ready()
            voice = fake.voice[fake.guild]
            await (await fake.send_interaction("join", user="alice")).wait_reply()
            await voice.wait_connected()
            await fake.send_message("長いメッセージ", author="bob")
            await voice.wait_for_audio(seconds=0.2, timeout=30)  # speaking, and still generating

            async def voice_state_when_the_gateway_closes() -> tuple[int | None, int]:
                await fake.changes.wait_for(lambda: not fake.gateway.identified, timeout=HANG_GUARD_S,
                                            what="the bot to close its gateway connection")
                return voice.channel_id, voice.open_sessions

            watcher = asyncio.create_task(voice_state_when_the_gateway_closes())
            os.kill(os.getpid(), sig)
            await asyncio.wait_for(server, timeout=HANG_GUARD_S)
            seen = await asyncio.wait_for(watcher, timeout=HANG_GUARD_S)

            try:
                await database.fetch_one("SELECT 1")
                database_closed = False
            except RuntimeError:
                database_closed = True
            try:
                await engine.call(lambda s: None, Owner(None, 0))
                refuses = False
            except EngineClosed:
                refuses = True
            me = bot.get_guild(fake.guild.id).me
            left = [f for f in fake.gateway.frames if f.op == 4 and f.data.get("channel_id") is None]
            return Outcome(seen, me.voice is not None, len(left), database_closed, refuses,
                           synth.stopped_at.get(synth.served[0]) if synth.served else None)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_shuts_down_in_order_with_speech_in_flight(sig, tmp_path, caplog, monkeypatch):
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="discord.voice_state")  # where discord.py reports a missed confirmation
    thread_errors: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: thread_errors.append(args.exc_value))
    synth = ScriptedSynthesizer(steps=2000, step_seconds=0.01)  # 40 s of tone, generated slowly

    outcome = asyncio.run(shut_down_while_speaking(synth, sig, tmp_path / "bot.db"))

    steps = [r.getMessage() for r in caplog.records if r.name == "bot.app" and r.getMessage().startswith("shutdown:")]
    assert steps == [
        "shutdown: taking no new work",
        "shutdown: speech jobs cancelled",
        "shutdown: left 1 voice channel(s)",
        "shutdown: database closed",
        "shutdown: disconnected from Discord",
    ]
    # Voice was left while the gateway was still read: Discord's side saw the bot leave before the
    # gateway closed, and the bot received the confirmation instead of waiting out a timeout for it.
    assert outcome.voice_when_gateway_closed == (None, 0)
    assert outcome.left_voice_frames == 1
    assert not outcome.bot_sees_itself_in_voice
    assert not any("voice disconnection confirmation" in r.getMessage() for r in caplog.records)
    # The work in flight was stopped, and nothing touched the loop after asyncio.run closed it.
    assert outcome.generation_stopped_at is not None and outcome.generation_stopped_at < 2000
    assert outcome.engine_refuses_work and outcome.database_closed
    assert thread_errors == []
    problems = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR or "loop is closed" in r.getMessage()]
    assert problems == []


async def test_a_command_during_shutdown_is_answered_not_started(fake_discord, tmp_path):
    synth = ScriptedSynthesizer(steps=5)
    synth.gate = threading.Event()  # the first job holds the worker, so shutdown waits in its first step
    voice = fake_discord.voice[fake_discord.guild]
    async with running_bot(fake_discord, synth, tmp_path / "bot.db") as bot:
        await (await fake_discord.send_interaction("join", user="alice")).wait_reply()
        await voice.wait_connected()
        await fake_discord.send_message("最初", author="bob")
        while not synth.served:  # the worker picked the job up and waits at the gate
            await asyncio.sleep(0.01)
        closing = asyncio.create_task(bot.close())
        await asyncio.sleep(0)
        assert bot.shutting_down

        handle = await fake_discord.send_interaction("say", {"text": "まだ?"}, user="carol")
        reply = await handle.wait_reply()
        synth.gate.set()
        await asyncio.wait_for(closing, timeout=HANG_GUARD_S)
    assert reply.ephemeral and "shutting down; try again in a minute" in reply.content
    assert len(synth.served) == 1  # the refused /say never reached the engine
