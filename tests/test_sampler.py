"""The speech-only sampler draws from exactly the distribution of llama.cpp's own sampler chain.

The reference is the chain llama-cpp-python builds for Llama.generate (`Llama._init_sampler`,
called on a stand-in for the Llama object), applied through the C API to the same logits row
with every id but the speech window at -inf, as the old logits mask did.
"""
from __future__ import annotations

import ctypes
import math
from dataclasses import dataclass
from types import SimpleNamespace

import llama_cpp
import numpy as np
import pytest

from bot.speech.llm import Sampling
from bot.speech.sampler import PENALTY_LAST_N, WindowSampler

END = 100              # like <|SPEECH_GENERATION_END|>, two ids before the codes
BLOCKED = (101, 102)   # like <|SPEECH_UNDERSTANDING_START/END|>
DRAWS = 20_000


@dataclass(frozen=True)
class Layout:
    """A vocabulary laid out like Llasa's, with n_codes speech codes after END and the blocked ids."""

    n_codes: int

    @property
    def codes(self) -> range:
        return range(103, 103 + self.n_codes)

    @property
    def n_vocab(self) -> int:
        return self.codes.stop + 137


SMALL, MEDIUM, LARGE = Layout(400), Layout(1500), Layout(6000)

TOKEN_DATA = np.dtype([("id", np.intc), ("logit", np.float32), ("p", np.float32)], align=True)


