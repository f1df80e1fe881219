"""Smoke tests: the real discord.py client logs in, runs app commands, talks and listens via the fake Discord."""
from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator

import discord
import pytest
from discord import app_commands
from discord.ext import commands

from tests.fakediscord import Choice, FakeDiscord, Upload, connect_client, dominant_frequency, sine_pcm

CLIP = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(64))
VOICES = ["aria", "ariel", "bastion", "celeste"]


class SmokeBot(commands.Bot):
    """A minimal bot: a few slash commands, an on_message that answers "ping"."""

    def __init__(self, *, message_content: bool = True) -> None:
        intents = discord.Intents.default()
        intents.message_content = message_content
        super().__init__(command_prefix="!", intents=intents)

    async def setup_hook(self) -> None:
        @self.tree.command(description="Make a clip")
        async def clip(interaction: discord.Interaction, text: str) -> None:
            await interaction.response.defer(thinking=True)
            await interaction.followup.send(f"clip for {text}", file=discord.File(io.BytesIO(CLIP), "clip.wav"))

        @self.tree.command(description="Echo privately")
        async def echo(interaction: discord.Interaction, text: str, times: int = 1) -> None:
            await interaction.response.send_message(" ".join([text] * times), ephemeral=True)

        @self.tree.command(description="Pick a voice")
        async def voice(interaction: discord.Interaction, name: str) -> None:
            await interaction.response.send_message(f"voice={name}")

        @voice.autocomplete("name")
        async def voice_names(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
            return [app_commands.Choice(name=v.title(), value=v) for v in VOICES if v.startswith(current)]

        await self.tree.sync()

    async def on_message(self, message: discord.Message) -> None:
        if message.content == "ping" and not message.author.bot:
            await message.channel.send("pong", file=discord.File(io.BytesIO(b"pong-bytes"), "pong.txt"))
            await message.add_reaction("👍")


@pytest.fixture
async def bot(fake_discord: FakeDiscord) -> AsyncIterator[SmokeBot]:
    async with connect_client(SmokeBot(), fake_discord) as client:
        yield client


async def test_login_reaches_ready_and_syncs_commands(bot: SmokeBot, fake_discord: FakeDiscord) -> None:
    assert bot.user is not None and bot.user.id == fake_discord.bot_user.id
    guild = bot.get_guild(fake_discord.guild.id)
    assert guild is not None and guild.get_channel(fake_discord.guild.voice.id) is not None
    assert {m.name for m in guild.get_channel(fake_discord.guild.voice.id).members} >= {"alice", "bob"}  # type: ignore[union-attr]

    assert await fake_discord.wait_for_commands("clip", "echo", "voice") == ["clip", "echo", "voice"]
    assert fake_discord.rest_calls("PUT", r"/applications/\d+/commands$")
    assert fake_discord.unhandled == []


async def test_deferred_command_follows_up_with_a_file(bot: SmokeBot, fake_discord: FakeDiscord) -> None:
    await fake_discord.wait_for_commands("clip")

    handle = await fake_discord.send_interaction("clip", {"text": "hello"}, user="bob")

    deferral = await handle.wait_deferred()
    assert not deferral.ephemeral
    followup = await handle.wait_followup()
    assert followup.content == "clip for hello"
    assert [(f.filename, f.data) for f in followup.attachments] == [("clip.wav", CLIP)]


async def test_ephemeral_response_with_typed_options(bot: SmokeBot, fake_discord: FakeDiscord) -> None:
    await fake_discord.wait_for_commands("echo")

    handle = await fake_discord.send_interaction("echo", {"text": "hi", "times": 3})

    response = await handle.wait_response()
    assert (response.content, response.ephemeral) == ("hi hi hi", True)
    assert not handle.deferred and handle.followups == []


async def test_autocomplete_returns_the_bots_choices(bot: SmokeBot, fake_discord: FakeDiscord) -> None:
    await fake_discord.wait_for_commands("voice")

    choices = await fake_discord.autocomplete("voice", focused="name", value="ar")

    assert choices == [Choice("Aria", "aria"), Choice("Ariel", "ariel")]


async def test_voice_connect_and_play_a_tone(bot: SmokeBot, fake_discord: FakeDiscord) -> None:
    channel = bot.get_channel(fake_discord.guild.voice.id)
    assert isinstance(channel, discord.VoiceChannel)
    heard = fake_discord.voice[fake_discord.guild]

    vc: discord.VoiceClient = await channel.connect(timeout=5)
    assert vc.is_connected() and heard.connected
    vc.play(discord.PCMAudio(io.BytesIO(sine_pcm(1.0, 440.0))))
    pcm = await heard.wait_until_silent(timeout=5)

    assert heard.undecryptable == 0
    assert heard.duration == pytest.approx(1.0, abs=0.05)
    assert pcm.shape == (48000, 2)
    assert dominant_frequency(pcm) == pytest.approx(440.0, abs=5.0)

    await vc.disconnect()
    await heard.wait_disconnected()
    assert fake_discord.guild.member(bot.user.id) is not None  # type: ignore[union-attr]
    assert bot.user.id not in fake_discord.guild.voice_states  # type: ignore[union-attr]


async def test_being_kicked_from_voice_disconnects_the_client(bot: SmokeBot, fake_discord: FakeDiscord) -> None:
    channel = bot.get_channel(fake_discord.guild.voice.id)
    assert isinstance(channel, discord.VoiceChannel)
    await channel.connect(timeout=5)
    left = asyncio.ensure_future(bot.wait_for(
        "voice_state_update", check=lambda member, before, after: member.id == bot.user.id and after.channel is None,  # type: ignore[union-attr]
    ))

    await fake_discord.move_member(fake_discord.bot_user, None)

    await asyncio.wait_for(left, 2)
    await fake_discord.voice[fake_discord.guild].wait_disconnected()


async def test_message_create_reaches_on_message(bot: SmokeBot, fake_discord: FakeDiscord) -> None:
    received = asyncio.ensure_future(bot.wait_for("message", check=lambda m: m.author.name == "bob"))

    await fake_discord.send_message("hello there", author="bob", attachments=[Upload("a.txt", b"attached")])

    message = await asyncio.wait_for(received, 2)
    assert message.content == "hello there"
    assert await message.attachments[0].read() == b"attached"


async def test_bot_replies_in_channel_with_file_and_reaction(bot: SmokeBot, fake_discord: FakeDiscord) -> None:
    ping = await fake_discord.send_message("ping", author="carol")

    reply = await fake_discord.wait_for_message(fake_discord.guild.text, contains="pong")
    assert [(f.filename, f.data) for f in reply.attachments] == [("pong.txt", b"pong-bytes")]
    assert await fake_discord.wait_for_reaction(ping.id, "👍") == ["👍"]


async def test_member_leaving_voice_is_seen(bot: SmokeBot, fake_discord: FakeDiscord) -> None:
    bob = fake_discord.user("bob")
    update = asyncio.ensure_future(bot.wait_for("voice_state_update", check=lambda m, b, a: m.id == bob.id))

    await fake_discord.move_member("bob", None)

    _, before, after = await asyncio.wait_for(update, 2)
    assert before.channel.id == fake_discord.guild.voice.id and after.channel is None
    voice = bot.get_channel(fake_discord.guild.voice.id)
    assert bob.id not in {m.id for m in voice.members}  # type: ignore[union-attr]


async def test_without_message_content_intent_content_is_blank(fake_discord: FakeDiscord) -> None:
    async with connect_client(SmokeBot(message_content=False), fake_discord) as client:
        received = asyncio.ensure_future(client.wait_for("message"))
        await fake_discord.send_message("secret words")
        assert (await asyncio.wait_for(received, 2)).content == ""
