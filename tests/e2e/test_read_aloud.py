"""Read-aloud through the fake Discord: clean-up, dictionary, names, announcements, limits."""
from __future__ import annotations

from tests.e2e.harness import running_bot
from tests.fakediscord import Upload
from tests.fakes import ScriptedSynthesizer


async def _join(fake) -> None:
    await (await fake.send_interaction("join", user="alice")).wait_reply()
    await fake.voice[fake.guild].wait_connected()


async def test_a_message_with_a_url_a_mention_and_a_dictionary_word_is_spoken_clean(fake_discord, tmp_path):
    synth = ScriptedSynthesizer(steps=2)
    carol = fake_discord.user("carol")
    async with running_bot(fake_discord, synth, tmp_path / "bot.db"):
        add = await fake_discord.send_interaction("dict", {"word": "米津玄師", "reading": "よねづけんし"},
                                                  subcommand="add", user="alice")
        assert "よねづけんし" in (await add.wait_reply()).content
        await _join(fake_discord)
        await fake_discord.send_message(f"<@{carol.id}> 米津玄師 見て https://example.com/watch?v=1 !!", author="bob")
        await fake_discord.voice[fake_discord.guild].wait_for_audio(seconds=0.02, timeout=10)
    text = synth.served[0]
    # Names and English go to katakana, kanji to kana (kana_mode "kanji"), the URL is left out.
    assert text == "ボブ、カロル よねづけんし みて ユーアールエルしょうりゃく!!"


async def test_names_are_announced_only_when_the_speaker_changes(fake_discord, tmp_path):
    synth = ScriptedSynthesizer(steps=1)
    voice = fake_discord.voice[fake_discord.guild]
    async with running_bot(fake_discord, synth, tmp_path / "bot.db"):
        await _join(fake_discord)
        for author, text in (("bob", "いち"), ("bob", "に"), ("alice", "さん")):
            voice.clear()
            await fake_discord.send_message(text, author=author)
            await voice.wait_for_audio(seconds=0.01, timeout=10)
            await voice.wait_until_silent()
    assert synth.served == ["ボブ、いち", "に", "アリス、さん"]


async def test_joining_the_voice_channel_is_announced_and_can_be_turned_off(fake_discord, tmp_path):
    synth = ScriptedSynthesizer(steps=1)
    voice = fake_discord.voice[fake_discord.guild]
    async with running_bot(fake_discord, synth, tmp_path / "bot.db"):
        await _join(fake_discord)
        await fake_discord.move_member("carol", fake_discord.guild.voice)
        await voice.wait_for_audio(seconds=0.01, timeout=10)
        await voice.wait_until_silent()
        off = await fake_discord.send_interaction("server", {"join_leave": False}, subcommand="announce", user="alice")
        assert "announce_join_leave=False" in (await off.wait_reply()).content
        await fake_discord.move_member("carol", None)
        await fake_discord.send_message("おわり", author="bob")
        voice.clear()
        await voice.wait_for_audio(seconds=0.01, timeout=10)
    assert synth.served == ["カロルさんが入室しました", "ボブ、おわり"]


async def test_opted_out_users_and_users_outside_voice_are_not_read(fake_discord, tmp_path):
    synth = ScriptedSynthesizer(steps=1)
    voice = fake_discord.voice[fake_discord.guild]
    async with running_bot(fake_discord, synth, tmp_path / "bot.db"):
        await _join(fake_discord)
        opt = await fake_discord.send_interaction("optout", user="bob")
        await opt.wait_reply()
        await fake_discord.send_message("読まないで", author="bob")
        await fake_discord.send_message("ボイスにいない", author="carol")
        await fake_discord.send_message("よんで", author="alice")
        await voice.wait_for_audio(seconds=0.01, timeout=10)
    assert synth.served == ["アリス、よんで"]


async def test_an_attachment_only_message_is_described(fake_discord, tmp_path):
    synth = ScriptedSynthesizer(steps=1)
    async with running_bot(fake_discord, synth, tmp_path / "bot.db"):
        await _join(fake_discord)
        await fake_discord.send_message("", author="bob", attachments=[Upload("cat.png", b"\x89PNG")])
        await fake_discord.voice[fake_discord.guild].wait_for_audio(seconds=0.01, timeout=10)
    assert synth.served == ["ボブ、がぞう"]
