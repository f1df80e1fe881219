"""The guild player: one broken item must not end a guild's playback."""
from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace

import discord.opus

from bot.playback import GuildPlayer
from bot.speech.engine import Owner, SpeechEngine
from bot.speech.synthesizer import SpeechRequest
from tests.fakes import ScriptedSynthesizer


class VoiceWithBrokenEncoder:
    """Stands in for discord.VoiceClient: the first play() fails like a missing libopus, later ones
    read the source to the end on a thread, as discord.py's player does."""

    def __init__(self) -> None:
        self.guild = SimpleNamespace(id=1)
        self.channel = SimpleNamespace(id=2)
        self.frames: list[int] = []
        self.calls = 0
        self.connected = True

    def is_connected(self) -> bool:
        return self.connected

    def is_playing(self) -> bool:
        return False

    def stop(self) -> None:
        pass

    async def disconnect(self, *, force: bool) -> None:
        self.connected = False

    def play(self, source, *, after, **_options) -> None:
        self.calls += 1
        if self.calls == 1:
            raise discord.opus.OpusNotLoaded()

        def drain() -> None:
            count = 0
            while source.read():
                count += 1
            self.frames.append(count)
            after(None)

        threading.Thread(target=drain).start()


async def test_a_failed_play_is_logged_and_the_next_item_still_plays(caplog):
    engine = SpeechEngine(ScriptedSynthesizer(steps=3))
    voice = VoiceWithBrokenEncoder()
    player = GuildPlayer(voice, engine.sample_rate)  # type: ignore[arg-type]
    try:
        broken = engine.submit(SpeechRequest("first"), Owner(1, 1))
        fine = engine.submit(SpeechRequest("second"), Owner(1, 1))
        player.enqueue(broken)
        # Queued once made whole: the stand-in reads as fast as it can, so a clip still being made
        # would be read as thousands of underrun frames instead of its 3.
        await fine.result()
        player.enqueue(fine)
        await asyncio.wait_for(_until(lambda: voice.frames), 30)  # a hang guard: it used to never play
    finally:
        await player.close()
        engine.close()
    assert voice.frames == [3]  # 3 × 20 ms of the second item
    assert player.last_played is not None and player.last_played.underruns == 0
    assert f"guild 1: playing job {broken.id} failed" in caplog.text


async def _until(condition) -> None:
    while not condition():  # the player thread reports when it has read everything
        await asyncio.sleep(0.01)
