"""What the speech-only `allowed_token_ids` costs a vLLM server: raw /v1/completions streams with and without it.

Each round starts N streams of --tokens tokens together (ignore_eos, no stop token, so both kinds
run to the cap) and measures aggregate tokens/s and the mean time to the first token; unmasked,
the random tiny model says non-speech ids too, which cost the server the same.

Run:
  .venv/bin/python -m bench.vllm_mask                        # starts vllm serve (tiny HF Llasa)
  .venv/bin/python -m bench.vllm_mask --url http://127.0.0.1:8000 --model models/Anime-Llasa-3B-Captions

Results: printed, and written as JSON to bench/results/vllm-mask.json.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path

from bot.speech.backends.hf_tokenizer import HfTokenizer
from bot.speech.backends.http import Endpoint, get_json, stream_events
from bot.speech.prompt import N_SPEECH_CODES, ReferenceVoice, build_prompt

RESULTS = Path(__file__).resolve().parent / "results"
STREAMS = (1, 8)


def round_(endpoint: Endpoint, model: str, prompt: list[int], allowed: list[int] | None, streams: int,
           tokens: int) -> tuple[float, float]:
    """(aggregate tokens/s, mean seconds to the first token) of one round."""
    counts, firsts = [0] * streams, [0.0] * streams
    began = time.perf_counter()

    def one(i: int) -> None:
        body = {"model": model, "prompt": prompt, "max_tokens": tokens, "stream": True, "return_token_ids": True,
                "ignore_eos": True, "seed": i, "temperature": 0.8, "top_p": 0.95, "min_p": 0.05,
                "repetition_penalty": 1.1}
        if allowed is not None:
            body["allowed_token_ids"] = allowed
        for event in stream_events(endpoint, "/v1/completions", json.dumps(body).encode()):
            for choice in event.get("choices") or ():
                got = len(choice.get("token_ids") or ())
                if got and not counts[i]:
                    firsts[i] = time.perf_counter() - began
                counts[i] += got

    threads = [threading.Thread(target=one, args=(i,)) for i in range(streams)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / (time.perf_counter() - began), sum(firsts) / streams


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a vLLM server already running (with --model: the folder it serves)")
    parser.add_argument("--model", type=Path, help="the checkpoint folder (default: a tiny random HF Llasa)")
    parser.add_argument("--tokens", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder, server, url = args.model, None, args.url
        try:
            if url is None:
                from tests.backends.vllm_server import VllmServer
                from tests.tiny_hf_llasa import write_tiny_hf_llasa

                folder = write_tiny_hf_llasa(Path(tmp) / "tiny-hf-llasa")
                server = VllmServer(folder, Path(tmp)).launch().wait_ready()
                url = server.url
            tokenizer = HfTokenizer.load(folder)
            endpoint = Endpoint.parse(url)
            model = get_json(endpoint, "/v1/models", timeout=10)["data"][0]["id"]
            v = tokenizer.vocab
            allowed = [v.speech_end, *range(v.speech_0, v.speech_0 + N_SPEECH_CODES)]
            reference = ReferenceVoice(tuple(i * 37 % 65536 for i in range(150)), "参考の声です。")
            prompt = build_prompt(v, tokenizer.tokenize_text, "こんにちは。", caption=None, reference=reference,
                                  with_system_block=True)
            round_(endpoint, model, prompt, allowed, 1, 8)  # warm-up
            rows = []
            for n in STREAMS:
                # Alternate the two kinds so that a change in the machine's load hits both alike.
                results: dict[str, list[tuple[float, float]]] = {"masked": [], "unmasked": []}
                for _ in range(args.rounds):
                    results["masked"].append(round_(endpoint, model, prompt, allowed, n, args.tokens))
                    results["unmasked"].append(round_(endpoint, model, prompt, None, n, args.tokens))
                best = {k: max(r, key=lambda x: x[0]) for k, r in results.items()}
                first = {k: min(x[1] for x in r) for k, r in results.items()}
                rows.append({"streams": n, "masked": best["masked"][0], "unmasked": best["unmasked"][0],
                             "first_masked_s": first["masked"], "first_unmasked_s": first["unmasked"]})
        finally:
            if server is not None:
                server.stop()
    print(f"\nvLLM allowed_token_ids (speech + END) vs none: {args.tokens} tokens per stream, best of {args.rounds}")
    print("streams | tokens/s masked | unmasked | cost | first token masked | unmasked")
    for r in rows:
        print(f"{r['streams']:7d} | {r['masked']:15.1f} | {r['unmasked']:8.1f} | "
              f"{(1 - r['masked'] / r['unmasked']) * 100:+5.1f} % | {r['first_masked_s'] * 1000:15.0f} ms | "
              f"{r['first_unmasked_s'] * 1000:6.0f} ms")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "vllm-mask.json"
    out.write_text(json.dumps({"tokens": args.tokens, "rows": rows}, indent=1))
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
