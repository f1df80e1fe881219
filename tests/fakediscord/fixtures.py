"""Pytest fixtures for the fake Discord; import them into a conftest.py."""
from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from .server import FakeDiscord


@pytest.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    """A running FakeDiscord with one guild; connect a client with `connect_client(bot, fake_discord)`."""
    async with FakeDiscord() as fake:
        yield fake
