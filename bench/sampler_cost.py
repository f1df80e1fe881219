"""Host work per generated token: the old path (Llama.generate + a Python logits mask) vs ours.

host ms/token = engine ms/token − the model's own forward pass (Llama.eval of one token), on a
flat and a peaked tiny Llasa (the real 193,800-entry vocabulary), plus our sampler alone.

Run: .venv/bin/python -m bench.sampler_cost [--tokens 300] [--rounds 3] [--model path.gguf]

Without --model: flat, in-between and peaked tiny models (tests/tiny_llasa.py output_std).
On a CPU it runs llama.cpp on one thread and counts process time, so other programs running
beside it barely move the figures; `measure_host_ms_per_token` (used by bench/realtime.py) takes
any clock, wall time by default.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from bot.speech.llm import LlasaModel, LoadOptions, Sampling
from bot.speech.prompt import N_SPEECH_CODES, ReferenceVoice, build_prompt
from bot.speech.sampler import WindowSampler

Clock = Callable[[], float]
TEXT = "こんにちは、今日はいい天気ですね。"


def measure_host_ms_per_token(
    model: Path | LlasaModel,
    tokens: int = 300,
    old: bool = False,
    *,
    sampling: Sampling = Sampling(seed=1),
    options: LoadOptions = LoadOptions(),
    clock: Clock = time.perf_counter,
    rounds: int = 3,
) -> dict[str, float]:
    """Engine, forward-pass and host milliseconds per generated token (best of rounds).

    old=True times the path this project used before: Llama.generate with a numpy mask added to
    the logits by a logits_processor; old=False times LlasaModel.generate.
    """
    llm = model if isinstance(model, LlasaModel) else LlasaModel.load(model, options)
    prompt = build_prompt(llm.vocab, llm.tokenize_text, TEXT, caption=None, reference=None, with_system_block=True)
    engine, forward = float("inf"), float("inf")
    for _ in range(rounds):  # interleaved, so a busy moment hits both alike
        engine = min(engine, _engine_ms(llm, prompt, tokens, old, sampling, clock))
        forward = min(forward, _forward_ms(llm, prompt, tokens, clock))
    return {"engine_ms": engine, "forward_ms": forward, "host_ms": engine - forward, "tokens": float(tokens)}


def measure_sampler_ms(model: Path | LlasaModel, draws: int = 300, *, sampling: Sampling = Sampling(seed=1),
                       options: LoadOptions = LoadOptions(), clock: Clock = time.perf_counter) -> float:
    """Milliseconds per draw of our sampler alone, on the model's logits after the prompt."""
    llm = model if isinstance(model, LlasaModel) else LlasaModel.load(model, options)
    prompt = build_prompt(llm.vocab, llm.tokenize_text, TEXT, caption=None, reference=None, with_system_block=True)
    llm._llama.reset()  # type: ignore[attr-defined]
    llm._llama.eval(prompt)  # type: ignore[attr-defined]
    row = llm._last_logits().copy()
    sampler = WindowSampler(*llm._window, sampling, 1, blocked=llm._blocked)
    for _ in range(64):  # a full repeat-penalty history, as in a running generation
        sampler.sample(row)
    start = clock()
    for _ in range(draws):
        sampler.sample(row)
    return (clock() - start) * 1000 / draws


def measure_sentence_prefill(model: Path | LlasaModel, sentences: list[str], reference_codes: int = 1500, *,
                             options: LoadOptions = LoadOptions()) -> list[dict[str, float]]:
    """Prompt tokens reused/evaluated and seconds to the first token for each sentence of one
    message in a cloned voice (reference_codes codes), in order, as the synthesizer asks for them."""
    llm = model if isinstance(model, LlasaModel) else LlasaModel.load(model, options)
    codes = tuple((i * 7919) % N_SPEECH_CODES for i in range(reference_codes))
    reference = ReferenceVoice(codes=codes, transcript="これは参考にする声の書き起こしです。")
    figures = []
    for text in sentences:
        prompt = build_prompt(llm.vocab, llm.tokenize_text, text, caption=None, reference=reference,
                              with_system_block=True)
        generation = llm.generate(prompt, Sampling(max_tokens=1, seed=1))
        list(generation)
        figures.append({"prompt": float(len(prompt)), "reused": float(generation.prompt_reused),
                        "evaluated": float(generation.prompt_evaluated),
                        "first_token_s": generation.first_token_s or 0.0})
    return figures


