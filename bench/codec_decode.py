"""How fast the XCodec2 decoder runs here: full-size random 16 kHz and 44.1 kHz-shaped decoders.

Run from the repository root: .venv/bin/python -m bench.codec_decode [--device cuda] [--dtype bfloat16] [--seconds 1 10]
Prints milliseconds of compute per second of audio, one-shot and streamed (25-code pushes), through
the same SpeechCodec.decode / SpeechCodec.stream the bot uses.
Weights are random (real ones cannot be downloaded here); speed does not depend on them.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from bot.speech.codec import DTYPES, CheckpointFiles, SpeechCodec
from bot.speech.xcodec2_decoder import DecoderShape, XCodec2Decoder

SHAPES = {
    "16 kHz (HKUSTAudio/xcodec2)": DecoderShape(1024, 2048, 8, 12, 16, 2, 2, 320, (), (), 16000),
    # Kernel sizes of the real 44.1 kHz checkpoint are unknown here; 9 for stride 3 is a guess.
    "44.1 kHz-shaped (Anime-XCodec2-44.1kHz)": DecoderShape(
        1024, 2048, 8, 12, 16, 2, 2, 98, (3, 3), (9, 9), 44100
    ),
}

def time_call(fn, repeats: int) -> float:
    """Median wall time of fn() in seconds, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()  # decoding ends with .cpu(), which waits for the GPU
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def report(what: str, elapsed: float, audio_seconds: float) -> None:
    per_second = elapsed / audio_seconds * 1000
    print(f"  {what:34s} {elapsed * 1000:8.1f} ms  ({per_second:6.1f} ms per audio second)")


def bench_shape(
    name: str, shape: DecoderShape, device: str, dtype: torch.dtype, seconds: list[float]
) -> None:
    torch.manual_seed(0)
    decoder = XCodec2Decoder(shape).eval().set_precision(dtype).to(device)
    params = sum(p.numel() for p in decoder.parameters()) / 1e6
    # No weights on disk: the checkpoint is only read for encoding, which is not timed here.
    codec = SpeechCodec(decoder, CheckpointFiles((), {}), torch.device(device), dtype)
    print(f"\n{name}: {params:.0f} M params, {codec.samples_per_code} samples/code, {dtype}, {device}")

    rng = np.random.default_rng(0)
    for s in seconds:
        codes = rng.integers(0, 65536, size=int(s * 50))
        elapsed = time_call(lambda: codec.decode(codes), repeats=3)
        report(f"one-shot {s:4.1f} s of audio", elapsed, s)

    codes = rng.integers(0, 65536, size=500)

    def streamed() -> None:
        stream = codec.stream()
        for i in range(0, len(codes), 25):
            stream.push(codes[i : i + 25])
        stream.finish()

    elapsed = time_call(streamed, repeats=1)
    report("streamed 10.0 s, 25-code pushes", elapsed, 10.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="float32", choices=sorted(DTYPES))
    parser.add_argument("--seconds", type=float, nargs="+", default=[1.0, 5.0, 10.0])
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for name, shape in SHAPES.items():
        bench_shape(name, shape, args.device, DTYPES[args.dtype], args.seconds)


if __name__ == "__main__":
    main()
