"""What decoding B streams' steady-state windows in one batched call costs against one by one.

Run from the repository root:
    .venv/bin/python -m bench.codec_batch [--streams 1 2 4 8 16] [--threads N] [--device cuda] [--dtype float16]
Prints, for the full-size random decoder, milliseconds per window one by one and batched, their
ratio, and the largest absolute difference between a window's batched and its own decode.
Windows are the default schedule's steady-state length (context + max_step + fade + lookahead).
Weights and codes are random: speed does not depend on them.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from bench.codec_decode import SHAPES, random_codec
from bot.speech.codec import DEFAULT_SCHEDULE, DTYPES, SpeechCodec

S = DEFAULT_SCHEDULE
WINDOW = S.context + S.max_step + S.fade + S.lookahead
RESULTS = Path(__file__).parent / "results"


def timed(fn):
    """fn()'s result and wall time in seconds (decoding ends with .cpu(), which waits for the GPU)."""
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def measure(codec: SpeechCodec, streams: int, window: int, repeats: int) -> dict[str, float]:
    """One-by-one and batched decode of `streams` equal windows: ms per window, ratio, max diff.

    The two alternate, and each keeps its least disturbed run, so both see the same machine load."""
    windows = list(np.random.default_rng(streams).integers(0, 65536, size=(streams, window)))
    one_by_one, batched = [], []
    for _ in range(repeats):
        alone, seconds = timed(lambda: [codec.decode(w) for w in windows])
        one_by_one.append(seconds)
        together, seconds = timed(lambda: codec.decode_batch(windows))
        batched.append(seconds)
    diff = max(float(np.abs(b - a).max()) for a, b in zip(alone, together))
    return {
        "streams": streams,
        "one_by_one_ms_per_window": round(min(one_by_one) / streams * 1000, 1),
        "batched_ms_per_window": round(min(batched) / streams * 1000, 1),
        "ratio": round(min(one_by_one) / min(batched), 2),
        "max_abs_diff": diff,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="float32", choices=sorted(DTYPES))
    parser.add_argument("--shape", default="16k", choices=sorted(SHAPES))
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    parser.add_argument("--window", type=int, default=WINDOW, help="codes per window")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs of each (best kept)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.device}, {args.dtype}, "
          f"{args.shape} decoder, windows of {args.window} codes")
    codec = random_codec(SHAPES[args.shape], args.device, DTYPES[args.dtype])
    codec.decode(np.zeros(args.window, dtype=np.int64))  # warm-up: first-call set-up is not decoding
    print(" streams | one by one ms/window | batched ms/window | ratio | max |batched - alone|")
    rows = []
    for streams in args.streams:
        row = measure(codec, streams, args.window, args.repeats)
        rows.append(row)
        print(f" {streams:7d} | {row['one_by_one_ms_per_window']:19.1f} | {row['batched_ms_per_window']:17.1f}"
              f" | {row['ratio']:5.2f} | {row['max_abs_diff']:.2e}")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"codec_batch_{args.device}_{args.dtype}_{args.shape}_{torch.get_num_threads()}t.json"
    out.write_text(json.dumps({"args": vars(args), "rows": rows}, indent=1), encoding="utf-8")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
