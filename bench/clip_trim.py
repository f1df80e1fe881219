"""What VAD trimming keeps of speech-like test clips, and what a trim costs (Silero's ONNX model on the CPU).

Run from the repository root:  .venv/bin/python -m bench.clip_trim [--repeats 3]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from bot.audio.vad import NoSpeech, speech_parts, trim_to_speech
from tests.speechlike import noise, silence, utterance

RATE = 16_000


def clips() -> dict[str, np.ndarray]:
    speech = utterance("aiueoaoiueaoiaue")  # 3.34 s
    return {
        "silence 1 s + hiss 0.5 s + speech 3.34 s + hiss 1 s": np.concatenate(
            [silence(1), noise(0.5), speech, noise(1)]),
        "blip 0.17 s at 0.3 s + speech at 1.47 s + loud noise 0.3 s at the end": np.concatenate(
            [silence(0.3), utterance("a", seed=3), silence(1), speech, silence(0.5), noise(0.3, level=0.1), silence(0.2)]),
        "speech, pause 0.8 s, speech": np.concatenate([silence(0.5), speech, silence(0.8), speech, silence(0.5)]),
        "silence 1 s + loud hiss 3 s": np.concatenate([silence(1), noise(3, level=0.05)]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed trims of a 30 s clip (the best is shown)")
    args = parser.parse_args()
    for name, clip in clips().items():
        try:
            kept = trim_to_speech(clip, RATE)
        except NoSpeech:
            print(f"{name}: {len(clip) / RATE:.2f} s → refused (no speech)")
            continue
        parts = ", ".join(f"{a:.2f}–{b:.2f}" for a, b in speech_parts(clip, RATE))
        print(f"{name}: {len(clip) / RATE:.2f} s → kept {kept.seconds:.2f} s from {kept.start_s:.2f} s (speech {parts})")
    long = np.tile(utterance("aiueoaoiueaoiaue"), 10)[:30 * RATE]
    trim_to_speech(long, RATE)  # loads the model
    times = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        trim_to_speech(long, RATE)
        times.append(time.perf_counter() - started)
    print(f"trim of a 30 s clip: {min(times) * 1000:.0f} ms (best of {args.repeats})")


if __name__ == "__main__":
    main()
