"""Builds the real bot (real cogs, real store) around a given synthesizer, for the fake Discord."""
from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from bot.app import LlasaBot
from bot.config import Config
from bot.speech.captions import load_presets
from bot.speech.engine import SpeechEngine
from bot.speech.llm import Sampling
from bot.store.database import Database
from tests.fakediscord import FakeDiscord, connect_client

ROOT = Path(__file__).resolve().parents[2]


@contextlib.asynccontextmanager
async def running_bot(fake: FakeDiscord, synthesizer, database_path: Path, config: Config | None = None,
                      recognizer=None) -> AsyncIterator[LlasaBot]:
    """The bot logged in to the fake Discord; closed (engine and database too) on exit."""
    engine = SpeechEngine(synthesizer, per_guild=20, per_user=20)
    try:
        async with await Database.open(database_path) as database:
            bot = LlasaBot(config=config or Config(), engine=engine, database=database,
                           presets=load_presets(ROOT / "presets"), default_sampling=Sampling(max_tokens=200),
                           recognizer=recognizer)
            async with connect_client(bot, fake) as ready:
                yield ready
    finally:
        engine.close()
