"""Fixtures for the store tests: a real database file in a fresh folder."""
from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.store import Database


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A file path whose folder does not exist yet (open must create it)."""
    return tmp_path / "data" / "bot.sqlite3"


@pytest.fixture
async def db(db_path: Path) -> AsyncIterator[Database]:
    async with await Database.open(db_path) as database:
        yield database
