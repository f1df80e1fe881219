"""Soak: thousands of messages read aloud through the real engine on the tiny models, with the
memory the bot keeps counted every 1,000 messages. Run with -s to see the figures."""
from __future__ import annotations

import gc
import time
import tracemalloc
from pathlib import Path

from bot.cogs import read_aloud
from bot.speech.engine import SpeechJob
from bot.speech.synthesizer import Clip
from tests.e2e.harness import running_bot
from tests.e2e.test_hardening import fast_playback, until  # noqa: F401  (fixture)

BOT_DIR = str(Path(read_aloud.__file__).resolve().parents[1])
MESSAGES = 2000
BATCH = 10          # well under the server's queue limit (20): nothing is dropped
CHECKPOINT = 1000
# tracemalloc slows Python ~3x, so it runs only for the last WINDOW messages before each
# checkpoint: what they allocated and the bot still holds is what would pile up with a leak.
WINDOW = 100


def retained() -> tuple[int, int, int, int]:
    """Live speech jobs, live clips, the bytes of audio they hold, and the bytes still held that
    bot/ code allocated while tracemalloc ran (the fake Discord's records are not counted)."""
    gc.collect()
    jobs = clips = audio = 0
    for o in gc.get_objects():
        if type(o) is SpeechJob:  # not isinstance: lazy torch modules warn
            jobs += 1
        elif type(o) is Clip:
            clips += 1
            audio += o.samples.nbytes
    traced = 0
    if tracemalloc.is_tracing():
        ours = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(True, f"{BOT_DIR}/*")])
        traced = sum(stat.size for stat in ours.statistics("filename"))
    return jobs, clips, audio, traced


async def test_thousands_of_messages_keep_memory_bounded(fake_discord, tmp_path, tiny_synthesizer, monkeypatch,
                                                         fast_playback):
    # One or two codes per message (20 ms each): the soak counts what stays behind, not quality.
    monkeypatch.setattr(read_aloud, "READ_ALOUD_MAX_SECONDS", 0.04)
    async with running_bot(fake_discord, tiny_synthesizer, tmp_path / "bot.db") as bot:
        reader = bot.get_cog("ReadAloudCog")
        reader.limits.messages.burst = 10 * MESSAGES  # flood control is tested elsewhere
        submitted = 0
        submit = bot.engine.submit

        def counting_submit(*args, **kwargs):
            nonlocal submitted
            submitted += 1
            return submit(*args, **kwargs)

        bot.engine.submit = counting_submit  # type: ignore[method-assign]
        await (await fake_discord.send_interaction("join", user="alice")).wait_reply()
        await fake_discord.voice[fake_discord.guild].wait_connected()
        player = bot.player(fake_discord.guild.id)
        voice = fake_discord.voice[fake_discord.guild]
        figures = [(0, *retained())]
        started = time.monotonic()
        for sent in range(BATCH, MESSAGES + 1, BATCH):
            for n in range(sent - BATCH, sent):
                await fake_discord.send_message(f"テスト{n}です", author=("alice", "bob")[n % 2])
            await until(lambda: submitted == sent and player.pending() == 0, f"{sent} messages spoken", timeout=120)
            voice.clear()  # the fake keeps every packet it receives; that is not the bot's memory
            if sent % CHECKPOINT == CHECKPOINT - WINDOW:
                tracemalloc.start()
            if sent % CHECKPOINT == 0:
                figures.append((sent, *retained()))
                tracemalloc.stop()
        elapsed = time.monotonic() - started  # printed for the note, never asserted
        # The last job's release runs a loop turn after its playback ends.
        await until(lambda: len(reader.spoken) <= read_aloud.KEEP_FINISHED, "the last jobs to be released")
        tracked = len(reader.spoken)
    print(f"\nsoak: {MESSAGES} messages in {elapsed:.0f} s")
    for sent, jobs, clips, audio, traced in figures:
        print(f"soak: after {sent:5d} messages: {jobs} live jobs, {clips} live clips ({audio / 1e3:.1f} kB of audio), "
              f"{traced / 1e3:.0f} kB still held of what bot/ allocated in the {WINDOW} messages before")
    base, last = figures[0], figures[-1]
    assert submitted == MESSAGES  # every message went through the real engine
    kept = read_aloud.KEEP_FINISHED
    assert tracked <= kept
    assert last[1] - base[1] <= kept + 2 and last[2] - base[2] <= kept + 2  # the old cog kept 2,000 of each
    # The old cog kept every clip: WINDOW of them alone would be 100 × 0.04 s × 44.1 kHz × 4 B = 706 kB.
    clip_bytes = read_aloud.READ_ALOUD_MAX_SECONDS * bot.engine.sample_rate * 4
    assert all(traced < WINDOW / 2 * clip_bytes for *_, traced in figures[1:])
