"""Can the bot speak in real time here? One benchmark of every stage between text and Discord.

Run from the repository root:
    .venv/bin/python -m bench.realtime [--short] [--out bench/results/realtime.json]
Prints the figures, writes them as JSON and draws them into a PNG beside it. Sections:
  host_ms_per_token    host time per token beside the forward pass (engine − forward), flat and
                       peaked tiny models, before (Llama.generate + logits mask) and after (ours)
  tokens_per_s         our generation vs the forward pass alone
  first_audio          time to first audio vs time to generate the first second of codes
  underruns            silent 20 ms frames per message, generation held to 0.6× and 1.5× real
                       time (the throttle's schedule, in virtual time), playing from the first
                       chunk or from the engine's start gate, old and new stream schedules
  codec                streamed vs one-shot decoding per audio second, and the stream's SER
  memory               peak RSS (and VRAM with CUDA)
  cuda                 the LLM and codec figures again on the GPU; skipped, saying so, without one
--short uses tiny models and short runs (well under a minute); the full run decodes with a
full-size random XCodec2 decoder. Weights are random everywhere: speed is real, sound is not.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.codec_decode import OLD_SCHEDULE, SHAPES, TINY_SHAPE, measure_stream, random_codec
from bench.sampler_cost import Clock, measure_host_ms_per_token
from bot.audio.source import FRAME_S, StreamingSpeechSource
from bot.speech.codec import DEFAULT_SCHEDULE, CodecStream, SpeechCodec, StreamSchedule
from bot.speech.llm import LlasaModel, LoadOptions, Sampling
from bot.speech.pacing import SpeechPacing, StartGate
from bot.speech.prompt import N_SPEECH_CODES
from bot.speech.synthesizer import PUSH_CODES, SpeechRequest, Synthesizer, piece_schedule

TEXT = "こんにちは、今日はいい天気ですね。"
CODES_PER_SECOND = 50
SPEEDS = (0.6, 1.5)  # generation throttled to these multiples of real time
StartRule = Callable[[list[float], list[float]], float]


@dataclass(frozen=True)
class Sizes:
    tokens: int  # tokens per host-time measurement
    messages: int  # messages per underrun measurement
    message_codes: int  # codes in each of those messages
    codec_seconds: float  # audio decoded per codec measurement
    codec_repeats: int  # timed runs per codec figure (the best counts)
    full_codec: bool  # the full-size decoder, else the tiny one


SHORT = Sizes(tokens=150, messages=2, message_codes=150, codec_seconds=4.0, codec_repeats=1, full_codec=False)
FULL = Sizes(tokens=600, messages=4, message_codes=400, codec_seconds=10.0, codec_repeats=3, full_codec=True)


# --------------------------------------------------------------------------- models


def tiny_models(folder: Path) -> dict[str, Path]:
    """The tests' tiny Llasa GGUFs, as bench/sampler_cost.py builds them: flat logits over all
    codes (most survive min-p: the sampler's worst case) and peaked ones (few survive)."""
    from tests.tiny_llasa import write_tiny_llasa

    return {
        "flat": write_tiny_llasa(folder / "flat.gguf", output_std=0.02),
        "peaked": write_tiny_llasa(folder / "peaked.gguf", output_std=0.5),
    }


# --------------------------------------------------------------------------- host time per token

# One llama.cpp thread, timed in process CPU time (bench/sampler_cost.py's choice): the tiny
# models' forward pass is too small to share, and other programs beside it barely move the figures.
TINY_OPTIONS = LoadOptions(n_gpu_layers=0, n_threads=1)
ROUNDS = 3


def llm_sections(models: dict[str, Path], sizes: Sizes, options: LoadOptions, clock: Clock) -> tuple[dict, dict]:
    """host_ms_per_token (engine − forward pass) before and after, and tokens/s, per tiny model."""
    host, rates = {}, {}
    for name, path in models.items():
        llm = LlasaModel.load(path, options)
        before = measure_host_ms_per_token(llm, sizes.tokens, old=True, clock=clock, rounds=ROUNDS)
        after = measure_host_ms_per_token(llm, sizes.tokens, old=False, clock=clock, rounds=ROUNDS)
        host[name] = {"forward_ms": round(after["forward_ms"], 4), "before_ms": round(before["host_ms"], 4),
                      "after_ms": round(after["host_ms"], 4)}
        rates[name] = {"ours": round(1000 / after["engine_ms"], 1), "forward_only": round(1000 / after["forward_ms"], 1),
                       "before": round(1000 / before["engine_ms"], 1)}
    return host, rates


def _with(seed: int, tokens: int) -> Sampling:
    return replace(Sampling(), max_tokens=tokens, seed=seed)


# --------------------------------------------------------------------------- first audio


class TimedLlm:
    """The model, with the wall time of every code it yields recorded."""

    def __init__(self, llm: LlasaModel) -> None:
        self._llm = llm
        self.code_times: list[float] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._llm, name)

    def generate(self, *args: Any, **kwargs: Any) -> Any:
        generation = self._llm.generate(*args, **kwargs)
        inner = generation._codes

        def timed() -> Iterator[int]:
            for code in inner:
                self.code_times.append(time.perf_counter())
                yield code

        generation._codes = timed()
        return generation


