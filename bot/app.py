"""The Discord client: wires config, database, speech engine and cogs together; nothing else."""
from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Sequence
from typing import Any

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from .cogs.ratelimit import rate_limits
from .config import Config
from .i18n import UserFacing, check_catalogues
from .i18n.commands import CatalogueTranslator
from .i18n.replies import reply_language, text_for
from .playback import GuildPlayer
from .speech.captions import VoiceCaption, load_presets
from .speech.engine import SpeechEngine
from .speech.llm import Sampling
from .speech.recognizer import SpeechRecognizer
from .speech.synthesizer import Synthesizer
from .store.database import Database
from .store.clips import VoiceClips
from .store.dictionary import DictionaryStore
from .store.guilds import GuildSettingsStore
from .store.voices import VoiceProfiles
from .user_errors import USER_ERRORS, user_message

log = logging.getLogger(__name__)

SHUTDOWN_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class ShuttingDown(UserFacing, app_commands.CheckFailure):
    """A command arrived while the bot is closing."""


class LlasaBot(commands.AutoShardedBot):
    """Holds the shared services; the cogs hold the features.

    Sharded (one gateway connection per shard, all in this process) as discord.py's
    AutoShardedBot: one shard below Discord's 2,500-server mark, more when configured or asked for.
    """

    def __init__(
        self,
        *,
        config: Config,
        engine: SpeechEngine,
        database: Database,
        presets: dict[str, VoiceCaption],
        default_sampling: Sampling,
        recognizer: SpeechRecognizer | None = None,
        **options: object,
    ) -> None:
        intents = discord.Intents.default()
        intents.message_content = True  # read-aloud reads what people write (privileged intent)
        intents.voice_states = True
        shards = config.discord
        if shards.shard_count:
            options.setdefault("shard_count", shards.shard_count)
            if shards.shard_ids:
                options.setdefault("shard_ids", list(shards.shard_ids))
        super().__init__(command_prefix=commands.when_mentioned, intents=intents, **options)
        self.config = config
        self.engine = engine
        self.database = database
        self.presets = presets
        self.default_sampling = default_sampling
        self.recognizer = recognizer  # None when recognition is off or its model could not be loaded
        self.voices = VoiceProfiles(database)
        self.clips = VoiceClips(database)
        self.guild_settings = GuildSettingsStore(database)
        self.dictionaries = DictionaryStore(database)
        self.players: dict[int, GuildPlayer] = {}
        self._shutdown: asyncio.Task[None] | None = None
        self.tree.on_error = self._on_app_command_error
        self.tree.interaction_check = self._check_interaction  # type: ignore[method-assign]

    async def setup_hook(self) -> None:
        from .cogs import ALL_COGS

        for cog in ALL_COGS:
            await self.add_cog(cog(self))
        await self.tree.set_translator(CatalogueTranslator())
        for guild_id in self.config.discord.dev_guild_ids:
            guild = discord.Object(guild_id)
            self.tree.copy_global_to(guild=guild)
            await self.tree.sync(guild=guild)
        if not self.config.discord.dev_guild_ids:
            await self.tree.sync()

    async def on_ready(self) -> None:
        log.info("logged in as %s in %d server(s) on shard(s) %s of %s", self.user, len(self.guilds),
                 sorted(self.shards), self.shard_count)

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

    # Shutdown ----------------------------------------------------------------------------
    @property
    def shutting_down(self) -> bool:
        return self._shutdown is not None

    async def close(self) -> None:
        """Shut down in order; a second call waits for the first. See `_shut_down`."""
        if self._shutdown is None:
            self._shutdown = asyncio.create_task(self._shut_down(), name="shutdown")
        await asyncio.shield(self._shutdown)

    async def _shut_down(self) -> None:
        """Refuse new work, cancel jobs, leave voice, close the database, then disconnect.

        Voice is left while the gateway is still read: discord.py waits for Discord's voice-state
        confirmation on that socket, up to the connect timeout per channel if nothing reads it.
        """
        log.info("shutdown: taking no new work")
        # Ends the worker thread too, so nothing calls into this event loop after it closes.
        await asyncio.to_thread(self.engine.close)
        log.info("shutdown: speech jobs cancelled")
        left = 0
        for guild_id in list(self.players):
            left += await self._leave_quietly(self.leave(guild_id), guild_id)
        for voice in list(self.voice_clients):  # connected but never given a player
            left += await self._leave_quietly(voice.disconnect(force=True), voice.guild.id)
        log.info("shutdown: left %d voice channel(s)", left)
        await self.database.close()
        log.info("shutdown: database closed")
        await super().close()
        log.info("shutdown: disconnected from Discord")

    async def _leave_quietly(self, leaving: Awaitable[object], guild_id: int) -> int:
        """1 when the voice channel was left; a failure is logged, so the others (and the database) still close."""
        try:
            return 0 if await leaving is False else 1
        except Exception:
            log.exception("shutdown: leaving voice in guild %s failed", guild_id)
            return 0

    def dispatch(self, event_name: str, /, *args: Any, **kwargs: Any) -> None:
        # While closing, no listener may start work (read-aloud, auto-leave) on a closing engine or store.
        # discord.py's own voice and state handling does not go through dispatch and keeps working.
        if self._shutdown is None:
            super().dispatch(event_name, *args, **kwargs)

    async def _check_interaction(self, interaction: discord.Interaction) -> bool:
        """Before every command: refuse while closing, and hold back users sending commands too fast.

        Autocomplete is not counted: typing one option sends many of those.
        """
        if self._shutdown is not None:
            raise ShuttingDown("errors.shutting_down")
        if interaction.type is discord.InteractionType.application_command:
            rate_limits(self).check_command(interaction.user.id)
        return True

    # Errors ------------------------------------------------------------------------------
    async def _on_app_command_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        cause = error.original if isinstance(error, app_commands.CommandInvokeError) else error
        if isinstance(cause, USER_ERRORS) or isinstance(error, app_commands.CheckFailure):
            text = user_message(cause, reply_language(interaction))
        else:
            log.error("command %s failed (guild %s, user %s)",
                      interaction.command.qualified_name if interaction.command else "?",
                      interaction.guild_id, interaction.user.id, exc_info=cause)
            text = text_for(interaction, "errors.internal")
        await reply(interaction, text, ephemeral=True)


