"""The whole product on tiny real models: discord.py ↔ fake Discord, engine, llama.cpp, XCodec2."""
from __future__ import annotations

import io
import time

import soundfile as sf

from tests.e2e.harness import running_bot


async def test_a_message_is_spoken_whole_by_the_real_engine(fake_discord, tmp_path, tiny_synthesizer):
    voice = fake_discord.voice[fake_discord.guild]
    async with running_bot(fake_discord, tiny_synthesizer, tmp_path / "bot.db") as bot:
        await (await fake_discord.send_interaction("join", user="alice")).wait_reply()
        await voice.wait_connected()
        sent = time.monotonic()
        message = await fake_discord.send_message("こんにちは", author="bob")
        await voice.wait_for_audio(seconds=0.1, timeout=30)
        first_packet = voice.first_packet_at - sent
        _, job = bot.get_cog("ReadAloudCog").spoken[message.id]
        clip = await job.result()
        generated = time.monotonic() - sent
        await voice.wait_until_silent(timeout=30)
        played = bot.players[fake_discord.guild.id].last_played
    start = job.start
    print(f"\nlatency: first RTP packet {first_packet * 1000:.0f} ms after the message; "
          f"generation ended after {generated * 1000:.0f} ms; clip {clip.seconds:.2f} s, {clip.report.codes} codes; "
          f"started after {start.opened_after_chunks}/{start.chunks} chunks; "
          f"underrun frames {played.underruns}, after first audio {played.gap_frames} in {played.gaps} gap(s)")
    assert clip.report.codes == 200  # the harness caps sampling at 200 tokens
    assert clip.seconds == clip.report.codes * 0.02
    # All of the clip was played (20 ms per frame at 48 kHz, the last one padded), and every other
    # frame heard was a counted underrun. How soon playback starts depends on this machine's speed
    # (see speech.pacing); tests/e2e/test_gapless.py pins the speed and counts the gaps.
    assert played.frames == round(clip.seconds / 0.02)
    assert len(voice.audio_packets) == played.frames + played.underruns


async def test_say_posts_a_clip_from_the_real_engine(fake_discord, tmp_path, tiny_synthesizer):
    async with running_bot(fake_discord, tiny_synthesizer, tmp_path / "bot.db"):
        handle = await fake_discord.send_interaction("say", {"text": "テストです", "file_format": "ogg"}, user="carol")
        await handle.wait_deferred()
        for index in range(10):
            edit = await handle.wait_edit(index, timeout=30)
            if edit.attachments:
                break
    samples, rate = sf.read(io.BytesIO(edit.attachments[0].data))
    assert edit.attachments[0].filename == "speech.ogg" and rate == 48000
    assert abs(len(samples) / rate - 4.0) < 0.05  # 200 codes × 20 ms
