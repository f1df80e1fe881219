"""Many voices at once: the real engine and synthesizer on a backend of several slots (tiny models).

Run from the repository root:
    .venv/bin/python -m bench.lanes [--backend embedded|llama-server] [--slots 4] [--guilds 6] [--rounds 3]
                                    [--max-tokens 150] [--out bench/results/lanes.json]
embedded: `--slots` tiny embedded models (one llama.cpp context each, one thread) behind a
bench-only pool, since one context runs one generation; llama-server: a real llama-server with
`--slots` slots (LLAMA_SERVER=1 scripts/setup.sh builds it).
Each round submits one message per guild at once and waits for all of them. Printed per round:
the backend's slots, the streams the engine admitted, the most that ran at once, the measured
speed per stream at each level of concurrency (× real time and codes/s) and the aggregate codes
per second. Weights are random: speed is real, sound is not.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import queue
import tempfile
import threading
import time
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.codec_decode import TINY_SHAPE, random_codec
from bot.speech.backends.llama_server import LlamaServerBackend
from bot.speech.backends.pool import EndpointPool
from bot.speech.capacity import CODES_PER_SECOND
from bot.speech.engine import Owner, SpeechEngine
from bot.speech.llm import CodeGeneration, GgufTokenizer, LlasaModel, LoadOptions, Sampling
from bot.speech.synthesizer import SpeechRequest, Synthesizer
from tests.backends.llama_server_process import LlamaServer
from tests.tiny_llasa import write_tiny_llasa

TEXT = "こんにちは、今日はいい天気ですね。明日も晴れるといいですね。"


class ModelPool:
    """Bench-only: several embedded models as one backend with one slot per model."""

    def __init__(self, models: list[LlasaModel]) -> None:
        self._models = models
        self._free: queue.Queue[LlasaModel] = queue.Queue()
        for model in models:
            self._free.put(model)
        self._tokenize = threading.Lock()
        self.vocab = models[0].vocab
        self.capacity = len(models)

    def tokenize_text(self, text: str) -> list[int]:
        with self._tokenize:
            return self._models[0].tokenize_text(text)

    def generate(self, prompt: Sequence[int], sampling: Sampling, *, should_stop: Callable[[], bool] = lambda: False,
                 affinity: Hashable | None = None) -> CodeGeneration:
        model = self._free.get()
        inner = model.generate(prompt, sampling, should_stop=should_stop)
        outer = CodeGeneration(iter(()), inner.seed)

        def codes() -> Iterator[int]:
            try:
                yield from inner
            finally:
                outer.finish_reason = inner.finish_reason
                self._free.put(model)

        outer._codes = codes()
        return outer

    def close(self) -> None:
        for model in self._models:
            model.close()


def make_backend(kind: str, slots: int, work: Path, stack: ExitStack) -> Any:
    gguf = write_tiny_llasa(work / "tiny.gguf", output_std=0.02)
    if kind == "embedded":
        pool: Any = ModelPool([LlasaModel.load(gguf, LoadOptions(n_gpu_layers=0, n_threads=1)) for _ in range(slots)])
    else:
        server = LlamaServer(gguf, work, slots=slots).start()
        stack.callback(server.stop)
        pool = EndpointPool([LlamaServerBackend(server.url, GgufTokenizer.load(gguf))])
        pool.start()
    stack.callback(pool.close)
    return pool


async def run_rounds(engine: SpeechEngine, guilds: int, rounds: int, max_tokens: int) -> list[dict[str, Any]]:
    sampling = Sampling(max_tokens=max_tokens)  # the flat tiny model's END is rare: takes run to this
    results = []
    for number in range(rounds):
        peak = 0
        started = time.perf_counter()
        jobs = [engine.submit(SpeechRequest(TEXT, sampling=sampling), Owner(g + 1, g + 1)) for g in range(guilds)]
        pending = {asyncio.ensure_future(j.result()) for j in jobs}
        while pending:  # sample how many run at once while the round goes on
            peak = max(peak, engine.capacity_report().running)
            _done, pending = await asyncio.wait(pending, timeout=0.05)
        wall = time.perf_counter() - started
        clips = [await j.result() for j in jobs]
        report = engine.capacity_report()
        codes = sum(c.report.codes for c in clips)
        results.append({
            "round": number + 1, "slots": report.lanes, "admitted": report.admitted, "peak_running": peak,
            "speed_per_stream": {n: round(s, 2) for n, s in report.speeds},
            "codes_per_s_per_stream": {n: round(s * CODES_PER_SECOND, 1) for n, s in report.speeds},
            "aggregate_codes_per_s": round(codes / wall, 1), "codes": codes, "wall_s": round(wall, 2),
        })
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("embedded", "llama-server"), default="embedded")
    parser.add_argument("--slots", type=int, default=4)
    parser.add_argument("--guilds", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=150, help="codes per sentence (150: 3 s)")
    parser.add_argument("--out", type=Path, default=Path("bench/results/lanes.json"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("bot.speech.backends").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as work, ExitStack() as stack:
        backend = make_backend(args.backend, args.slots, Path(work), stack)
        engine = SpeechEngine(Synthesizer(backend, random_codec(TINY_SHAPE), captions=True), per_guild=100, per_user=100)
        stack.callback(engine.close)
        results = asyncio.run(run_rounds(engine, args.guilds, args.rounds, args.max_tokens))
    for r in results:
        print(f"round {r['round']}: slots {r['slots']}, admitted {r['admitted']}, ran at once {r['peak_running']}, "
              f"aggregate {r['aggregate_codes_per_s']} codes/s ({r['codes']} codes in {r['wall_s']} s)")
        for n, speed in r["speed_per_stream"].items():
            print(f"    {n} at once: {speed}x real time per stream ({r['codes_per_s_per_stream'][n]} codes/s)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
