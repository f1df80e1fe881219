"""Point the real discord.py at a FakeDiscord, run a client until ready, and put everything back afterwards."""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any, TypeVar

import aiohttp
import discord
import discord.gateway
import discord.http
import discord.state
import yarl

from .server import FakeDiscord
from .waiting import FakeDiscordTimeout

ClientT = TypeVar("ClientT", bound=discord.Client)

# discord.py waits this long after the last GUILD_CREATE before on_ready (2 s by default).
GUILD_READY_TIMEOUT = 0.05


@contextlib.contextmanager
def pointed_at(fake: FakeDiscord) -> Iterator[None]:
    """Make every discord.py client in this process talk to `fake` (restored on exit).

    Sets the REST base URL and default gateway, rewrites the voice gateway's hard-coded wss:// to
    ws://, and shortens the wait for guilds before on_ready for clients created inside the block.
    """
    http_client, state = discord.http.HTTPClient, discord.state.ConnectionState
    saved = (
        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY,
        http_client.ws_connect, state.__init__,
    )
    original_ws_connect, original_state_init = http_client.ws_connect, state.__init__
    secure = f"wss://127.0.0.1:{fake.port}/"

    async def ws_connect(
        self: discord.http.HTTPClient, url: str, *, compress: int = 0
    ) -> aiohttp.ClientWebSocketResponse:
        if url.startswith(secure):
            url = "ws://" + url[len("wss://"):]
        return await original_ws_connect(self, url, compress=compress)

    def state_init(self: discord.state.ConnectionState[Any], *args: Any, **kwargs: Any) -> None:
        original_state_init(self, *args, **kwargs)
        self.guild_ready_timeout = min(self.guild_ready_timeout, GUILD_READY_TIMEOUT)

    discord.http.Route.BASE = fake.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
    http_client.ws_connect = ws_connect  # type: ignore[method-assign]
    state.__init__ = state_init  # type: ignore[method-assign]
    try:
        yield
    finally:
        (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY,
         http_client.ws_connect, state.__init__) = saved  # type: ignore[method-assign]


@contextlib.asynccontextmanager
async def connect_client(client: ClientT, fake: FakeDiscord, *, timeout: float = 10.0) -> AsyncIterator[ClientT]:
    """Start `client` against `fake`, wait for on_ready, yield it; on exit close it and restore discord.py."""
    with pointed_at(fake):
        client._connection.guild_ready_timeout = GUILD_READY_TIMEOUT  # the client may predate pointed_at
        runner = asyncio.create_task(client.start(fake.token), name="fake-discord client")
        try:
            await _wait_ready(client, fake, runner, timeout)
            yield client
        finally:
            await client.close()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(runner, timeout=5.0)


async def _wait_ready(client: discord.Client, fake: FakeDiscord, runner: asyncio.Task[None], timeout: float) -> None:
    async def ready() -> None:
        await fake.gateway.wait_identified(timeout)
        await client.wait_until_ready()

    waiter = asyncio.create_task(ready())
    done, _ = await asyncio.wait({waiter, runner}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    if waiter in done:
        waiter.result()
        return
    waiter.cancel()
    if runner in done:
        runner.result()  # re-raises why the client stopped (LoginFailure, HTTPException, ...)
        raise RuntimeError("the discord.py client stopped before it was ready")
    raise FakeDiscordTimeout(f"the client was not ready after {timeout}s\n{fake.describe_recent()}")