async def reply(interaction: discord.Interaction, text: str, *, ephemeral: bool = False) -> None:
    """Answer an interaction whether or not it was already acknowledged."""
    if interaction.response.is_done():
        await interaction.followup.send(text, ephemeral=ephemeral)
    else:
        await interaction.response.send_message(text, ephemeral=ephemeral)


def run_bot(config: Config) -> int:
    """Check what users can get wrong, load the models once, then serve until SIGINT or SIGTERM."""
    from .speech.loader import load_recognizer, load_synthesizer, verify_takes

    # Everything that can fail on a setting fails here, before minutes of model loading.
    token = config.discord_token()
    check_catalogues()
    presets = load_presets(config.storage.presets_dir)
    asyncio.run(check_database(config))
    _load_opus()
    synthesizer = load_synthesizer(config)
    recognizer = load_recognizer(config)
    if recognizer is not None:
        verify_takes(synthesizer, recognizer, config.recognition.max_cer)
    try:
        asyncio.run(_serve_config(config, synthesizer, recognizer, presets, token))
    except discord.LoginFailure:
        log.error("Discord refused the token in $%s; copy it again from the developer portal", config.discord.token_env)
        return 2
    except discord.PrivilegedIntentsRequired:
        log.error("enable the Message Content intent for the bot in the Discord developer portal (Bot → Privileged Gateway Intents)")
        return 2
    except aiohttp.ClientConnectionError as exc:  # at log-in; once connected, discord.py reconnects by itself
        log.error("cannot reach Discord (%s); check the network connection, proxy or firewall, and start again", exc)
        return 2
    return 0


async def check_database(config: Config) -> None:
    """Open, check and migrate the database once; DatabaseUnusable says what is wrong and what to do."""
    async with await Database.open(config.storage.database):
        pass


async def _serve_config(config: Config, synthesizer: Synthesizer, recognizer: SpeechRecognizer | None,
                        presets: dict[str, VoiceCaption], token: str) -> None:
    from .speech.loader import default_sampling

    engine = SpeechEngine(synthesizer, per_guild=config.limits.queue_per_guild, per_user=config.limits.queue_per_user,
                          per_guild_running=config.limits.running_per_guild or None)
    try:
        database = await Database.open(config.storage.database)
    except BaseException:
        await asyncio.to_thread(engine.close)
        raise
    bot = LlasaBot(config=config, engine=engine, database=database, presets=presets,
                   default_sampling=default_sampling(config), recognizer=recognizer)
    try:
        await serve(bot, token)
    finally:  # the engine is closed by now: nothing calls into the models any more
        # The one the engine holds: a /model switch may have replaced the one loaded at start.
        await asyncio.to_thread(engine.synthesizer.close)
        if recognizer is not None:
            await asyncio.to_thread(recognizer.close)
        log.info("shutdown: models released")


async def serve(bot: LlasaBot, token: str, *, signals: Sequence[signal.Signals] = SHUTDOWN_SIGNALS) -> None:
    """Run the bot until one of `signals` (or the gateway ends), then close it in order.

    The gateway runs in its own task, so it is still read while the bot leaves voice. A second
    signal is no longer caught: Ctrl-C twice stops a shutdown that hangs.
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def on_signal(number: signal.Signals) -> None:
        log.info("%s received: shutting down", number.name)
        stop.set()
        for sig in signals:
            loop.remove_signal_handler(sig)

    for sig in signals:
        loop.add_signal_handler(sig, on_signal, sig)
    gateway = asyncio.create_task(bot.start(token), name="discord gateway")
    stopped = asyncio.create_task(stop.wait(), name="shutdown signal")
    try:
        await asyncio.wait({gateway, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        await bot.close()
        for sig in signals:
            loop.remove_signal_handler(sig)
    await gateway  # re-raises why the gateway stopped on its own (LoginFailure, ...)


def _load_opus() -> None:
    if not discord.opus.is_loaded():
        try:
            discord.opus.load_opus("libopus.so.0")
        except OSError:
            log.warning("libopus not found: voice channels won't work (apt-get install libopus0)")
