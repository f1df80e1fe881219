"""Slow generation plays late but whole: the real tiny engine, paced to a chosen speed, into the fake Discord.

ThrottledSynthesizer first makes the real chunks, then releases them on an absolute schedule at
`speed` × real time, so the pace is exact however busy the machine is. Every assertion counts
frames and chunks; none measures wall-clock time.
"""
from __future__ import annotations

import asyncio

import pytest

from bot.speech.throttle import ThrottledSynthesizer
from tests.e2e.harness import running_bot

CODES = 200  # the harness caps sampling at 200 tokens; the random tiny model always reaches the cap


async def _speak(fake, bot, voice, text: str):
    voice.clear()
    message = await fake.send_message(text, author="bob")
    spoken = bot.get_cog("ReadAloudCog").spoken
    while message.id not in spoken:  # the bot receives the message over the fake gateway
        await asyncio.sleep(0.01)
    _, job = spoken[message.id]
    clip = await job.result()
    await voice.wait_until_silent(timeout=120)
    return job, clip, bot.players[fake.guild.id].last_played


@pytest.mark.parametrize("speed", [0.6, 1.5])
async def test_paced_generation_is_heard_without_gaps(fake_discord, tmp_path, tiny_synthesizer, speed):
    voice = fake_discord.voice[fake_discord.guild]
    async with running_bot(fake_discord, ThrottledSynthesizer(tiny_synthesizer, speed), tmp_path / "bot.db") as bot:
        await (await fake_discord.send_interaction("join", user="alice")).wait_reply()
        await voice.wait_connected()
        # The first message teaches the engine this machine's speed; the second is judged. Its text
        # is longer, so the length guessed from the text is the exact cap (CODES codes).
        await _speak(fake_discord, bot, voice, "テスト")
        job, clip, played = await _speak(fake_discord, bot, voice, "こんにちはこんにちは")
        heard_frames = len(voice.audio_packets)
    start = job.start
    print(f"\n{speed}x: started after {start.opened_after_chunks}/{start.chunks} chunks "
          f"({start.opened_at_s:.2f}/{clip.seconds:.2f} s, ratio {start.opened_at_s / clip.seconds:.2f}); "
          f"underrun frames {played.underruns}, after first audio {played.gap_frames}; "
          f"{heard_frames} frames heard for a {clip.seconds:.2f} s clip")
    assert clip.report.codes == CODES and clip.seconds == CODES * 0.02
    assert played.gap_frames == 0 and played.underruns == 0
    # Everything the bot sent was the clip: 20 ms per frame, the last one padded.
    assert heard_frames == played.frames == -(-round(clip.seconds * 48000) // 960)
    if speed > 1:
        assert start.opened_after_chunks == 1  # faster than real time: the first chunk goes out at once
    else:
        assert 1 < start.opened_after_chunks < start.chunks  # waited, but not for the whole clip
