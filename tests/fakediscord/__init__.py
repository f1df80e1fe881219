"""A fake Discord on 127.0.0.1 (REST, gateway, voice gateway, voice UDP) for testing the real discord.py client.

    async def test_say(fake_discord: FakeDiscord) -> None:
        async with connect_client(build_bot(), fake_discord) as bot:
            handle = await fake_discord.send_interaction("say", {"text": "hello"}, user="bob")
            await handle.wait_deferred()
            pcm = await fake_discord.voice[fake_discord.guild].wait_for_audio(seconds=0.5)

The world: guild(s) with #general, voice channels "Voice" and "Lounge"; users alice (owner, admin),
bob, carol and otherbot (a bot); alice, bob and otherbot sit in "Voice" when the bot logs in.
"""
from .audio import AudioPacket, GuildVoice, dominant_frequency, rms, sine_pcm
from .client import connect_client, pointed_at
from .interactions import Choice, InteractionCallback, InteractionHandle
from .invocations import OptionValue
from .messages import SentFile, SentMessage, Upload
from .rest import RestCall
from .server import FakeDiscord
from .waiting import FakeDiscordTimeout
from .world import FakeChannel, FakeGuild, FakeUser

__all__ = [
    "AudioPacket",
    "Choice",
    "FakeChannel",
    "FakeDiscord",
    "FakeDiscordTimeout",
    "FakeGuild",
    "FakeUser",
    "GuildVoice",
    "InteractionCallback",
    "InteractionHandle",
    "OptionValue",
    "RestCall",
    "SentFile",
    "SentMessage",
    "Upload",
    "connect_client",
    "dominant_frequency",
    "pointed_at",
    "rms",
    "sine_pcm",
]
