"""The whole product on tiny real models: discord.py ↔ fake Discord, engine, llama.cpp, XCodec2."""
from __future__ import annotations

import io
import time

import soundfile as sf

from tests.e2e.harness import running_bot


async def test_a_message_is_spoken_by_the_real_engine_while_it_is_generated(fake_discord, tmp_path, tiny_synthesizer):
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
    print(f"\nlatency: first RTP packet {first_packet * 1000:.0f} ms after the message; "
          f"generation ended after {generated * 1000:.0f} ms; clip {clip.seconds:.2f} s, {clip.report.codes} codes")
    assert clip.report.codes == 200  # the harness caps sampling at 200 tokens
    # All of the clip was played (882 samples per code → 20 ms each at 48 kHz on the wire); on this
    # CPU generation runs near real time, so a few silent underrun frames may sit between chunks.
    assert clip.seconds == clip.report.codes * 0.02
    assert clip.seconds - 0.02 <= voice.duration < clip.seconds + 1.0
    assert first_packet < generated  # playback started before generation finished


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
