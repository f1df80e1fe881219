"""Shared and managed voices, and per-server limits, through the real bot and the fake Discord."""
from __future__ import annotations

from bot.store import pack_codes
from tests.e2e.harness import running_bot
from tests.fakes import ScriptedSynthesizer

CODES = tuple(range(50, 150))  # 2 s of a cloned voice


async def _said_by(fake, synth, user: str, text: str):
    """The request /say made for `user` (the file path: nobody is in voice with the bot)."""
    handle = await fake.send_interaction("say", {"text": text}, user=user)
    await handle.wait_deferred()
    for index in range(10):
        if (await handle.wait_edit(index)).attachments:
            break
    return next(r for r in reversed(synth.requests) if r.text == text)


async def test_a_shared_clip_is_picked_like_a_preset_and_deleting_it_removes_it_for_everyone(fake_discord, tmp_path):
    synth = ScriptedSynthesizer(steps=2)
    bob, carol = fake_discord.user("bob"), fake_discord.user("carol")
    async with running_bot(fake_discord, synth, tmp_path / "bot.db") as bot:
        await bot.clips.add(bob.id, "bob.wav", pack_codes(CODES), "やあ")

        share = await fake_discord.send_interaction("voice", {"clip": "bob.wav", "name": "Bobby"},
                                                    subcommand="share", user="bob")
        assert "Bobby" in (await share.wait_reply()).content
        choices = await fake_discord.autocomplete("voice", "preset", "bob", subcommand="set", user="carol")
        assert [c.value for c in choices] == ["Bobby"]

        picked = await fake_discord.send_interaction("voice", {"preset": "Bobby"}, subcommand="set", user="carol")
        assert "Bobby" in (await picked.wait_reply()).content
        request = await _said_by(fake_discord, synth, "carol", "こんにちは")
        assert request.voice.reference is not None
        assert request.voice.reference.codes == CODES and request.voice.reference.transcript == "やあ"

        listing = await fake_discord.send_interaction("voice", subcommand="clips", user="bob")
        assert "bob.wav" in (reply := (await listing.wait_reply()).content) and "Bobby** (yours)" in reply

        gone = await fake_discord.send_interaction("voice", {"clip": "bob.wav"}, subcommand="delete", user="bob")
        assert "Deleted" in (await gone.wait_reply()).content
        assert await bot.clips.mine(bob.id) == []
        request = await _said_by(fake_discord, synth, "carol", "またね")
        assert request.voice.reference is None  # the data is gone: carol falls back to her own voice
    assert carol.id != bob.id


async def test_only_the_uploader_can_share_a_clip(fake_discord, tmp_path):
    bob = fake_discord.user("bob")
    async with running_bot(fake_discord, ScriptedSynthesizer(), tmp_path / "bot.db") as bot:
        await bot.clips.add(bob.id, "bob.wav", pack_codes(CODES), "")
        handle = await fake_discord.send_interaction("voice", {"clip": "bob.wav", "name": "Mine now"},
                                                     subcommand="share", user="carol")
        reply = await handle.wait_reply()
        assert reply.ephemeral and "no clip named" in reply.content
        assert await bot.clips.shared_in(fake_discord.guild.id) == []


async def test_a_server_limit_on_seconds_and_read_speed_reach_the_request(fake_discord, tmp_path):
    synth = ScriptedSynthesizer(steps=2)
    async with running_bot(fake_discord, synth, tmp_path / "bot.db"):
        handle = await fake_discord.send_interaction("server", {"max_seconds": 20, "read_speed": 1.5, "max_chars": 50},
                                                     subcommand="limits", user="alice")
        assert "Saved" in (await handle.wait_reply()).content
        request = await _said_by(fake_discord, synth, "bob", "こんにちは")
        assert request.max_seconds == 20

        voice = fake_discord.voice[fake_discord.guild]
        await (await fake_discord.send_interaction("join", user="alice")).wait_reply()
        await voice.wait_connected()
        await fake_discord.send_message("あいうえお" * 16, author="bob")
        await voice.wait_for_audio(seconds=0.02, timeout=10)
    read = synth.requests[-1]
    assert read.voice.caption is not None and read.voice.caption.speed == "(1.5x)"
    assert read.max_seconds == 20 and read.text.endswith("以下略") and read.text.count("あいうえお") <= 10


async def test_a_seconds_limit_above_the_bots_own_is_refused(fake_discord, tmp_path):
    async with running_bot(fake_discord, ScriptedSynthesizer(), tmp_path / "bot.db") as bot:
        handle = await fake_discord.send_interaction("server", {"max_seconds": 600}, subcommand="limits", user="alice")
        reply = await handle.wait_reply()
        assert reply.ephemeral and "at most 120 s" in reply.content
        assert (await bot.guild_settings.get(fake_discord.guild.id)).max_seconds is None


async def test_server_limits_need_manage_server(fake_discord, tmp_path):
    async with running_bot(fake_discord, ScriptedSynthesizer(), tmp_path / "bot.db") as bot:
        handle = await fake_discord.send_interaction("server", {"read_speed": 2.0}, subcommand="limits", user="bob")
        assert (await handle.wait_reply()).ephemeral
        assert (await bot.guild_settings.get(fake_discord.guild.id)).read_speed == 1.0
