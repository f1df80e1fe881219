"""The Discord client: wires config, database, speech engine and cogs together; nothing else."""
from __future__ import annotations

import asyncio
import logging

import discord
from discord import app_commands
from discord.ext import commands

from .config import Config
from .playback import GuildPlayer
from .speech.captions import VoiceCaption, load_presets
from .speech.engine import SpeechEngine
from .speech.llm import Sampling
from .store.database import Database
from .store.dictionary import DictionaryStore
from .store.guilds import GuildSettingsStore
from .store.voices import VoiceProfiles
from .user_errors import USER_ERRORS, user_message

log = logging.getLogger(__name__)


class LlasaBot(commands.Bot):
    """Holds the shared services; the cogs hold the features."""

    def __init__(
        self,
        *,
        config: Config,
        engine: SpeechEngine,
        database: Database,
        presets: dict[str, VoiceCaption],
        default_sampling: Sampling,
        **options: object,
    ) -> None:
        intents = discord.Intents.default()
        intents.message_content = True  # read-aloud reads what people write (privileged intent)
        intents.voice_states = True
        super().__init__(command_prefix=commands.when_mentioned, intents=intents, **options)
        self.config = config
        self.engine = engine
        self.database = database
        self.presets = presets
        self.default_sampling = default_sampling
        self.voices = VoiceProfiles(database)
        self.guild_settings = GuildSettingsStore(database)
        self.dictionaries = DictionaryStore(database)
        self.players: dict[int, GuildPlayer] = {}
        self.tree.on_error = self._on_app_command_error

    async def setup_hook(self) -> None:
        from .cogs import ALL_COGS

        for cog in ALL_COGS:
            await self.add_cog(cog(self))
        for guild_id in self.config.discord.dev_guild_ids:
            guild = discord.Object(guild_id)
            self.tree.copy_global_to(guild=guild)
            await self.tree.sync(guild=guild)
        if not self.config.discord.dev_guild_ids:
            await self.tree.sync()

    async def on_ready(self) -> None:
        log.info("logged in as %s in %d server(s)", self.user, len(self.guilds))

    # Voice connections -------------------------------------------------------------------
    def player(self, guild_id: int) -> GuildPlayer | None:
        player = self.players.get(guild_id)
        if player is not None and not player.voice.is_connected():
            return None
        return player

    async def join(self, channel: discord.VoiceChannel | discord.StageChannel) -> GuildPlayer:
        """Connect to (or move to) a voice channel and return the guild's player."""
        player = self.player(channel.guild.id)
        if player is not None:
            if player.channel.id != channel.id:
                await player.voice.move_to(channel)
            return player
        stale = self.players.pop(channel.guild.id, None)
        if stale is not None:
            await stale.close()
        voice = await channel.connect(self_deaf=True)
        player = GuildPlayer(voice, self.engine.sample_rate)
        self.players[channel.guild.id] = player
        return player

    async def leave(self, guild_id: int) -> bool:
        player = self.players.pop(guild_id, None)
        if player is None:
            return False
        self.engine.cancel_guild(guild_id)
        await player.close()
        return True

    async def close(self) -> None:
        for guild_id in list(self.players):
            await self.leave(guild_id)
        await super().close()

    # Errors ------------------------------------------------------------------------------
    async def _on_app_command_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        cause = error.original if isinstance(error, app_commands.CommandInvokeError) else error
        if isinstance(cause, USER_ERRORS) or isinstance(error, app_commands.CheckFailure):
            text = user_message(cause)
        else:
            log.error("command %s failed (guild %s, user %s)",
                      interaction.command.qualified_name if interaction.command else "?",
                      interaction.guild_id, interaction.user.id, exc_info=cause)
            text = "Sorry, something went wrong on my side. It has been logged."
        await reply(interaction, text, ephemeral=True)


async def reply(interaction: discord.Interaction, text: str, *, ephemeral: bool = False) -> None:
    """Answer an interaction whether or not it was already acknowledged."""
    if interaction.response.is_done():
        await interaction.followup.send(text, ephemeral=ephemeral)
    else:
        await interaction.response.send_message(text, ephemeral=ephemeral)


def run_bot(config: Config) -> int:
    """Load everything once, then run until interrupted."""
    from .speech.loader import default_sampling, load_synthesizer

    token = config.discord_token()  # fail before minutes of model loading, not after
    presets = load_presets(config.storage.presets_dir)
    _load_opus()
    synthesizer = load_synthesizer(config)
    engine = SpeechEngine(synthesizer, per_guild=config.limits.queue_per_guild, per_user=config.limits.queue_per_user)

    async def main() -> None:
        async with await Database.open(config.storage.database) as database:
            bot = LlasaBot(config=config, engine=engine, database=database, presets=presets,
                           default_sampling=default_sampling(config))
            async with bot:
                await bot.start(token)

    try:
        asyncio.run(main())
    except discord.LoginFailure:
        log.error("Discord refused the token in $%s; copy it again from the developer portal", config.discord.token_env)
        return 2
    except discord.PrivilegedIntentsRequired:
        log.error("enable the Message Content intent for the bot in the Discord developer portal (Bot → Privileged Gateway Intents)")
        return 2
    finally:
        engine.close()
    return 0


def _load_opus() -> None:
    if not discord.opus.is_loaded():
        try:
            discord.opus.load_opus("libopus.so.0")
        except OSError:
            log.warning("libopus not found: voice channels won't work (apt-get install libopus0)")
