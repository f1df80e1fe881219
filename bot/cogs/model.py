"""/model: the bot's owner lists the GGUF files in the models folder and switches the loaded one without a restart."""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from ..speech.llm import ModelError
from ..speech.loader import llm_options
from ..speech.models import ModelSwitcher
from ..user_errors import UserError

if TYPE_CHECKING:
    from ..app import LlasaBot

log = logging.getLogger(__name__)


async def check_owner(interaction: discord.Interaction) -> None:
    """The bot's owner (the application's owner or team), in a DM or a server they own; CheckFailure says why not."""
    bot: "LlasaBot" = interaction.client  # type: ignore[assignment]
    if not await bot.is_owner(interaction.user):
        raise app_commands.CheckFailure("only the bot's owner can see or switch its model")
    guild = interaction.guild
    if interaction.guild_id is not None and (guild is None or not await bot.is_owner(discord.Object(guild.owner_id or 0))):
        raise app_commands.CheckFailure("use /model in a DM with me or in a server you own")


async def model_autocomplete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
    """GGUF file names containing what the owner typed; nothing for anyone else."""
    cog: ModelCog | None = interaction.client.get_cog("ModelCog")  # type: ignore[attr-defined]
    if cog is None or cog.switcher is None or not await interaction.client.is_owner(interaction.user):  # type: ignore[attr-defined]
        return []
    models = await asyncio.to_thread(cog.switcher.models)
    names = [m.name for m in models if current.lower() in m.name.lower()]
    return [app_commands.Choice(name=n[:100], value=n[:100]) for n in names[:25]]


@app_commands.default_permissions(administrator=True)
@app_commands.allowed_contexts(guilds=True, dms=True, private_channels=False)
class ModelCog(commands.GroupCog, group_name="model", group_description="The speech model (bot owner only)"):
    def __init__(self, bot: "LlasaBot") -> None:
        self.bot = bot
        # Only the embedded llama.cpp model is the bot's to switch; a server's model is the server's.
        self.switcher = (ModelSwitcher(bot.engine.synthesizer, bot.config.llm, llm_options(bot.config), bot.engine.run_exclusive)
                         if bot.config.backend.kind == "llama-cpp" else None)
        super().__init__()

    async def interaction_check(self, interaction: discord.Interaction) -> bool:  # type: ignore[override]
        await check_owner(interaction)
        return True

    @app_commands.command(name="list", description="List the GGUF model files and which one is loaded")
    async def list_models(self, interaction: discord.Interaction) -> None:
        switcher = self._switcher()
        models = await asyncio.to_thread(switcher.models)
        lines = [f"{'▶' if m.path == switcher.current else '・'} **{m.name}** ({m.size_bytes / 2**30:.1f} GiB, "
                 f"{'Captions format' if m.captions else 'base format, no captions'})" for m in models]
        if not lines:
            lines = [f"No .gguf files in {switcher.folder}."]
        await interaction.response.send_message("\n".join(lines)[:1900], ephemeral=True)

    @app_commands.command(name="use", description="Switch to another model file (speech already queued finishes first)")
    @app_commands.describe(file="A .gguf file in the models folder")
    @app_commands.autocomplete(file=model_autocomplete)
    async def use(self, interaction: discord.Interaction, file: str) -> None:
        switcher = self._switcher()
        if file == switcher.current.name:
            raise UserError(f"{file} is already loaded")
        await interaction.response.defer(ephemeral=True, thinking=True)
        previous = switcher.current.name
        try:
            model = await switcher.switch(file)
        except ModelError as error:
            await interaction.followup.send(f"❌ Still speaking with {switcher.current.name}: {error}", ephemeral=True)
            return
        lines = [f"✅ Switched from {previous} to **{model.name}** "
                 f"({'Captions' if model.captions else 'base'} prompt format)."]
        if not model.captions:
            lines.append("This model takes no captions: voices with a caption (presets, /voice set) speak without it.")
        await interaction.followup.send("\n".join(lines), ephemeral=True)

    def _switcher(self) -> ModelSwitcher:
        if self.switcher is None:
            raise UserError(f"the model is managed by the generation server (backend.kind = "
                            f"{self.bot.config.backend.kind}): switch it there")
        return self.switcher
