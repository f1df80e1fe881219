"""The endpoint pool's bookkeeping that needs no server: what it remembers per guild stays bounded."""
from __future__ import annotations

from bot.speech.backends import pool as pool_module
from bot.speech.backends.pool import EndpointPool
from bot.speech.llm import CodeGeneration, Sampling
from bot.speech.prompt import LlasaVocab

VOCAB = LlasaVocab(*range(100, 108), speech_0=1000)


class Endpoint:
    """A server stand-in that is always up and answers every take with two codes."""

    vocab = VOCAB
    capacity = 4

    def __init__(self, url: str) -> None:
        self.url = url
        self.takes = 0

    def probe(self) -> None:
        pass

    def tokenize_text(self, text: str) -> list[int]:
        return [1]

    def generate(self, prompt, sampling, *, should_stop=lambda: False, affinity=None) -> CodeGeneration:
        self.takes += 1
        return CodeGeneration(iter([1, 2]), sampling.seed)

    def close(self) -> None:
        pass


def test_a_lane_per_dm_user_does_not_grow_the_pool_without_bound(monkeypatch) -> None:
    monkeypatch.setattr(pool_module, "REMEMBERED_AFFINITIES", 50)
    a, b = Endpoint("http://a"), Endpoint("http://b")
    pool = EndpointPool([a, b])
    pool.start()
    try:
        for user in range(500):
            assert list(pool.generate([1], Sampling(seed=1), affinity=("user", user))) == [1, 2]
        assert len(pool._sticky) == 50  # the 50 lanes used last
        assert ("user", 499) in pool._sticky and ("user", 0) not in pool._sticky
        assert a.takes + b.takes == 500
    finally:
        pool.close()
