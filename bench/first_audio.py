"""What holding back the start of each take costs in first-audio time, and what the detectors cost.

Run from the repository root:
    .venv/bin/python -m bench.first_audio [--shape 44k|tiny] [--rounds 5] [--out bench/results/first_audio.json]
Sections:
  measured   time to the first audio chunk per hold (codes held back and checked before the codec
             gets any), the tiny random Llasa on the CPU and a random XCodec2 decoder (`--shape`:
             full-size 44.1 kHz, or tiny); the median of `rounds` runs after a warm-up
  pacing     the same cost in pacing terms: codes held beyond the codec's first window (which
             holds them anyway) × 20 ms ÷ generation speed (× real time)
  detectors  µs per code of LoopWatch (run on every code) and ms per take of the end-of-take checks
Weights are random: speed is real, sound is not.
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.codec_decode import SHAPES, TINY_SHAPE, random_codec
from bot.speech.codec import DEFAULT_SCHEDULE
from bot.speech.detectors import CODES_PER_SECOND, LoopWatch, Thresholds, expected_duration, inner_silence
from bot.speech.llm import LlasaModel, LoadOptions, Sampling
from bot.speech.synthesizer import SpeechRequest, Synthesizer
from tests.tiny_llasa import write_tiny_llasa

HOLDS = (10, 25, 50, 100)  # 10: the old rule (min_codes); 25: the codec's first window, our default
SPEEDS = (1.0, 1.5, 2.0, 4.0)
TEXT = "きょうはいいてんきですね、さんぽにいきましょう。"


def first_audio_ms(synthesizer: Synthesizer, rounds: int) -> dict:
    """Median ms from stream() to its first audio chunk (a 150-code take, fixed seed): wall time,
    and this process's CPU time (steadier on a shared machine; it sums torch's threads)."""
    request = SpeechRequest(TEXT, sampling=Sampling(max_tokens=150, seed=1))
    list(synthesizer.stream(request))  # warm-up
    wall, cpu = [], []
    for _ in range(rounds):
        started, started_cpu = time.perf_counter(), time.process_time()
        for chunk in synthesizer.stream(request):
            if len(chunk):
                wall.append((time.perf_counter() - started) * 1000)
                cpu.append((time.process_time() - started_cpu) * 1000)
                break
    return {"wall": round(statistics.median(wall), 1), "cpu": round(statistics.median(cpu), 1)}


def measured(llm: LlasaModel, shape: str, rounds: int) -> dict:
    codec = random_codec(SHAPES["44k"] if shape == "44k" else TINY_SHAPE)
    out = {}
    for hold in HOLDS:
        synthesizer = Synthesizer(llm, codec, captions=True, hold_codes=hold, thresholds=Thresholds())
        out[str(hold)] = first_audio_ms(synthesizer, rounds)
    return out


def pacing() -> dict:
    window = DEFAULT_SCHEDULE.first_audio_codes
    return {str(hold): {f"{speed:g}x": round(max(0, hold - window) / CODES_PER_SECOND / speed * 1000, 1)
                        for speed in SPEEDS} for hold in HOLDS}


def detectors(sample_rate: int = 44100) -> dict:
    codes = [int(c) for c in np.random.default_rng(0).integers(0, 65536, 5000)]
    watch = LoopWatch()
    started = time.perf_counter()
    for code in codes:
        watch.push(code)
    loop_us = (time.perf_counter() - started) / len(codes) * 1e6
    audio = (0.1 * np.random.default_rng(1).standard_normal(10 * sample_rate)).astype(np.float32)
    started = time.perf_counter()
    for _ in range(10):
        inner_silence(audio, sample_rate)
    silence_ms = (time.perf_counter() - started) / 10 * 1000
    started = time.perf_counter()
    for _ in range(10):
        expected_duration(TEXT)
    duration_ms = (time.perf_counter() - started) / 10 * 1000
    return {"loop_us_per_code": round(loop_us, 1), "silence_ms_per_10s_take": round(silence_ms, 2),
            "duration_bounds_ms_per_sentence": round(duration_ms, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=("44k", "tiny"), default="44k")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("bench/results/first_audio.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        llm = LlasaModel.load(write_tiny_llasa(Path(folder) / "tiny.gguf"), LoadOptions(n_gpu_layers=0, n_threads=1))
        results = {"shape": args.shape, "rounds": args.rounds, "codec_first_window_codes": DEFAULT_SCHEDULE.first_audio_codes,
                   "first_audio_ms_by_hold": measured(llm, args.shape, args.rounds),
                   "extra_ms_by_hold_and_speed": pacing(), "detectors": detectors()}
    print(json.dumps(results, indent=2, ensure_ascii=False))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()