def first_audio(llm_path: Path, codec: SpeechCodec, options: LoadOptions) -> dict:
    """Time from the request to the first audio chunk vs to the 50th code (one second)."""
    llm = TimedLlm(LlasaModel.load(llm_path, options))
    synthesizer = Synthesizer(llm, codec, captions=True)  # type: ignore[arg-type]
    request = SpeechRequest(TEXT, sampling=_with(1, 3 * CODES_PER_SECOND))
    list(synthesizer.stream(request))  # warm-up: caches, allocators
    llm.code_times.clear()
    started = time.perf_counter()
    first = None
    for chunk in synthesizer.stream(request):
        if first is None and len(chunk):
            first = time.perf_counter() - started
    one_second = llm.code_times[CODES_PER_SECOND - 1] - started
    return {"first_audio_ms": round(first * 1000, 1), "first_second_of_codes_ms": round(one_second * 1000, 1),
            "first_audio_codes": DEFAULT_SCHEDULE.first_audio_codes}


# --------------------------------------------------------------------------- underruns


def chunk_seconds(schedule: StreamSchedule, codes: int, push: int = PUSH_CODES) -> list[float]:
    """The audio chunks (seconds) a message of `codes` codes comes out in, pushed `push` at a time
    as the synthesizer pushes them. Their sizes depend on the schedule only, not on the decoder."""
    spc = 320
    stream = CodecStream(lambda window: np.zeros(len(window) * spc, np.float32), spc, schedule)
    chunks = [stream.push(np.zeros(min(push, codes - i), np.int64)) for i in range(0, codes, push)]
    chunks.append(stream.finish())
    return [len(c) / (CODES_PER_SECOND * spc) for c in chunks if len(c)]


class ArrivingChunks:
    """A feed for the bot's Discord audio source whose chunks arrive at given (virtual) times."""

    def __init__(self, chunks: list[float], arrivals: list[float], sample_rate: int) -> None:
        self._chunks = [np.zeros(round(c * sample_rate), np.float32) for c in chunks]
        self._arrivals = arrivals
        self._taken = 0
        self.now = 0.0

    def take(self) -> tuple[list[np.ndarray], bool]:
        start = self._taken
        while self._taken < len(self._chunks) and self._arrivals[self._taken] <= self.now + 1e-9:
            self._taken += 1
        return self._chunks[start : self._taken], self._taken == len(self._chunks)


def underrun_frames(chunks: list[float], speed: float, start_at: StartRule, sample_rate: int,
                   held_s: float = 0.0) -> int:
    """Silent frames the bot's audio source inserts once speech has started, when chunk k
    arrives at (audio up to chunk k + the decoder's lookahead held_s) / speed, the throttle's
    absolute schedule (bot/speech/throttle.py), and playback starts at start_at(chunks, arrivals)."""
    arrivals = list(np.minimum(np.cumsum(chunks) + held_s, sum(chunks)) / speed)
    feed = ArrivingChunks(chunks, arrivals, sample_rate)
    source = StreamingSpeechSource(feed, sample_rate)
    feed.now = start_at(chunks, arrivals)
    while source.read():  # one call per 20 ms frame, as discord.py's player thread makes them
        feed.now += FRAME_S
    return source.stats().gap_frames


def start_at_first_chunk(_chunks: list[float], arrivals: list[float]) -> float:
    """Play as soon as audio exists (what the bot did before its start gate)."""
    return arrivals[0]


def pacing_gate(pacing: SpeechPacing, cap_s: float, schedule: StreamSchedule) -> StartRule:
    """The engine's start gate (bot/speech/pacing.py), fed the chunks at their arrival times;
    it learns speed and length across the messages it sees, as in the bot."""

    def start_at(chunks: list[float], arrivals: list[float]) -> float:
        gate = StartGate(pacing, TEXT, piece_schedule(schedule))
        gate.begin(0.0)
        opened = [t for seconds, t in zip(chunks, arrivals) if gate.add(seconds, t, cap_s)]
        gate.end()
        gate.learn(finished=True)
        return opened[0] if opened else arrivals[-1]

    return start_at


