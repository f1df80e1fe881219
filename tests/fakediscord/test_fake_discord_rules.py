"""The fake enforces Discord's rules and supports the richer interactions a bot uses (groups, options, components)."""
from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator

import discord
import pytest
from discord import app_commands
from discord.ext import commands

from tests.fakediscord import FakeDiscord, OptionValue, Upload, connect_client, dominant_frequency, sine_pcm


class StopView(discord.ui.View):
    @discord.ui.button(label="Stop", custom_id="stop")
    async def stop_button(self, interaction: discord.Interaction, button: discord.ui.Button[StopView]) -> None:
        await interaction.response.edit_message(content="stopped", view=None)


class WordModal(discord.ui.Modal, title="Add a word"):
    word: discord.ui.TextInput[WordModal] = discord.ui.TextInput(label="Word", custom_id="word")

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"added {self.word.value}")


class RulesBot(commands.Bot):
    """Commands that exercise option types, edits, components, modals and lateness."""

    def __init__(self) -> None:
        super().__init__(command_prefix="!", intents=discord.Intents.default())

    async def setup_hook(self) -> None:
        words = app_commands.Group(name="dict", description="Dictionary")

        @words.command(name="add", description="Add a word")
        async def add(
            interaction: discord.Interaction, word: str, who: discord.Member, clip: discord.Attachment
        ) -> None:
            await interaction.response.defer(ephemeral=True)
            size = len(await clip.read())
            await interaction.edit_original_response(content=f"{word} for {who.name}: {size} bytes")

        @self.tree.command(description="Report progress")
        async def progress(interaction: discord.Interaction) -> None:
            await interaction.response.defer(ephemeral=True)
            await interaction.edit_original_response(content="1/2")
            await interaction.edit_original_response(content="2/2")

        @self.tree.command(description="Answer privately, too late")
        async def private(interaction: discord.Interaction) -> None:
            await interaction.response.defer()
            await interaction.followup.send("secret?", ephemeral=True)

        @self.tree.command(description="Answer after a pause")
        async def slow(interaction: discord.Interaction) -> None:
            await asyncio.sleep(0.2)
            with contextlib.suppress(discord.NotFound):  # the fake refuses it: that is what the test checks
                await interaction.response.send_message("late")

        @self.tree.command(description="A panel with a button")
        async def panel(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("playing", view=StopView(timeout=None))

        @self.tree.command(description="Open a modal")
        async def ask(interaction: discord.Interaction) -> None:
            await interaction.response.send_modal(WordModal())

        self.tree.add_command(words)
        await self.tree.sync()


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(guilds=2) as server:
        yield server


@pytest.fixture
async def bot(fake: FakeDiscord) -> AsyncIterator[RulesBot]:
    async with connect_client(RulesBot(), fake) as client:
        await fake.wait_for_commands("dict", "slow")
        yield client


async def test_subcommand_with_member_and_attachment_options(bot: RulesBot, fake: FakeDiscord) -> None:
    clip = Upload("ref.wav", b"x" * 1234)
    options: dict[str, OptionValue] = {"word": "llasa", "who": fake.user("carol"), "clip": clip}

    handle = await fake.send_interaction("dict", options, subcommand="add")

    response = await handle.wait_response()
    assert (response.content, response.ephemeral) == ("llasa for carol: 1234 bytes", True)


async def test_each_edit_of_the_original_is_recorded(bot: RulesBot, fake: FakeDiscord) -> None:
    handle = await fake.send_interaction("progress")

    assert (await handle.wait_edit(1)).content == "2/2"
    assert [e.content for e in handle.edits] == ["1/2", "2/2"]


async def test_first_followup_after_defer_keeps_the_defers_visibility(bot: RulesBot, fake: FakeDiscord) -> None:
    handle = await fake.send_interaction("private")

    reply = await handle.wait_followup()
    assert reply.content == "secret?" and not reply.ephemeral
    assert (await handle.wait_response()).id == reply.id


async def test_answering_after_the_deadline_is_refused(bot: RulesBot, fake: FakeDiscord) -> None:
    fake.interaction_deadline = 0.1  # Discord's is 3 s; the command answers after 0.2 s

    handle = await fake.send_interaction("slow")

    assert "past the 0.1s deadline" in await handle.wait_rejected()
    assert not handle.acknowledged
    with pytest.raises(AssertionError, match=r"past the 0\.1s deadline"):
        await handle.wait_ack(timeout=0)


async def test_button_click_updates_the_message(bot: RulesBot, fake: FakeDiscord) -> None:
    panel = await (await fake.send_interaction("panel")).wait_response()
    assert panel.components[0]["components"][0]["custom_id"] == "stop"

    click = await fake.click_button(panel, "stop")

    await click.wait_ack()
    assert fake.message(panel.id).content == "stopped"
    assert fake.message(panel.id).components == ()


async def test_modal_opens_and_submits(bot: RulesBot, fake: FakeDiscord) -> None:
    modal = await (await fake.send_interaction("ask")).wait_modal()
    assert modal["title"] == "Add a word"

    submitted = await fake.submit_modal(modal["custom_id"], {"word": "kawaii"})

    assert (await submitted.wait_response()).content == "added kawaii"


async def test_voice_is_recorded_per_guild_and_survives_a_move(bot: RulesBot, fake: FakeDiscord) -> None:
    first, second = fake.guilds
    vc1: discord.VoiceClient = await bot.get_channel(first.voice.id).connect(timeout=5)  # type: ignore[union-attr]
    vc2: discord.VoiceClient = await bot.get_channel(second.voice.id).connect(timeout=5)  # type: ignore[union-attr]

    await vc1.move_to(bot.get_channel(first.other_voice.id), timeout=5)  # type: ignore[arg-type]
    vc1.play(discord.PCMAudio(io.BytesIO(sine_pcm(0.3, 440.0))))
    vc2.play(discord.PCMAudio(io.BytesIO(sine_pcm(0.3, 880.0))))

    assert dominant_frequency(await fake.voice[first].wait_until_silent()) == pytest.approx(440, abs=5)
    assert dominant_frequency(await fake.voice[second].wait_until_silent()) == pytest.approx(880, abs=5)
    assert fake.voice[first].channel_id == first.other_voice.id
    assert fake.voice[first].sessions_started == 2


async def test_unknown_routes_are_answered_404_and_logged(bot: RulesBot, fake: FakeDiscord) -> None:
    with pytest.raises(discord.NotFound):
        await bot.http.request(discord.http.Route("GET", "/no/such/route"))

    assert [str(c) for c in fake.unhandled] == ["GET /no/such/route -> 404"]


def _command(**changes: object) -> dict:
    option = {"type": 3, "name": "text", "description": "What to say", "name_localizations": {"ja": "テキスト"}}
    base = {"type": 1, "name": "say", "description": "Speak", "name_localizations": {"ja": "しゃべる"},
            "description_localizations": {"ja": "話す"}, "options": [option]}
    return base | changes


@pytest.mark.parametrize(("changes", "why"), [
    ({"name_localizations": {"ja": "しゃべる 話す"}}, "invalid name"),     # no spaces
    ({"name_localizations": {"ja": "読み上げ・停止"}}, "invalid name"),   # ・ is punctuation, not a letter
    ({"name_localizations": {"ja": "Say"}}, "invalid name"),              # lower case where the script has case
    ({"name_localizations": {"jp": "しゃべる"}}, "not a Discord locale"),
    ({"description_localizations": {"ja": "あ" * 101}}, "description"),
    ({"options": [{"type": 3, "name": "a", "description": "x", "name_localizations": {"ja": "同じ"}},
                  {"type": 3, "name": "b", "description": "x", "name_localizations": {"ja": "同じ"}}]}, "repeat"),
])
def test_the_fake_refuses_localised_commands_that_discord_refuses(changes, why):
    from tests.fakediscord.commands import InvalidCommand, check_command

    check_command(_command())  # Japanese names (kana, kanji, ー) are letters: accepted
    with pytest.raises(InvalidCommand, match=why):
        check_command(_command(**changes))
