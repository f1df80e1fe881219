"""Sampling that looks only at the speech tokens, drawing from llama.cpp's own chain distribution.

llama-cpp-python's chain (penalties → top-k → typical → top-p → min-p → temperature → dist)
walks all 193,800 vocabulary entries per token, 3–10 ms of host time; Llasa may only say the
65,536 speech tokens and END, so the same chain over that window costs well under 1 ms. Every
step reproduces the vendored llama.cpp semantics (src/llama-sampler.cpp), including float32
arithmetic and the order of the filters; only the random stream differs (numpy's PCG64
instead of std::mt19937), so a seed reproduces our takes, not llama.cpp's.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Protocol

import numpy as np

# llama-cpp-python's `last_n_tokens_size` default: the repeat penalty looks back this far.
PENALTY_LAST_N = 64
# Min-p sets up to this size are sorted whole for top-p; larger ones are drawn from by
# rejection, and cut exactly with buckets only when candidates() or a fallback asks.
_SORT_WHOLE = 1024
_BUCKETS = 512
# Rejected draws before the sampler computes the top-p cut exactly instead.
_REJECTION_TRIES = 8


class SamplingSettings(Protocol):
    """The fields of llm.Sampling the sampler reads."""

    temperature: float
    top_p: float
    top_k: int
    min_p: float
    repeat_penalty: float


class WindowSampler:
    """Samples token ids from the window [start, stop) of a logits row, never from `blocked`.

    Mirrors one llama.cpp sampler chain: `sample` draws and remembers the token for the repeat
    penalty (as llama_sampler_sample accepts it); only sampled tokens count as history, never
    the prompt, exactly as in Llama.generate.
    """

    def __init__(
        self,
        start: int,
        stop: int,
        settings: SamplingSettings,
        seed: int,
        *,
        blocked: Sequence[int] = (),
        last_n: int = PENALTY_LAST_N,
    ) -> None:
        self.start, self.stop = start, stop
        self._blocked = np.asarray([t - start for t in blocked if start <= t < stop], dtype=np.intp)
        # llama.cpp keeps its settings as C floats and computes in float32: so do we.
        self._temperature = np.float32(settings.temperature)
        # What logits are divided by before the draw; a negative temperature means no filters
        # and no division in Llama._init_sampler.
        self._divisor = self._temperature if self._temperature > 0 else np.float32(1)
        self._top_p = np.float32(settings.top_p)
        self._top_k = int(settings.top_k)
        self._log_min_p = np.log(np.float32(settings.min_p)) if settings.min_p > 0 else None
        self._penalty = np.float32(settings.repeat_penalty)
        self._history: deque[int] = deque(maxlen=last_n if last_n > 0 else 0)
        self._penalised: np.ndarray | None = None  # window indices of the tokens in _history
        self._rng = np.random.Generator(np.random.PCG64(seed))

    def accept(self, token: int) -> None:
        """Remember a token for the repeat penalty (llama_sampler_accept)."""
        if self._history.maxlen:
            self._history.append(token)
            self._penalised = None

    def sample(self, logits: np.ndarray) -> int:
        """Draw a token id from a full logits row (read, never written) and accept it."""
        token = self.draw(logits)
        self.accept(token)
        return token

    def draw(self, logits: np.ndarray) -> int:
        """Draw a token id without accepting it."""
        x = self._penalised_window(logits)
        if self._temperature == 0:
            return self.start + int(np.argmax(x))  # llama.cpp's greedy: the first maximum
        m = x.max()  # the largest candidate always survives the filters
        if self._temperature > 0 and self._top_p < 1 and not 0 < self._top_k < len(x):
            mask = _min_p_mask(x, m, self._log_min_p)
            if np.count_nonzero(mask) > _SORT_WHOLE:
                return self.start + self._draw_within_top_p(x, m, mask)
        return self.start + self._draw_from(x, m, self._select(x))

    def _draw_within_top_p(self, x: np.ndarray, m: np.float32, mask: np.ndarray) -> int:
        """A draw from the min-p set, kept only if top-p keeps it (rejection sampling).

        Top-p keeps a token iff the probability of the tokens above it is below p, one dot
        product; finding the cut itself takes buckets and sorting. Rejection sampling from the
        min-p set conditioned on that test is exactly the top-p ∩ min-p distribution, and top-p
        keeps at least p of the mass, so a draw or two usually does. After a few rejections
        (a small top-p), the exact cut; either way the result has the same distribution.
        """
        e = np.exp(x - m)  # probabilities × total, for top-p (which ignores the temperature)
        target = float(self._top_p) * float(e.sum(dtype=np.float64))
        cdf = _Cdf(self._weights(x, m, mask))
        for _ in range(_REJECTION_TRIES):
            i = cdf.index(self._rng.random())
            if float(np.dot(e, (x > x[i]).astype(np.float32))) < target:
                return i
        return self._draw_from(x, m, _top_p_min_p(x, self._top_p, self._log_min_p))

    def _draw_from(self, x: np.ndarray, m: np.float32, sel: np.ndarray) -> int:
        """llama.cpp's dist over the selected entries of x (a boolean mask or indices).

        Dropped entries weigh 0: a mask multiply is far cheaper than writing -inf into 65k.
        """
        if sel.dtype == bool:
            return _Cdf(self._weights(x, m, sel)).index(self._rng.random())
        return int(sel[_Cdf(self._weights(x[sel], m)).index(self._rng.random())])

    def _weights(self, x: np.ndarray, m: np.float32, mask: np.ndarray | None = None) -> np.ndarray:
        """exp((x − max) / temperature), 0 where mask is False: llama.cpp's temp then dist."""
        weights = x - m
        weights /= self._divisor
        np.exp(weights, out=weights)
        if mask is not None:
            weights *= mask
        return weights

    def candidates(self, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Token ids the chain keeps and their final logits (after temperature), ids ascending.

        For greedy sampling (temperature 0), the one id chosen and its logit.
        """
        x = self._penalised_window(logits)
        if self._temperature == 0:
            keep = np.array([int(np.argmax(x))])
            return self.start + keep, x[keep]
        sel = self._select(x)
        keep = np.sort(np.flatnonzero(sel) if sel.dtype == bool else sel)
        return self.start + keep, x[keep] / self._divisor

    def _penalised_window(self, logits: np.ndarray) -> np.ndarray:
        x = np.array(logits[self.start:self.stop], dtype=np.float32)  # a copy: penalties write
        x[self._blocked] = -np.inf
        if self._history and self._penalty != 1:
            if self._penalised is None:
                window = np.unique(np.fromiter(self._history, dtype=np.intp)) - self.start
                self._penalised = window[(window >= 0) & (window < len(x))]
            v = x[self._penalised]
            # llama.cpp: divide positive logits, multiply the others, once per distinct token.
            x[self._penalised] = np.where(v <= 0, v * self._penalty, v / self._penalty)
        return x

    def _select(self, x: np.ndarray) -> np.ndarray:
        """The entries of x the filters keep: window indices, or a boolean mask over x."""
        if self._temperature < 0:
            # Llama._init_sampler: a negative temperature is penalties then dist, no filters.
            return x > -np.inf
        if 0 < self._top_k < len(x):
            top = np.argpartition(x, len(x) - self._top_k)[len(x) - self._top_k:]
            sel = _top_p_min_p(x[top], self._top_p, self._log_min_p)
            return top[sel]
        return _top_p_min_p(x, self._top_p, self._log_min_p)


def _top_p_min_p(x: np.ndarray, top_p: np.float32, log_min_p: np.float32 | None) -> np.ndarray:
    """What top-p then min-p keep of the candidates x: indices, or a boolean mask when many.

    Both keep a prefix of the same descending order, so the result is the shorter prefix:
    take the min-p set, then let top-p shorten it. Top-p normalises over all of x, though.
    """
    m = x.max()
    mask = _min_p_mask(x, m, log_min_p)
    n = int(np.count_nonzero(mask))
    if top_p >= 1:
        return mask if n > _SORT_WHOLE else np.flatnonzero(mask)
    e = x - m
    np.exp(e, out=e)
    target = float(top_p) * float(e.sum(dtype=np.float64))
    if n <= _SORT_WHOLE:
        sel = np.flatnonzero(mask)
        order = sel[np.argsort(-x[sel], kind="stable")]
        reached = np.cumsum(e[order], dtype=np.float64)
        return order[:int(np.searchsorted(reached, target, side="left")) + 1]  # all of them if short
    # Many candidates (a flat distribution): bucket them by logit, bucket 0 holding the
    # largest, find the bucket where the running mass reaches the target and sort only that
    # bucket. Buckets span the min-p set only, so its entries spread over all of them
    # (bincount slows down a lot when consecutive entries hit the same bucket). When most of
    # x is kept, work on x itself with a mask: a gather of most of 65k entries costs more.
    dense = 2 * n > len(x)
    sel = None if dense else np.flatnonzero(mask)
    if dense:
        xs, es = x, e
        es *= mask  # after the total: entries min-p dropped carry no mass into the last bucket
        lo = np.min(x, where=mask, initial=m)
    else:
        xs, es = x[sel], e[sel]
        lo = xs.min()
    if lo == m:
        return mask  # all equal: the cut falls among ties, and which ties is arbitrary
    scaled = (m - xs) * np.float32(_BUCKETS / (m - lo))
    bucket = np.minimum(scaled, np.float32(_BUCKETS - 1), out=scaled).astype(np.int32)  # dropped: last
    running = np.cumsum(np.bincount(bucket, weights=es, minlength=_BUCKETS))
    if running[-1] < target:
        return mask if dense else sel  # the min-p set is shorter than the top-p prefix
    crossing = int(np.searchsorted(running, target, side="left"))
    inside = np.flatnonzero(bucket == crossing)
    inside = inside[np.argsort(-xs[inside], kind="stable")]
    reached = (float(running[crossing - 1]) if crossing else 0.0) + np.cumsum(es[inside], dtype=np.float64)
    keep = bucket < crossing
    keep[inside[:int(np.searchsorted(reached, target, side="left")) + 1]] = True
    return keep & mask if dense else sel[keep]


def _min_p_mask(x: np.ndarray, m: np.float32, log_min_p: np.float32 | None) -> np.ndarray:
    """min-p keeps logit >= max + log(p); without min-p, every finite logit."""
    return x >= m + log_min_p if log_min_p is not None else x > -np.inf


class _Cdf:
    """Inverse-CDF draws from weights: the first index whose running sum passes u × total.

    Two levels (block sums, then one block) instead of a cumulative sum over all 65k entries.
    """

    _BLOCK = 256

    def __init__(self, weights: np.ndarray) -> None:
        self._weights = weights
        n = len(weights)
        whole = n - n % self._BLOCK
        sums = weights[:whole].reshape(-1, self._BLOCK).sum(axis=1, dtype=np.float64)
        if whole < n:
            sums = np.append(sums, weights[whole:].sum(dtype=np.float64))
        self._sums = sums
        self._running = np.cumsum(sums)

    def index(self, u: float) -> int:
        """The index drawn for u in [0, 1)."""
        target = u * float(self._running[-1])
        b = _first_past(self._running, target, self._sums)
        start = b * self._BLOCK
        block = self._weights[start:start + self._BLOCK]
        inner = (float(self._running[b - 1]) if b else 0.0) + np.cumsum(block, dtype=np.float64)
        return start + _first_past(inner, target, block)


def _first_past(running: np.ndarray, target: float, weights: np.ndarray) -> int:
    # 'right': an entry of weight 0 never passes a target its predecessor did not.
    i = int(np.searchsorted(running, target, side="right"))
    if i < len(running):
        return i
    return int(np.flatnonzero(weights)[-1])  # rounding put the target at the very total
