"""Builds the real bot (real cogs, real store) around a given synthesizer, for the fake Discord."""
from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from bot.app import LlasaBot
from bot.config import Config
from bot.speech.capacity import Admission
from bot.speech.captions import load_presets
from bot.speech.engine import SpeechEngine
from bot.speech.llm import Sampling
from bot.store.database import Database
from tests.fakediscord import FakeDiscord, connect_client

ROOT = Path(__file__).resolve().parents[2]


@contextlib.asynccontextmanager
async def running_bot(fake: FakeDiscord, synthesizer, database_path: Path, config: Config | None = None,
                      recognizer=None, *, admission: Admission | None = None,
                      sampling: Sampling = Sampling(max_tokens=200)) -> AsyncIterator[LlasaBot]:
    """The bot logged in to the fake Discord; closed (engine and database too) on exit.

    admission: the engine's rule for streams at once (default: measured, one until measured).
    """
    engine = SpeechEngine(synthesizer, per_guild=20, per_user=20, admission=admission)
    try:
        async with await Database.open(database_path) as database:
            bot = LlasaBot(config=config or Config(), engine=engine, database=database,
                           presets=load_presets(ROOT / "presets"), default_sampling=sampling,
                           recognizer=recognizer)
            async with connect_client(bot, fake) as ready:
                yield ready
    finally:
        engine.close()
