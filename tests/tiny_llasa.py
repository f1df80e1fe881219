"""A tiny random-weight Llasa GGUF with the real token layout, for tests and benchmarks.

Llama architecture (2 layers, dim 64), GPT-2 byte-level BPE tokenizer, the Llama-3 and Llasa
special tokens and 65,536 `<|s_N|>` speech tokens at their real ids (vocab 193,800), all typed
CONTROL as the real GGUF converter types them. Weights are random and quantized to Q8_0.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

N_EMBD, N_LAYERS, N_HEAD, N_HEAD_KV, N_FF = 64, 2, 4, 2, 128
LLAMA3_SPECIALS = {
    128000: "<|begin_of_text|>",
    128001: "<|end_of_text|>",
    128006: "<|start_header_id|>",
    128007: "<|end_header_id|>",
    128008: "<|eom_id|>",
    128009: "<|eot_id|>",
}
LLASA_SPECIALS = [
    "<|TEXT_GENERATION_START|>", "<|TEXT_GENERATION_END|>",
    "<|TEXT_UNDERSTANDING_START|>", "<|TEXT_UNDERSTANDING_END|>",
    "<|SPEECH_GENERATION_START|>", "<|SPEECH_GENERATION_END|>",
    "<|SPEECH_UNDERSTANDING_START|>", "<|SPEECH_UNDERSTANDING_END|>",
]
SPEECH_0 = 128264
SPEECH_END = 128261
N_CODES = 65536
FAVOURITE_CODES = 40
MERGES = [("Ġ", "t"), ("h", "e"), ("Ġt", "he")]


def _byte_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte → printable character table."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    table, extra = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def vocabulary(n_codes: int = N_CODES) -> tuple[list[str], list[int]]:
    """Token strings and types laid out with the real Llasa ids."""
    from gguf import TokenType

    tokens = [_byte_to_unicode()[b] for b in range(256)] + ["".join(pair) for pair in MERGES]
    types = [TokenType.NORMAL] * len(tokens)
    while len(tokens) < 128000:
        tokens.append(f"<unused_{len(tokens)}>")
        types.append(TokenType.UNUSED)
    for i in range(128000, 128256):
        tokens.append(LLAMA3_SPECIALS.get(i, f"<|reserved_special_token_{i - 128000}|>"))
        types.append(TokenType.CONTROL)
    tokens += LLASA_SPECIALS
    types += [TokenType.CONTROL] * len(LLASA_SPECIALS)
    tokens += [f"<|s_{i}|>" for i in range(n_codes)]
    types += [TokenType.CONTROL] * n_codes
    return tokens, [int(t) for t in types]


def write_tiny_llasa(
    path: Path, *, seed: int = 0, end_logit: float | None = None, n_codes: int = N_CODES, output_std: float = 0.5,
    without_weights: bool = False,
) -> Path:
    """Write the model to path and return path.

    output_std sets how peaked the next-token distribution is: logits have a spread of about
    8 × output_std, so 0.5 (the default) leaves a few dozen codes in play after min-p, while
    0.02 is nearly flat and top-p keeps most of the 65,536 codes (the sampler's worst case).

    With end_logit set, the model ignores context (its blocks add nothing) and gives END and
    FAVOURITE_CODES speech codes a logit of end_logit against ~0 for every other code, so it
    stops after a geometric number of codes (mean ~FAVOURITE_CODES): a model that really ends.
    n_codes < 65536 makes a model that is not a usable Llasa (for error tests), and
    without_weights one whose vocabulary reads but whose load fails (its output norm missing).
    """
    import gguf
    from gguf import GGMLQuantizationType as Q

    rng = np.random.default_rng(seed)
    tokens, types = vocabulary(n_codes)
    n_vocab = len(tokens)
    head_dim = N_EMBD // N_HEAD

    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("tiny-llasa-test")
    w.add_context_length(4096)
    w.add_embedding_length(N_EMBD)
    w.add_block_count(N_LAYERS)
    w.add_feed_forward_length(N_FF)
    w.add_head_count(N_HEAD)
    w.add_head_count_kv(N_HEAD_KV)
    w.add_rope_freq_base(500000.0)
    w.add_rope_dimension_count(head_dim)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(n_vocab)
    w.add_file_type(int(gguf.LlamaFileType.MOSTLY_Q8_0))
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("llama-bpe")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges([f"{a} {b}" for a, b in MERGES])
    w.add_bos_token_id(128000)
    w.add_eos_token_id(128009)

    def rand(*shape: int, scale: float = 0.2) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    embed = rand(n_vocab, N_EMBD, scale=1.0)
    output = rand(n_vocab, N_EMBD, scale=output_std)
    block_out_scale = 0.2
    if end_logit is not None:
        block_out_scale = 0.0  # hidden state = embedding of the last token
        v = np.abs(rand(N_EMBD, scale=1.0)) + 0.5
        embed[SPEECH_0:SPEECH_0 + n_codes] = v
        embed[128260] = v  # <|SPEECH_GENERATION_START|>
        normed = v / np.sqrt(np.mean(v * v) + 1e-5)
        output[SPEECH_0:SPEECH_0 + n_codes] *= 0.002
        output[SPEECH_END] = normed * (end_logit / float(normed @ normed))
        # 40 favourite codes as likely as END, as a trained model has a few likely codes: with
        # llama.cpp's min_p every other code is filtered out, so END comes after ~40 codes.
        output[SPEECH_0:SPEECH_0 + FAVOURITE_CODES] = output[SPEECH_END]

    def add_q8(name: str, x: np.ndarray) -> None:
        w.add_tensor(name, gguf.quants.quantize(x, Q.Q8_0), raw_dtype=Q.Q8_0)

    add_q8("token_embd.weight", embed)
    if not without_weights:
        w.add_tensor("output_norm.weight", np.ones(N_EMBD, dtype=np.float32))
    add_q8("output.weight", output)
    for i in range(N_LAYERS):
        w.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
        add_q8(f"blk.{i}.attn_q.weight", rand(N_HEAD * head_dim, N_EMBD))
        add_q8(f"blk.{i}.attn_k.weight", rand(N_HEAD_KV * head_dim, N_EMBD))
        add_q8(f"blk.{i}.attn_v.weight", rand(N_HEAD_KV * head_dim, N_EMBD))
        add_q8(f"blk.{i}.attn_output.weight", rand(N_EMBD, N_HEAD * head_dim, scale=block_out_scale))
        w.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
        add_q8(f"blk.{i}.ffn_gate.weight", rand(N_FF, N_EMBD))
        add_q8(f"blk.{i}.ffn_up.weight", rand(N_FF, N_EMBD))
        add_q8(f"blk.{i}.ffn_down.weight", rand(N_EMBD, N_FF, scale=block_out_scale))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path
