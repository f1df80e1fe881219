"""/model: the bot's owner lists the GGUF files in the models folder and switches the loaded one without a restart."""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from ..i18n import UserFacing
from ..i18n.replies import text_for
from ..speech.llm import ModelError
from ..speech.loader import llm_options
from ..speech.models import ModelSwitcher
from ..user_errors import UserError

if TYPE_CHECKING:
    from ..app import LlasaBot

log = logging.getLogger(__name__)


class NotOwner(UserFacing, app_commands.CheckFailure):
    """/model is for the bot's owner, in a DM or a server they own."""


async def check_owner(interaction: discord.Interaction) -> None:
    """The bot's owner (the application's owner or team), in a DM or a server they own; CheckFailure says why not."""
    bot: "LlasaBot" = interaction.client  # type: ignore[assignment]
    if not await bot.is_owner(interaction.user):
        raise NotOwner("model.not_owner")
    guild = interaction.guild
    if interaction.guild_id is not None and (guild is None or not await bot.is_owner(discord.Object(guild.owner_id or 0))):
        raise NotOwner("model.not_here")


async def model_autocomplete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
    """GGUF file names containing what the owner typed; nothing for anyone else."""
    cog: ModelCog | None = interaction.client.get_cog("ModelCog")  # type: ignore[attr-defined]
    if cog is None or not cog.embedded or not await interaction.client.is_owner(interaction.user):  # type: ignore[attr-defined]
        return []
    models = await asyncio.to_thread(cog.switcher().models)
    names = [m.name for m in models if current.lower() in m.name.lower()]
    return [app_commands.Choice(name=n[:100], value=n[:100]) for n in names[:25]]


@app_commands.default_permissions(administrator=True)
@app_commands.allowed_contexts(guilds=True, dms=True, private_channels=False)
class ModelCog(commands.GroupCog, group_name="model", group_description="The speech model (bot owner only)"):
    def __init__(self, bot: "LlasaBot") -> None:
        self.bot = bot
        self._switcher: ModelSwitcher | None = None
        super().__init__()

    @property
    def embedded(self) -> bool:
        """Only the embedded llama.cpp model is the bot's to switch; a server's model is the server's."""
        return self.bot.config.backend.kind == "llama-cpp"

    def switcher(self) -> ModelSwitcher:
        """The embedded model's switcher (made on first use); UserError when a server manages the model."""
        if not self.embedded:
            raise UserError("model.managed_by_server", kind=self.bot.config.backend.kind)
        if self._switcher is None:
            engine = self.bot.engine
            self._switcher = ModelSwitcher(engine.synthesizer, self.bot.config.llm, llm_options(self.bot.config),
                                           engine.run_exclusive)
        return self._switcher

    async def interaction_check(self, interaction: discord.Interaction) -> bool:  # type: ignore[override]
        await check_owner(interaction)
        return True

    @app_commands.command(name="list", description="List the GGUF model files and which one is loaded")
    async def list_models(self, interaction: discord.Interaction) -> None:
        switcher = self.switcher()
        lines = []
        for m in await asyncio.to_thread(switcher.models):
            mark, size = "▶" if m.path == switcher.current and switcher.loaded else "・", m.size_bytes / 2**30
            lines.append(text_for(interaction, "model.line_captions", mark=mark, name=m.name, size=size) if m.captions
                         else text_for(interaction, "model.line_base", mark=mark, name=m.name, size=size))
        lines = lines or [text_for(interaction, "model.no_files", folder=str(switcher.folder))]
        await interaction.response.send_message("\n".join(lines)[:1900], ephemeral=True)

    @app_commands.command(name="use", description="Switch to another model file (speech already queued finishes first)")
    @app_commands.describe(file="A .gguf file in the models folder")
    @app_commands.autocomplete(file=model_autocomplete)
    async def use(self, interaction: discord.Interaction, file: str) -> None:
        switcher = self.switcher()
        if file == switcher.current.name and switcher.loaded:
            raise UserError("model.already_loaded", name=file)
        if file not in {m.name for m in await asyncio.to_thread(switcher.models)}:
            raise UserError("model.no_such_file", name=file)
        await interaction.response.defer(ephemeral=True, thinking=True)
        previous = switcher.current.name
        try:
            model = await switcher.switch(file)
        except ModelError as error:  # llama.cpp's reason, in English: it names files and settings
            await interaction.followup.send(
                text_for(interaction, "model.kept", name=switcher.current.name, error=str(error)) if switcher.loaded
                else text_for(interaction, "model.none_loaded", error=str(error)), ephemeral=True)
            return
        await interaction.followup.send(
            text_for(interaction, "model.switched_captions", previous=previous, name=model.name) if model.captions
            else text_for(interaction, "model.switched_base", previous=previous, name=model.name), ephemeral=True)