def _engine_ms(llm: LlasaModel, prompt: list[int], tokens: int, old: bool, sampling: Sampling, clock: Clock) -> float:
    """Per token from the first token to the last: prefill excluded."""
    stream = _old_codes(llm, prompt, tokens, sampling) if old else iter(
        llm.generate(prompt, replace(sampling, max_tokens=tokens)))
    next(stream)
    start, n = clock(), 0
    for _ in stream:
        n += 1
    return (clock() - start) * 1000 / max(n, 1)


def _old_codes(llm: LlasaModel, prompt: list[int], tokens: int, sampling: Sampling):
    """The generation loop as it was before the speech-only sampler (bot/speech/llm.py, 08fccaa)."""
    llama, vocab = llm._llama, llm.vocab
    mask = np.full(llama.n_vocab(), -np.inf, dtype=np.float32)  # type: ignore[attr-defined]
    mask[vocab.speech_0:vocab.speech_0 + N_SPEECH_CODES] = 0.0
    mask[vocab.speech_end] = 0.0
    llama.set_seed(sampling.seed)  # type: ignore[attr-defined]
    recent: deque[int] = deque(maxlen=100)
    generated = llama.generate(  # type: ignore[attr-defined]
        prompt, temp=sampling.temperature, top_p=sampling.top_p, top_k=sampling.top_k, min_p=sampling.min_p,
        repeat_penalty=sampling.repeat_penalty, logits_processor=[lambda _ids, scores: scores + mask])
    try:
        for count, token in enumerate(generated, 1):
            code = vocab.token_to_code(token)
            if code is None:
                return
            yield code
            recent.append(code)
            if (len(recent) == recent.maxlen and len(set(recent)) < 20) or count >= tokens:
                return
    finally:
        generated.close()


def _forward_ms(llm: LlasaModel, prompt: list[int], tokens: int, clock: Clock) -> float:
    """Llama.eval of one token at a time after the prompt: the model's own cost per token."""
    llama = llm._llama
    llama.reset()  # type: ignore[attr-defined]
    llama.eval(prompt)  # type: ignore[attr-defined]
    codes = [llm.vocab.speech_0 + (i * 7919) % N_SPEECH_CODES for i in range(tokens)]
    start = clock()
    for token in codes:
        llama.eval([token])  # type: ignore[attr-defined]
    elapsed = clock() - start
    llama.reset()  # type: ignore[attr-defined]
    return elapsed * 1000 / tokens


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, help="a Llasa GGUF (default: tiny flat and peaked ones)")
    parser.add_argument("--tokens", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.model:
        models = {args.model.name: args.model}
        options, clock, note = LoadOptions(), time.perf_counter, "wall time"
    else:
        from tests.tiny_llasa import write_tiny_llasa

        folder = Path(tempfile.mkdtemp())
        models = {f"{shape} (output_std {std})": write_tiny_llasa(folder / f"{shape}.gguf", output_std=std)
                  for shape, std in (("flat", 0.02), ("in between", 0.5), ("peaked", 1.5))}
        options, clock, note = LoadOptions(n_gpu_layers=0, n_threads=1), time.process_time, "CPU time, 1 thread"
    s = Sampling()
    print(f"host ms per token = engine − forward pass ({note}, best of {args.rounds}, {args.tokens} tokens; "
          f"temperature {s.temperature}, top_p {s.top_p}, top_k {s.top_k}, min_p {s.min_p}, "
          f"repeat_penalty {s.repeat_penalty})")
    for name, path in models.items():
        llm = LlasaModel.load(path, options)
        before = measure_host_ms_per_token(llm, args.tokens, old=True, clock=clock, rounds=args.rounds)
        after = measure_host_ms_per_token(llm, args.tokens, old=False, clock=clock, rounds=args.rounds)
        alone = measure_sampler_ms(llm, clock=clock)
        print(f"{name}: forward {after['forward_ms']:.2f} ms | before: engine {before['engine_ms']:.2f}, "
              f"host {before['host_ms']:.2f} ms | after: engine {after['engine_ms']:.2f}, host {after['host_ms']:.2f} ms"
              f" | sampler alone {alone:.3f} ms/draw")
    sentences = ["一つ目の文です。", "二つ目の文は少し長めに書いてあります。", "三つ目。"]
    for i, f in enumerate(measure_sentence_prefill(llm, sentences), 1):
        print(f"cloned voice (1,500 reference codes), sentence {i}: prompt {f['prompt']:.0f} tokens, reused "
              f"{f['reused']:.0f}, evaluated {f['evaluated']:.0f}, first token after {f['first_token_s'] * 1000:.0f} ms")


if __name__ == "__main__":
    main()
