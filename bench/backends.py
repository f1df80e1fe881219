"""Tokens per second of a generation backend at 1, 2, 4 and 8 concurrent streams.

Each stream is one guild generating `--tokens` codes; a round starts N of them together (at most
`capacity` run at once, as the engine would) and measures aggregate codes/s (all codes / round
time) and per-stream codes/s (a stream's codes / the time from the round's start to its last
code, what that listener gets), each also as a ratio to one stream. Best of --rounds.

Run:
  .venv/bin/python -m bench.backends --backend llama-server        # starts llama-server (tiny GGUF)
  .venv/bin/python -m bench.backends --backend llama-cpp           # the embedded model (tiny GGUF)
  .venv/bin/python -m bench.backends --backend vllm                # starts vllm serve (tiny HF Llasa)
  .venv/bin/python -m bench.backends --backend llama-server --url http://127.0.0.1:8080 --model x.gguf
  .venv/bin/python -m bench.backends --config config.toml          # any backend a config builds
  .venv/bin/python -m bench.backends --backend llama-server --mask-cost   # also: logit_bias vs none

Results: printed, and written as JSON to bench/results/backends-<kind>.json.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from bot.speech.backends.base import GenerationBackend
from bot.speech.llm import Sampling
from bot.speech.prompt import ReferenceVoice, build_prompt

RESULTS = Path(__file__).resolve().parent / "results"
TEXT = "こんにちは、今日はいい天気ですね。"
STREAMS = (1, 2, 4, 8)


def measure(backend: GenerationBackend, streams: int, tokens: int, reference_codes: int = 150,
            base: Sampling = Sampling()) -> dict[str, float]:
    """One round of `streams` generations of `tokens` codes each (a stream may end earlier at END)."""
    reference = ReferenceVoice(tuple(i * 37 % 65536 for i in range(reference_codes)), "参考の声です。")
    prompt = build_prompt(backend.vocab, backend.tokenize_text, TEXT, caption=None, reference=reference,
                          with_system_block=True)
    gate = threading.Semaphore(max(1, backend.capacity))
    ends: list[float] = [0.0] * streams
    counts = [0] * streams
    errors: list[BaseException] = []
    start = threading.Barrier(streams + 1)

    def stream(i: int) -> None:
        try:
            start.wait()
            with gate:
                sampling = replace(base, max_tokens=tokens, seed=1000 + i)
                for _ in backend.generate(prompt, sampling, affinity=("guild", i)):
                    counts[i] += 1
            ends[i] = time.perf_counter()
        except BaseException as exc:  # reported after the round
            errors.append(exc)

    threads = [threading.Thread(target=stream, args=(i,)) for i in range(streams)]
    for t in threads:
        t.start()
    start.wait()
    began = time.perf_counter()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    wall = max(ends) - began
    per_stream = [c / (e - began) for c, e in zip(counts, ends)]
    return {"streams": streams, "codes": sum(counts), "wall_s": wall, "aggregate": sum(counts) / wall,
            "per_stream": sum(per_stream) / streams, "slowest_stream": min(per_stream)}


def sweep(backend: GenerationBackend, tokens: int, rounds: int, streams: tuple[int, ...] = STREAMS,
          base: Sampling = Sampling()) -> list[dict]:
    """Best-of-rounds figures for each stream count, with ratios to the first."""
    measure(backend, 1, 8, base=base)  # warm-up: first-request costs are not throughput
    rows = []
    for n in streams:
        best = max((measure(backend, n, tokens, base=base) for _ in range(rounds)), key=lambda r: r["aggregate"])
        rows.append(best)
    for row in rows:
        row["aggregate_ratio"] = row["aggregate"] / rows[0]["aggregate"]
        row["per_stream_ratio"] = row["per_stream"] / rows[0]["per_stream"]
    return rows


def mask_cost(url: str, gguf: Path, tokens: int, streams: tuple[int, ...] = STREAMS) -> list[dict]:
    """Raw /completion streams with and without the speech-only logit_bias: what the mask costs.

    Counts every token the server sends (unmasked, the random tiny model says non-speech ids too).
    """
    from bot.speech.backends.http import Endpoint, stream_events
    from bot.speech.backends.llama_server import SAMPLERS, speech_only_bias
    from bot.speech.llm import GgufTokenizer

    tokenizer = GgufTokenizer.load(gguf)
    endpoint = Endpoint.parse(url)
    ban = speech_only_bias(tokenizer)
    prompt = [tokenizer.vocab.begin_of_text] + tokenizer.tokenize_text(TEXT) + [tokenizer.vocab.speech_start]

    def body(seed: int, masked: bool) -> bytes:
        settings = {"prompt": prompt, "n_predict": tokens, "stream": True, "seed": seed, "cache_prompt": True,
                    "temperature": 0.8, "top_k": 0, "top_p": 0.95, "min_p": 0.05, "repeat_penalty": 1.1,
                    "repeat_last_n": 64, "samplers": SAMPLERS, "ignore_eos": True}
        raw = json.dumps(settings).encode()
        return raw[:-1] + b',"logit_bias":' + ban + b"}" if masked else raw

    def round_(n: int, masked: bool) -> float:
        counts = [0] * n

        def one(i: int) -> None:
            for event in stream_events(endpoint, "/completion", body(i, masked)):
                counts[i] += len(event.get("tokens") or ())

        wall = _timed_threads(n, one)
        return sum(counts) / wall

    rows = []
    for n in streams:
        with_mask = max(round_(n, True) for _ in range(2))
        without = max(round_(n, False) for _ in range(2))
        rows.append({"streams": n, "masked": with_mask, "unmasked": without, "cost": 1 - with_mask / without})
    return rows


def _timed_threads(n: int, fn: Callable[[int], None]) -> float:
    """Seconds for n threads running fn(0) … fn(n − 1) at once."""
    threads = [threading.Thread(target=fn, args=(i,)) for i in range(n)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["llama-cpp", "llama-server", "vllm"], default="llama-server")
    parser.add_argument("--config", type=Path, help="build the backend from this config file instead")
    parser.add_argument("--url", help="an llama-server already running (with --model: its GGUF)")
    parser.add_argument("--model", type=Path, help="the GGUF (default: a tiny random Llasa)")
    parser.add_argument("--tokens", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="llama.cpp threads (embedded or started server); 1 copes best with a busy CPU")
    parser.add_argument("--top-k", type=int, default=Sampling().top_k, help="sampling top_k (the bot's default: 0)")
    parser.add_argument("--mask-cost", action="store_true", help="llama-server: also time logit_bias vs none")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        gguf = args.model
        if gguf is None and args.config is None:
            from tests.tiny_llasa import write_tiny_llasa

            gguf = write_tiny_llasa(Path(tmp) / "tiny-llasa.gguf")
        server = None
        try:
            backend, kind, url = _backend(args, gguf, Path(tmp))
            if isinstance(backend, tuple):  # (backend, server we started)
                backend, server = backend
            rows = sweep(backend, args.tokens, args.rounds, base=Sampling(top_k=args.top_k))
            masks = mask_cost(url, gguf, args.tokens) if args.mask_cost and url and gguf else None
            backend.close()
        finally:
            if server is not None:
                server.stop()
    _report(kind, args, rows, masks)


def _backend(args: argparse.Namespace, gguf: Path | None, tmp: Path):
    """(backend or (backend, started server), kind, llama-server URL or None)."""
    from bot.speech.backends.llama_server import LlamaServerBackend
    from bot.speech.backends.pool import EndpointPool
    from bot.speech.llm import GgufTokenizer, LlasaModel, LoadOptions

    if args.config is not None:
        from bot.config import load_config
        from bot.speech.loader import make_backend

        config = load_config(args.config)
        url = config.backend.endpoints[0] if config.backend.kind == "llama-server" else None
        return make_backend(config), config.backend.kind, url
    if args.backend == "llama-cpp":
        return LlasaModel.load(gguf, LoadOptions(n_gpu_layers=0, n_threads=args.threads)), "llama-cpp", None
    if args.backend == "vllm":
        return _vllm(args, tmp), "vllm", None
    server = None
    url = args.url
    if url is None:
        from tests.backends.llama_server_process import LlamaServer

        server = LlamaServer(gguf, tmp, slots=max(STREAMS), threads=args.threads)
        url = server.start().url
    pool = EndpointPool([LlamaServerBackend(url, GgufTokenizer.load(gguf))])
    pool.start()
    return ((pool, server) if server else pool), "llama-server", url


def _vllm(args: argparse.Namespace, tmp: Path):
    """A pool on --url (--model: the checkpoint folder it serves), or on a vllm serve of a tiny HF Llasa we start."""
    from bot.speech.backends.hf_tokenizer import HfTokenizer
    from bot.speech.backends.pool import EndpointPool
    from bot.speech.backends.vllm import VllmBackend
    from tests.backends.vllm_server import MAX_NUM_SEQS, VllmServer

    folder, server, url = args.model, None, args.url
    if url is None:
        from tests.tiny_hf_llasa import write_tiny_hf_llasa

        folder = write_tiny_hf_llasa(tmp / "tiny-hf-llasa")
        server = VllmServer(folder, tmp).launch().wait_ready()
        url = server.url
    pool = EndpointPool([VllmBackend(url, HfTokenizer.load(folder), slots=MAX_NUM_SEQS)])
    pool.start()
    return (pool, server) if server else pool


def _report(kind: str, args: argparse.Namespace, rows: list[dict], masks: list[dict] | None) -> None:
    print(f"\n{kind}: {args.tokens} codes per stream, top_k {args.top_k}, best of {args.rounds} rounds")
    print("streams | aggregate codes/s | ratio | per-stream codes/s | ratio | slowest stream")
    for r in rows:
        print(f"{r['streams']:7d} | {r['aggregate']:17.1f} | {r['aggregate_ratio']:5.2f} | "
              f"{r['per_stream']:18.1f} | {r['per_stream_ratio']:5.2f} | {r['slowest_stream']:.1f}")
    if masks:
        print("\nllama-server speech-only logit_bias: aggregate tokens/s with / without, and its cost")
        for m in masks:
            print(f"{m['streams']:7d} | {m['masked']:8.1f} | {m['unmasked']:8.1f} | {m['cost'] * 100:+5.1f} %")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"backends-{kind}-top_k{args.top_k}.json"
    out.write_text(json.dumps({"kind": kind, "tokens": args.tokens, "top_k": args.top_k, "rows": rows,
                               "mask_cost": masks}, indent=1))
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
