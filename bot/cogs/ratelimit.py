"""Per-user rate limits for commands and read-aloud messages, with bounded memory.

A token bucket per user: `burst` actions at once, then one more every `per_seconds / burst`.
A bucket that has refilled completely is the same as no bucket, so it is forgotten; past
`max_users` live buckets the least recently used go first (that user merely gets a fresh bucket).
"""
from __future__ import annotations

import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from discord import app_commands

from ..i18n import UserFacing

# Settings as module constants (bot/config.py has no section for them yet).
COMMANDS_BURST, COMMANDS_PER_SECONDS = 5, 10.0   # 5 commands, then one every 2 s
MESSAGES_BURST, MESSAGES_PER_SECONDS = 6, 12.0   # 6 messages read, then one every 2 s
MAX_TRACKED_USERS = 10_000


class RateLimited(UserFacing, app_commands.CheckFailure):
    """A user sent commands too fast; the message says when to try again."""


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """Token buckets keyed by user id; `allow` spends one token when there is one."""

    def __init__(self, burst: int, per_seconds: float, *, max_users: int = MAX_TRACKED_USERS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.burst = burst
        self.rate = burst / per_seconds  # tokens per second
        self.max_users = max_users
        self.clock = clock
        self._buckets: OrderedDict[int, _Bucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def allow(self, user_id: int) -> bool:
        """True (and one token spent) if the user may act now."""
        now = self.clock()
        bucket = self._buckets.pop(user_id, None)
        tokens = self.burst if bucket is None else min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        self._buckets[user_id] = _Bucket(tokens, now)
        self._forget_idle(now)
        return allowed

    def retry_after(self, user_id: int) -> float:
        """Seconds until the user has a token again (0 when they have one)."""
        bucket = self._buckets.get(user_id)
        if bucket is None:
            return 0.0
        tokens = bucket.tokens + (self.clock() - bucket.at) * self.rate
        return max(0.0, (1.0 - tokens) / self.rate)

    def _forget_idle(self, now: float) -> None:
        # Oldest first: stop at the first bucket that is still refilling (amortised O(1)).
        while self._buckets:
            user_id, bucket = next(iter(self._buckets.items()))
            full = bucket.tokens + (now - bucket.at) * self.rate >= self.burst
            if not full and len(self._buckets) <= self.max_users:
                return
            del self._buckets[user_id]


@dataclass(frozen=True)
class RateLimits:
    """One bot's limits: shared by every cog so that spreading spam over cogs gains nothing."""

    commands: RateLimiter
    messages: RateLimiter

    def check_command(self, user_id: int) -> None:
        """Raise RateLimited (answered ephemerally) when the user sends commands too fast."""
        if not self.commands.allow(user_id):
            wait = max(1, round(self.commands.retry_after(user_id)))
            raise RateLimited("errors.rate_limited", seconds=wait)


_limits: "weakref.WeakKeyDictionary[object, RateLimits]" = weakref.WeakKeyDictionary()


def rate_limits(bot: object) -> RateLimits:
    """The bot's limits, made on first use (kept as long as the bot lives)."""
    limits = _limits.get(bot)
    if limits is None:
        limits = RateLimits(RateLimiter(COMMANDS_BURST, COMMANDS_PER_SECONDS),
                            RateLimiter(MESSAGES_BURST, MESSAGES_PER_SECONDS))
        _limits[bot] = limits
    return limits
