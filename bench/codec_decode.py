"""What streamed XCodec2 decoding costs and how far it strays from decoding all codes at once.

Run from the repository root:
    .venv/bin/python -m bench.codec_decode [--grid] [--device cuda] [--dtype bfloat16] [--seconds 10]
Prints, for full-size random decoders, milliseconds of compute per second of audio one-shot and
streamed (25-code pushes, as the synthesizer pushes), and the streamed audio's signal-to-error
ratio against the one-shot decode of the same codes. --grid tries a grid of stream schedules.

Weights and codes are random (real ones cannot be downloaded here). Speed does not depend on
them; the error does. Random weights attend almost evenly over the whole window and random codes
have no slow structure, so the SER here is a pessimistic stand-in for real speech, and no number
here says whether a seam is audible: only listening to the real codec can.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch

from bot.speech.codec import DEFAULT_SCHEDULE, DTYPES, CheckpointFiles, SpeechCodec, StreamSchedule
from bot.speech.xcodec2_decoder import DecoderShape, XCodec2Decoder

SHAPES = {
    "16k": DecoderShape(1024, 2048, 8, 12, 16, 2, 2, 320, (), (), 16000),
    # Kernel sizes of the real 44.1 kHz checkpoint are unknown here; 9 for stride 3 is a guess.
    "44k": DecoderShape(1024, 2048, 8, 12, 16, 2, 2, 98, (3, 3), (9, 9), 44100),
}
TINY_SHAPE = DecoderShape(64, 2048, 8, 2, 4, 2, 2, 320, (), (), 16000)
PUSH = 25  # codes per push, the synthesizer's chunk
# The schedule before this benchmark: 100 codes of context for every 25-code push.
OLD_SCHEDULE = StreamSchedule(context=100, lookahead=12, fade=2, first_step=10, growth=0.0, max_step=10)


def random_codec(shape: DecoderShape, device: str = "cpu", dtype: torch.dtype = torch.float32) -> SpeechCodec:
    """A SpeechCodec over a decoder with torch's default random init (no checkpoint on disk)."""
    torch.manual_seed(0)
    decoder = XCodec2Decoder(shape).eval().set_precision(dtype).to(device)
    return SpeechCodec(decoder, CheckpointFiles((), {}), torch.device(device), dtype)


def ser_db(signal: np.ndarray, reference: np.ndarray) -> float:
    """Signal-to-error ratio in dB of signal against reference."""
    error = float(np.sum((signal.astype(np.float64) - reference) ** 2))
    return float("inf") if error == 0 else float(10 * np.log10(np.sum(reference.astype(np.float64) ** 2) / error))