def underruns(sizes: Sizes) -> dict:
    """Underrun frames and wait before playing, per message, at each throttled speed, for the
    old and the new stream schedule, starting at the first chunk or at the engine's gate."""
    message_s = sizes.message_codes / CODES_PER_SECOND
    result: dict[str, Any] = {"message_s": message_s}
    for rule_name in ("first_chunk", "pacing_gate"):
        result[rule_name] = {}
        for name, schedule in (("old_schedule", OLD_SCHEDULE), ("new_schedule", DEFAULT_SCHEDULE)):
            chunks = chunk_seconds(schedule, sizes.message_codes)
            per_speed = {}
            for speed in SPEEDS:
                rule = start_at_first_chunk if rule_name == "first_chunk" else pacing_gate(SpeechPacing(), 2 * message_s, schedule)
                held_s = piece_schedule(schedule).held_s
                frames = [underrun_frames(chunks, speed, rule, 16000, held_s) for _ in range(sizes.messages)]
                per_speed[f"{speed}x"] = round(float(np.mean(frames)), 1)
            result[rule_name][name] = per_speed
    return result


# --------------------------------------------------------------------------- codec and memory


def codec_section(codec: SpeechCodec, seconds: float, repeats: int) -> dict:
    """One-shot vs streamed decoding of random codes: best of `repeats` timed runs each."""
    codes = np.random.default_rng(0).integers(0, N_SPEECH_CODES, size=int(seconds * CODES_PER_SECOND))
    one_shot = codec.decode(codes)  # also the warm-up
    old = measure_stream(codec, codes, OLD_SCHEDULE, one_shot=one_shot, repeats=repeats)
    new = measure_stream(codec, codes, DEFAULT_SCHEDULE, one_shot=one_shot, repeats=repeats)
    return {
        "audio_s": seconds,
        "one_shot_ms_per_audio_s": new.one_shot_ms_per_audio_s,
        "old_streamed_ms_per_audio_s": old.ms_per_audio_s,
        "new_streamed_ms_per_audio_s": new.ms_per_audio_s,
        "old_ser_db": old.ser_db,
        "new_ser_db": new.ser_db,
        "old_decoded_per_code": old.decoded_per_code,
        "new_decoded_per_code": new.decoded_per_code,
    }


def peak_rss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


# --------------------------------------------------------------------------- the run


def make_codec(sizes: Sizes, device: str) -> SpeechCodec:
    return random_codec(SHAPES["16k"] if sizes.full_codec else TINY_SHAPE, device)


def run(sizes: Sizes, work: Path) -> dict:
    models = tiny_models(work)
    results: dict[str, Any] = {
        "mode": "short" if sizes is SHORT else "full",
        "machine": {"python": platform.python_version(), "torch": torch.__version__,
                    "threads": torch.get_num_threads(), "cpu": platform.processor() or platform.machine()},
    }
    step("host time per token and tokens/s (CPU time, 1 thread)")
    results["host_ms_per_token"], results["tokens_per_s"] = llm_sections(models, sizes, TINY_OPTIONS, time.process_time)
    codec = make_codec(sizes, "cpu")
    step("time to first audio")
    results["first_audio"] = first_audio(models["flat"], codec, TINY_OPTIONS)
    step("underruns at 0.6x and 1.5x real time")
    results["underruns"] = underruns(sizes)
    step("codec: streamed vs one-shot")
    results["codec"] = codec_section(codec, sizes.codec_seconds, sizes.codec_repeats)
    results["memory"] = {"peak_rss_mib": peak_rss_mib()}
    results["cuda"] = cuda_section(models, sizes)
    return results


