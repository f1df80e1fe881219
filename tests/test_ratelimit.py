"""Per-user token buckets: the burst, the refill, and memory that stays bounded."""
from __future__ import annotations

import pytest

from bot.cogs.ratelimit import RateLimited, RateLimiter, RateLimits


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_is_allowed_then_one_action_per_refill_interval():
    clock = Clock()
    limiter = RateLimiter(burst=3, per_seconds=6.0, clock=clock)  # one token every 2 s
    assert [limiter.allow(1) for _ in range(4)] == [True, True, True, False]
    assert limiter.retry_after(1) == pytest.approx(2.0)
    clock.now += 2.0
    assert [limiter.allow(1) for _ in range(2)] == [True, False]
    assert limiter.allow(2)  # per user


def test_idle_users_are_forgotten_once_their_bucket_is_full_again():
    clock = Clock()
    limiter = RateLimiter(burst=2, per_seconds=2.0, clock=clock)
    for user in range(100):
        limiter.allow(user)
    assert len(limiter) == 100
    clock.now += 10.0
    limiter.allow(1000)
    assert len(limiter) == 1


def test_a_crowd_of_spammers_never_holds_more_than_the_cap():
    clock = Clock()  # frozen: nobody's bucket refills, so only the cap can bound the state
    limiter = RateLimiter(burst=2, per_seconds=60.0, max_users=50, clock=clock)
    for user in range(10_000):
        limiter.allow(user)
        limiter.allow(user)
    assert len(limiter) == 50


def test_a_command_over_the_limit_raises_a_message_for_the_user():
    clock = Clock()
    limits = RateLimits(RateLimiter(1, 4.0, clock=clock), RateLimiter(1, 4.0, clock=clock))
    limits.check_command(7)
    with pytest.raises(RateLimited, match="too fast; try again in 4 s"):
        limits.check_command(7)