def time_call(fn, repeats: int) -> float:
    """Best wall time of fn() in seconds (the least disturbed run), after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()  # decoding ends with .cpu(), which waits for the GPU
        times.append(time.perf_counter() - start)
    return min(times)


@dataclass(frozen=True)
class StreamResult:
    """One stream schedule measured on one code sequence."""

    schedule: dict
    ser_db: float  # streamed vs one-shot decode of the same codes
    seam_ser_db: float  # the same, only over the cross-faded joins
    decoded_per_code: float  # codes run through the decoder per code of audio (one-shot: 1)
    ms_per_audio_s: float  # wall time of the streamed decode per second of audio
    one_shot_ms_per_audio_s: float
    first_audio_codes: int  # codes pushed before the first audio came out
    windows: int


def stream(codec: SpeechCodec, codes: np.ndarray, schedule: StreamSchedule, push: int = PUSH):
    """Push codes `push` at a time, then finish: (audio, outputs, decoded codes)."""
    s = codec.stream(schedule)
    outputs = [s.push(codes[i : i + push]) for i in range(0, len(codes), push)]
    outputs.append(s.finish())
    return np.concatenate(outputs), outputs, s.decoded_codes


def measure_stream(
    codec: SpeechCodec,
    codes: np.ndarray,
    schedule: StreamSchedule,
    *,
    push: int = PUSH,
    one_shot: np.ndarray | None = None,
    one_shot_s: float | None = None,
    repeats: int = 1,
) -> StreamResult:
    """Streamed against one-shot decoding of the same codes: error, work and wall time."""
    seconds = len(codes) * codec.samples_per_code / codec.sample_rate
    if one_shot is None:
        one_shot = codec.decode(codes)
    if one_shot_s is None:
        one_shot_s = time_call(lambda: codec.decode(codes), repeats)
    runs = []
    for _ in range(max(repeats, 1)):  # the decoder is warm: one_shot ran on it
        start = time.perf_counter()
        audio, outputs, decoded = stream(codec, codes, schedule, push)
        runs.append(time.perf_counter() - start)
    streamed_s = min(runs) if repeats else float("nan")
    pushed = np.cumsum([min(push, len(codes) - i) for i in range(0, len(codes), push)] + [0])
    first = next(int(n) for n, out in zip(pushed, outputs) if len(out))
    joins = np.cumsum([len(o) for o in outputs if len(o)])[:-1]
    half = schedule.fade * codec.samples_per_code
    seam = np.concatenate([np.arange(max(0, j - half), min(len(audio), j + half)) for j in joins]) if len(joins) else np.arange(0)
    return StreamResult(
        schedule=asdict(schedule),
        ser_db=round(ser_db(audio, one_shot), 2),
        seam_ser_db=round(ser_db(audio[seam], one_shot[seam]), 2) if len(seam) else float("inf"),
        decoded_per_code=round(decoded / len(codes), 3),
        ms_per_audio_s=round(streamed_s / seconds * 1000, 1),
        one_shot_ms_per_audio_s=round(one_shot_s / seconds * 1000, 1),
        first_audio_codes=first,
        windows=sum(1 for o in outputs if len(o)),
    )


def schedule_grid() -> list[StreamSchedule]:
    """The settings tried by --grid: the old schedule, then context, lookahead, fade and growth
    varied one at a time around the default (a full product takes too long on a small CPU)."""
    grid = [OLD_SCHEDULE, DEFAULT_SCHEDULE]
    grid += [replace(DEFAULT_SCHEDULE, context=c) for c in (0, 25, 100)]
    grid += [replace(DEFAULT_SCHEDULE, lookahead=look, first_step=max(4, 9 + 12 - look)) for look in (4, 24)]
    grid += [replace(DEFAULT_SCHEDULE, fade=2, first_step=11), replace(DEFAULT_SCHEDULE, fade=8, first_step=8, lookahead=9)]
    grid += [replace(DEFAULT_SCHEDULE, growth=g, max_step=m) for g, m in ((1.0, 100), (0.5, 200))]
    return grid


def print_result(r: StreamResult) -> None:
    s = r.schedule
    print(
        f"  ctx {s['context']:3d} look {s['lookahead']:2d} fade {s['fade']} first {s['first_step']:2d} "
        f"growth {s['growth']:.2f} max {s['max_step']:3d} | SER {r.ser_db:6.2f} dB  seams {r.seam_ser_db:6.2f} dB"
        f" | decoded/code {r.decoded_per_code:5.2f}  {r.ms_per_audio_s:7.1f} ms/audio s"
        f" (one-shot {r.one_shot_ms_per_audio_s:.1f})  first audio after {r.first_audio_codes} codes"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="float32", choices=sorted(DTYPES))
    parser.add_argument("--shape", default="16k", choices=sorted(SHAPES))
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--grid", action="store_true", help="try a grid of stream schedules")
    parser.add_argument("--repeats", type=int, default=1, help="timed runs per schedule (0: SER and work only)")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.device}, {args.dtype}")
    codec = random_codec(SHAPES[args.shape], args.device, DTYPES[args.dtype])
    codes = np.random.default_rng(0).integers(0, 65536, size=int(args.seconds * 50))
    one_shot = codec.decode(codes)
    one_shot_s = time_call(lambda: codec.decode(codes), repeats=max(args.repeats, 1))
    print(f"{args.shape} decoder, {len(codes)} random codes ({args.seconds:g} s), pushes of {PUSH}:")
    for schedule in schedule_grid() if args.grid else [OLD_SCHEDULE, DEFAULT_SCHEDULE]:
        print_result(measure_stream(codec, codes, schedule, one_shot=one_shot, one_shot_s=one_shot_s,
                                    repeats=args.repeats))


if __name__ == "__main__":
    main()