def cuda_section(models: dict[str, Path], sizes: Sizes) -> dict:
    if not torch.cuda.is_available():
        return {"skipped": "no CUDA GPU on this machine: GPU figures not measured"}
    import llama_cpp

    step("the same on the GPU")
    section: dict[str, Any] = {"device": torch.cuda.get_device_name()}
    torch.cuda.reset_peak_memory_stats()
    codec = make_codec(sizes, "cuda")
    section["codec"] = codec_section(codec, sizes.codec_seconds, sizes.codec_repeats)
    if llama_cpp.llama_supports_gpu_offload():
        gpu = LoadOptions(n_gpu_layers=-1)
        section["host_ms_per_token"], section["tokens_per_s"] = llm_sections(models, sizes, gpu, time.perf_counter)
        section["first_audio"] = first_audio(models["flat"], codec, gpu)
    else:
        section["llm_skipped"] = "llama.cpp was built without GPU offload"
    section["codec_peak_vram_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return section


def step(what: str) -> None:
    print(f"… {what}", file=sys.stderr, flush=True)


def print_results(r: dict) -> None:
    print(f"realtime benchmark ({r['mode']}), torch {r['machine']['torch']}, {r['machine']['threads']} threads")
    for name, h in r["host_ms_per_token"].items():
        t = r["tokens_per_s"][name]
        print(f"  {name:6s} model: host ms/token before {h['before_ms']:.3f}, after {h['after_ms']:.3f} "
              f"(forward {h['forward_ms']:.3f} ms); tok/s ours {t['ours']}, forward alone {t['forward_only']}, "
              f"before {t['before']}")
    f = r["first_audio"]
    print(f"  first audio {f['first_audio_ms']} ms vs first second of codes {f['first_second_of_codes_ms']} ms "
          f"(audio once {f['first_audio_codes']} codes are in)")
    u = r["underruns"]
    for rule in ("first_chunk", "pacing_gate"):
        for name in ("old_schedule", "new_schedule"):
            per = ", ".join(f"{k}: {v}" for k, v in u[rule][name].items())
            print(f"  underrun frames per {u['message_s']:g} s message, start at {rule.replace('_', ' ')}, "
                  f"{name.replace('_', ' ')}: {per}")
    c = r["codec"]
    print(f"  codec {c['audio_s']:g} s: one-shot {c['one_shot_ms_per_audio_s']} ms/audio s; streamed old "
          f"{c['old_streamed_ms_per_audio_s']} (SER {c['old_ser_db']} dB, {c['old_decoded_per_code']}x codes), "
          f"new {c['new_streamed_ms_per_audio_s']} (SER {c['new_ser_db']} dB, {c['new_decoded_per_code']}x codes)")
    print(f"  peak RSS {r['memory']['peak_rss_mib']} MiB")
    cuda = r["cuda"]
    print(f"  cuda: {cuda['skipped']}" if "skipped" in cuda else f"  cuda: {json.dumps(cuda)}")


def draw(r: dict, path: Path) -> None:
    """The figures as bar charts in one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(18, 4))
    models = list(r["host_ms_per_token"])
    x = np.arange(len(models))
    def paired_bars(ax: Any, section: str, title: str, pairs: tuple[tuple[str, str], ...]) -> None:
        for offset, (key, label) in zip((-0.2, 0.2), pairs):
            ax.bar(x + offset, [r[section][m][key] for m in models], 0.4, label=label)
        ax.set_xticks(x, models)
        ax.set_title(title)
        ax.legend()

    paired_bars(axes[0], "host_ms_per_token", "host ms per token (engine − forward)",
                (("before_ms", "before"), ("after_ms", "after")))
    paired_bars(axes[1], "tokens_per_s", "tokens/s", (("ours", "ours"), ("forward_only", "forward only")))
    ax = axes[2]
    u = r["underruns"]
    bars = [(rule, name) for rule in ("first_chunk", "pacing_gate") for name in ("old_schedule", "new_schedule")]
    speeds = list(u["first_chunk"]["new_schedule"])
    xs = np.arange(len(speeds))
    for i, (rule, name) in enumerate(bars):
        ax.bar(xs + (i - 1.5) * 0.2, [u[rule][name][s] for s in speeds], 0.2,
               label=f"{rule.replace('_', ' ')}, {name.split('_')[0]}")
    ax.set_xticks(xs, speeds)
    ax.set_title(f"underrun frames per {u['message_s']:g} s message")
    ax.legend()
    ax = axes[3]
    c = r["codec"]
    ax.bar(["one-shot", "streamed old", "streamed new"],
           [c["one_shot_ms_per_audio_s"], c["old_streamed_ms_per_audio_s"], c["new_streamed_ms_per_audio_s"]])
    ax.set_title(f"codec ms per audio s\nstreamed SER: old {c['old_ser_db']} dB, new {c['new_ser_db']} dB")
    fig.suptitle(f"realtime benchmark ({r['mode']}); first audio {r['first_audio']['first_audio_ms']} ms, "
                 f"first second of codes {r['first_audio']['first_second_of_codes_ms']} ms; "
                 f"peak RSS {r['memory']['peak_rss_mib']} MiB")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="tiny sizes, well under a minute")
    parser.add_argument("--out", type=Path, default=Path("bench/results/realtime.json"))
    args = parser.parse_args(argv)
    # The audio source logs every gap it fills; here the gaps are what is being counted.
    logging.getLogger("bot.audio.source").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as work:
        results = run(SHORT if args.short else FULL, Path(work))
    results["memory"]["peak_rss_mib"] = peak_rss_mib()
    print_results(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    chart = args.out.with_suffix(".png")
    draw(results, chart)
    print(f"wrote {args.out} and {chart}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
