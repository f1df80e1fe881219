"""Tokens/s through our generation (mask, stop rules, streaming) vs bare Llama.generate, same prompt.

Run: .venv/bin/python -m bench.llm_throughput [--tokens 1000] [--model path.gguf]
Without --model it writes the tiny random Llasa GGUF the tests use.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bot.speech.llm import LlasaModel, LoadOptions, Sampling
from bot.speech.prompt import build_prompt


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path)
    parser.add_argument("--tokens", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    model = args.model
    if model is None:
        from tests.tiny_llasa import write_tiny_llasa

        model = write_tiny_llasa(Path(tempfile.mkdtemp()) / "tiny.gguf")
    llm = LlasaModel.load(model, LoadOptions(n_gpu_layers=0))
    prompt = build_prompt(llm.vocab, llm.tokenize_text, "こんにちは、今日はいい天気ですね。", caption=None,
                          reference=None, with_system_block=True)
    sampling = Sampling(max_tokens=args.tokens, seed=1, temperature=0.8, top_p=0.95, top_k=0, repeat_penalty=1.1)
    ours, bare = [], []
    for _ in range(args.rounds):
        start = time.perf_counter()
        n = sum(1 for _ in llm.generate(prompt, sampling))
        ours.append(n / (time.perf_counter() - start))
        start = time.perf_counter()
        n = 0
        for _ in llm._llama.generate(prompt, temp=sampling.temperature, top_p=sampling.top_p, top_k=sampling.top_k,
                                     min_p=sampling.min_p, repeat_penalty=sampling.repeat_penalty):  # no mask
            n += 1
            if n >= args.tokens:
                break
        bare.append(n / (time.perf_counter() - start))
    best_ours, best_bare = max(ours), max(bare)
    print(f"model {model.name}: ours {best_ours:.0f} tok/s, bare Llama.generate {best_bare:.0f} tok/s, "
          f"ratio {best_ours / best_bare:.2f} (best of {args.rounds}, {args.tokens} tokens each)")


if __name__ == "__main__":
    main()