class LlamaChain:
    """The sampler chain Llama.generate would build for these settings, applied to fixed rows."""

    def __init__(self, sampling: Sampling, seed: int, history: list[int], layout: Layout = SMALL) -> None:
        self.layout = layout
        stand_in = SimpleNamespace(_n_vocab=layout.n_vocab, last_n_tokens_size=PENALTY_LAST_N, _seed=seed)
        self._sampler = llama_cpp.Llama._init_sampler(
            stand_in, top_k=sampling.top_k, top_p=sampling.top_p, min_p=sampling.min_p,
            temp=sampling.temperature, repeat_penalty=sampling.repeat_penalty)
        for token in history:
            llama_cpp.llama_sampler_accept(self._sampler.sampler, token)
        self._buffer = (llama_cpp.llama_token_data * layout.n_vocab)()
        self._array = llama_cpp.llama_token_data_array(
            data=self._buffer, size=layout.n_vocab, selected=-1, sorted=False)

    def apply(self, row: np.ndarray) -> int:
        """Run the chain once on row (the allowed window only, the rest at -inf); the drawn id."""
        return self._apply(self._token_data(row))

    def draws(self, row: np.ndarray, n: int) -> np.ndarray:
        data = self._token_data(row)
        return np.fromiter((self._apply(data) for _ in range(n)), dtype=np.int64, count=n)

    def _token_data(self, row: np.ndarray) -> np.ndarray:
        n_vocab, codes = self.layout.n_vocab, self.layout.codes
        data = np.zeros(n_vocab, dtype=TOKEN_DATA)
        data["id"] = np.arange(n_vocab)
        data["logit"] = -np.inf
        data["logit"][END] = row[END]
        data["logit"][codes.start:codes.stop] = row[codes.start:codes.stop]
        return data

    def _apply(self, data: np.ndarray) -> int:
        ctypes.memmove(self._buffer, data.ctypes.data, data.nbytes)
        self._array.size, self._array.selected, self._array.sorted = len(data), -1, False
        llama_cpp.llama_sampler_apply(self._sampler.sampler, ctypes.byref(self._array))
        return int(self._buffer[self._array.selected].id)

    def kept(self, row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Ids the chain keeps before its draw and their final logits, ids ascending."""
        self.apply(row)
        kept = np.frombuffer(self._buffer, dtype=TOKEN_DATA)[:self._array.size]
        kept = kept[np.isfinite(kept["logit"])]
        kept = np.sort(kept, order="id")
        return kept["id"].astype(np.int64), kept["logit"].copy()


def make_row(spread: float, seed: int, layout: Layout = SMALL) -> np.ndarray:
    """A logits row; junk outside the window (and on the blocked ids) that must never be drawn."""
    rng = np.random.default_rng(seed)
    row = np.full(layout.n_vocab, 40.0, dtype=np.float32)
    stop = layout.codes.stop
    row[END:stop] = (rng.standard_normal(stop - END) * spread).astype(np.float32)
    row[list(BLOCKED)] = 40.0
    return row


def history_for(row: np.ndarray, layout: Layout = SMALL) -> list[int]:
    """80 accepted tokens: the first 16 fall out of the 64-token window; repeats, and tokens with
    positive and negative logits, stay in it."""
    codes = np.array(layout.codes)
    by_logit = codes[np.argsort(-row[codes])]
    gone = [int(by_logit[0])] * 16  # the best code, repeated, then pushed out of the window
    kept = [int(t) for t in by_logit[1:9]] * 4 + [int(t) for t in by_logit[-8:]] * 4
    return gone + kept


def ours(sampling: Sampling, seed: int, history: list[int], layout: Layout = SMALL) -> WindowSampler:
    sampler = WindowSampler(END, layout.codes.stop, sampling, seed, blocked=BLOCKED)
    for token in history:
        sampler.accept(token)
    return sampler


def tv_bound(probabilities: np.ndarray, draws: int) -> float:
    """A bound the total-variation distance of two empirical distributions of `draws` draws each
    from the same distribution exceeds with probability below 1e-6.

    E|p̂ᵢ − q̂ᵢ| ≤ √(2pᵢ(1−pᵢ)/n), so E[TV] ≤ ½ Σ √(2pᵢ(1−pᵢ)/n); TV moves by at most 1/n when one
    of the 2n draws changes, so by McDiarmid P(TV ≥ E[TV] + t) ≤ exp(−n t²).
    """
    p = probabilities
    return 0.5 * float(np.sum(np.sqrt(2 * p * (1 - p) / draws))) + math.sqrt(math.log(1e6) / draws)


def tv(a: np.ndarray, b: np.ndarray) -> float:
    """Total-variation distance between the empirical distributions of two samples of ids."""
    n = max(a.max(), b.max()) + 1
    return 0.5 * float(np.abs(np.bincount(a, minlength=n) / len(a) - np.bincount(b, minlength=n) / len(b)).sum())


def draws_of(sampler: WindowSampler, row: np.ndarray, n: int = DRAWS) -> np.ndarray:
    return np.fromiter((sampler.draw(row) for _ in range(n)), dtype=np.int64, count=n)


CASES = {
    "defaults, flat": (Sampling(), 0.3),
    "defaults, peaked": (Sampling(), 2.5),
    "top-k 20 then temperature 1.3": (Sampling(top_k=20, top_p=1.0, min_p=0.0, temperature=1.3), 0.8),
    "top-p 0.5 alone, strong penalty": (Sampling(top_p=0.5, min_p=0.0, temperature=0.7, repeat_penalty=1.3), 1.0),
    "min-p 0.2 alone": (Sampling(top_p=1.0, min_p=0.2, temperature=1.0, repeat_penalty=1.0), 1.0),
    "all filters": (Sampling(top_k=60, top_p=0.8, min_p=0.1, temperature=0.9), 1.5),
    "negative temperature: penalties only": (Sampling(temperature=-1.0), 1.0),
}


@pytest.mark.parametrize("name", CASES)
def test_the_kept_tokens_and_their_final_logits_equal_llama_cpps(name):
    sampling, spread = CASES[name]
    for seed in range(3):
        row = make_row(spread, seed)
        history = history_for(row)
        want_ids, want_logits = LlamaChain(sampling, 1, history).kept(row)
        got_ids, got_logits = ours(sampling, 1, history).candidates(row)
        np.testing.assert_array_equal(got_ids, want_ids)
        np.testing.assert_array_equal(got_logits, want_logits)  # bit for bit: float32 throughout


@pytest.mark.parametrize("name", CASES)
def test_draws_follow_llama_cpps_distribution(name):
    sampling, spread = CASES[name]
    row = make_row(spread, 7)
    history = history_for(row)
    chain, sampler = LlamaChain(sampling, 11, history), ours(sampling, 12, history)
    ids, logits = chain.kept(row)
    p = np.exp(logits.astype(np.float64) - logits.max())
    p /= p.sum()
    reference = chain.draws(row, DRAWS)
    sampled = draws_of(sampler, row)
    assert set(np.unique(sampled)) <= set(ids.tolist())
    assert tv(sampled, reference) < tv_bound(p, DRAWS)


@pytest.mark.parametrize("sampling", [
    Sampling(top_p=0.95, min_p=0.0),
    Sampling(top_p=0.5, min_p=0.0, temperature=1.0),
    Sampling(top_p=0.03, min_p=0.0, temperature=1.2),
], ids=["top-p 0.95: most draws kept", "top-p 0.5: half rejected", "top-p 0.03: mostly the exact cut"])
def test_draws_from_a_flat_window_follow_llama_cpps_distribution(sampling):
    # More than 1,024 codes survive min-p: draws come from the min-p set and are kept only if
    # top-p keeps them (rejection sampling), falling back to the exact cut.
    row = make_row(0.3, 5, MEDIUM)
    history = history_for(row, MEDIUM)
    chain, sampler = LlamaChain(sampling, 11, history, MEDIUM), ours(sampling, 12, history, MEDIUM)
    ids, logits = chain.kept(row)
    p = np.exp(logits.astype(np.float64) - logits.max())
    p /= p.sum()
    sampled = draws_of(sampler, row, 8000)
    assert set(np.unique(sampled)) <= set(ids.tolist())  # never a token past the top-p cut
    assert tv(sampled, chain.draws(row, 8000)) < tv_bound(p, 8000)


def test_the_distribution_test_notices_a_missing_repeat_penalty():
    # The same check, against a sampler that forgets the penalty, fails: the bound has power.
    sampling = Sampling()
    row = make_row(2.5, 7)
    history = history_for(row)
    chain = LlamaChain(sampling, 11, history)
    ids, logits = chain.kept(row)
    p = np.exp(logits.astype(np.float64) - logits.max())
    p /= p.sum()
    wrong = ours(Sampling(repeat_penalty=1.0), 12, history)
    assert tv(draws_of(wrong, row), chain.draws(row, DRAWS)) > tv_bound(p, DRAWS)


def test_greedy_takes_llama_cpps_token():
    sampling = Sampling(temperature=0.0)
    for seed in range(5):
        row = make_row(1.0, seed)
        history = history_for(row)
        assert ours(sampling, 0, history).draw(row) == LlamaChain(sampling, 0, history).apply(row)


@pytest.mark.parametrize("sampling", [Sampling(), Sampling(min_p=0.0), Sampling(min_p=0.01, top_p=0.7)],
                         ids=["defaults", "top-p over the whole window", "wide min-p set"])
def test_large_flat_windows_keep_the_same_tokens_as_llama_cpp(sampling):
    # 6,000 codes with nearly equal logits: the sampler's bucketed top-p path, not its sort.
    for seed in range(3):
        row = make_row(0.1 + 0.4 * seed, seed, LARGE)
        history = history_for(row, LARGE)
        want_ids, want_logits = LlamaChain(sampling, 1, history, LARGE).kept(row)
        got_ids, got_logits = ours(sampling, 1, history, LARGE).candidates(row)
        assert len(want_ids) > 1024
        np.testing.assert_array_equal(got_ids, want_ids)
        np.testing.assert_array_equal(got_logits, want_logits)


def test_a_seed_repeats_its_draws_and_history_is_what_sample_accepted():
    row = make_row(1.0, 3)
    a, b = ours(Sampling(), 5, []), ours(Sampling(), 5, [])
    takes_a = [a.sample(row) for _ in range(50)]
    assert takes_a == [b.sample(row) for _ in range(50)]
    # sample() accepted each draw: a fresh sampler given the same history keeps the same tokens.
    replay = ours(Sampling(), 99, takes_a)
    np.testing.assert_array_equal(replay.candidates(row)[0], a.candidates(row)[0])
