"""Speech-like test audio without a voice recording: voiced vowels (harmonics shaped by formants) in syllables.

Silero VAD takes it for speech and white noise not (checked when this was written: see tests/test_vad.py).
"""
from __future__ import annotations

import numpy as np

# First three formants (Hz, bandwidth) of the Japanese vowels, roughly.
_FORMANTS = {
    "a": ((800, 80), (1200, 90), (2500, 120)), "i": ((300, 60), (2300, 100), (3000, 120)),
    "u": ((350, 60), (1300, 90), (2400, 120)), "e": ((500, 70), (1900, 100), (2600, 120)),
    "o": ((500, 70), (900, 90), (2400, 120)),
}


def _vowel(seconds: float, f0: float, formants: tuple[tuple[int, int], ...], rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.05 * np.sin(2 * np.pi * 4 * t))) / rate
    out = np.zeros_like(t)
    for h in range(1, int(4000 / f0)):
        gain = sum(1 / np.sqrt(1 + ((h * f0 - f) / (b / 2)) ** 2) for f, b in formants) / np.sqrt(h)
        out += gain * np.sin(h * phase)
    return out


def utterance(vowels: str, rate: int = 16_000, seed: int = 0, level: float = 0.3) -> np.ndarray:
    """A float32 'sentence': each vowel a 0.12–0.22 s syllable with a short noisy onset."""
    rng = np.random.default_rng(seed)
    parts = []
    for k, v in enumerate(vowels):
        voiced = _vowel(rng.uniform(0.12, 0.22), 170 + 25 * np.sin(k / 2), _FORMANTS[v], rate)
        parts += [rng.normal(0, 0.03, int(0.04 * rate)), voiced * np.hanning(len(voiced)) ** 0.3]
    y = np.concatenate(parts)
    return (level * y / np.abs(y).max()).astype(np.float32)


def noise(seconds: float, rate: int = 16_000, level: float = 0.003, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, level, int(seconds * rate)).astype(np.float32)


def silence(seconds: float, rate: int = 16_000) -> np.ndarray:
    return np.zeros(int(seconds * rate), dtype=np.float32)
