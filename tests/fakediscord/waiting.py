"""Event-driven waiting: every change in the fake wakes the tests that wait on it."""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

DEFAULT_TIMEOUT = 5.0


class FakeDiscordTimeout(AssertionError):
    """A wait on the fake Discord ran out of time; the message says what was awaited and what happened."""


class Changes:
    """A broadcast signal: `notify()` wakes every `wait_for` so it re-checks its condition."""

    def __init__(self, describe_recent: Callable[[], str] = lambda: "") -> None:
        self._event = asyncio.Event()
        self._describe_recent = describe_recent

    def notify(self) -> None:
        """Wake all waiters (call after any state change)."""
        self._event.set()
        self._event = asyncio.Event()

    async def wait_for(self, check: Callable[[], T | None], *, timeout: float, what: str | Callable[[], str]) -> T:
        """Return the first `check()` that is neither None nor False, re-checked after each change.

        `what` (or what it returns, computed at the timeout) names the awaited thing in the error.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = check()
            if result is not None and result is not False:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                awaited = what() if callable(what) else what
                recent = self._describe_recent()
                raise FakeDiscordTimeout(f"timed out after {timeout:.1f}s waiting for {awaited}\n{recent}".rstrip())
            event = self._event
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)
