"""A tiny random-weight Llasa in Hugging Face format (safetensors + tokenizer.json), for vLLM tests.

The same token layout as tests/tiny_llasa.py's GGUF (vocab 193,800, the Llasa specials and the
65,536 `<|s_N|>` tokens at their real ids, the same byte-level BPE), so the same prompts work on
both; a LlamaForCausalLM of hidden size 64 and 2 layers, so vLLM on a CPU loads it in seconds.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tests.tiny_llasa import (
    FAVOURITE_CODES, LLAMA3_SPECIALS, LLASA_SPECIALS, MERGES, N_CODES, SPEECH_0, SPEECH_END, _byte_to_unicode,
)

# Head size 32: the smallest that vLLM's CPU attention supports.
HIDDEN, N_LAYERS, N_HEAD, N_HEAD_KV, N_FF = 64, 2, 2, 1, 128
N_TEXT = 128000  # ids below this are the BPE model's; the rest are added (special) tokens
# Llama-3's pre-tokenizer split (what llama.cpp's "llama-bpe" pre-tokenizer also applies).
LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")


def added_tokens(n_codes: int = N_CODES) -> list[str]:
    """The added tokens from id 128,000 on: Llama-3's 256 specials, Llasa's 8, then `<|s_N|>`."""
    llama3 = [LLAMA3_SPECIALS.get(i, f"<|reserved_special_token_{i - N_TEXT}|>") for i in range(N_TEXT, 128256)]
    return llama3 + LLASA_SPECIALS + [f"<|s_{i}|>" for i in range(n_codes)]


def tokenizer_json(n_codes: int = N_CODES) -> str:
    """tokenizer.json text, built by the `tokenizers` library."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers

    table = _byte_to_unicode()
    vocab = {table[b]: b for b in range(256)}
    for a, b in MERGES:
        vocab[a + b] = len(vocab)
    while len(vocab) < N_TEXT:
        vocab[f"<unused_{len(vocab)}>"] = len(vocab)
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=list(MERGES), ignore_merges=True))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_SPLIT), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in added_tokens(n_codes)])
    assert tokenizer.token_to_id("<|s_0|>") == SPEECH_0
    return tokenizer.to_str()


def _config(n_vocab: int) -> dict:
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=n_vocab, hidden_size=HIDDEN, intermediate_size=N_FF, num_hidden_layers=N_LAYERS,
        num_attention_heads=N_HEAD, num_key_value_heads=N_HEAD_KV, max_position_embeddings=4096,
        rope_theta=500000.0, rms_norm_eps=1e-5, tie_word_embeddings=False, torch_dtype="bfloat16",
        bos_token_id=128000, eos_token_id=128009, architectures=["LlamaForCausalLM"],
    ).to_dict()


def write_tiny_hf_llasa(
    folder: Path, *, seed: int = 0, end_logit: float | None = None, n_codes: int = N_CODES, output_std: float = 0.5,
) -> Path:
    """Write the checkpoint into folder (created) and return it; arguments as tests.tiny_llasa's.

    With end_logit set the layers add nothing, so the model gives END and FAVOURITE_CODES codes a
    logit of end_logit whatever the context: it ends after ~FAVOURITE_CODES codes.
    """
    import torch
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    n_vocab = 128264 + n_codes
    rng = np.random.default_rng(seed)
    head_dim = HIDDEN // N_HEAD

    def rand(*shape: int, scale: float = 0.2) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    embed = rand(n_vocab, HIDDEN, scale=1.0)
    output = rand(n_vocab, HIDDEN, scale=output_std)
    block_out_scale = 0.2
    if end_logit is not None:
        block_out_scale = 0.0  # hidden state = embedding of the last token
        v = np.abs(rand(HIDDEN, scale=1.0)) + 0.5
        embed[SPEECH_0:SPEECH_0 + n_codes] = v
        embed[128260] = v  # <|SPEECH_GENERATION_START|>
        normed = v / np.sqrt(np.mean(v * v) + 1e-5)
        output[SPEECH_0:SPEECH_0 + n_codes] *= 0.002
        output[SPEECH_END] = normed * (end_logit / float(normed @ normed))
        output[SPEECH_0:SPEECH_0 + FAVOURITE_CODES] = output[SPEECH_END]
    tensors = {
        "model.embed_tokens.weight": embed,
        "lm_head.weight": output,
        "model.norm.weight": np.ones(HIDDEN, dtype=np.float32),
    }
    for i in range(N_LAYERS):
        p = f"model.layers.{i}."
        tensors |= {
            p + "input_layernorm.weight": np.ones(HIDDEN, dtype=np.float32),
            p + "post_attention_layernorm.weight": np.ones(HIDDEN, dtype=np.float32),
            p + "self_attn.q_proj.weight": rand(N_HEAD * head_dim, HIDDEN),
            p + "self_attn.k_proj.weight": rand(N_HEAD_KV * head_dim, HIDDEN),
            p + "self_attn.v_proj.weight": rand(N_HEAD_KV * head_dim, HIDDEN),
            p + "self_attn.o_proj.weight": rand(HIDDEN, N_HEAD * head_dim, scale=block_out_scale),
            p + "mlp.gate_proj.weight": rand(N_FF, HIDDEN),
            p + "mlp.up_proj.weight": rand(N_FF, HIDDEN),
            p + "mlp.down_proj.weight": rand(HIDDEN, N_FF, scale=block_out_scale),
        }
    save_file({k: torch.from_numpy(v).to(torch.bfloat16) for k, v in tensors.items()},
              str(folder / "model.safetensors"), metadata={"format": "pt"})
    (folder / "config.json").write_text(json.dumps(_config(n_vocab), indent=2))
    (folder / "tokenizer.json").write_text(tokenizer_json(n_codes))
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>",
        "model_max_length": 4096, "clean_up_tokenization_spaces": False,
    }, indent=2))
    (folder / "generation_config.json").write_text(json.dumps({"bos_token_id": 128000, "eos_token_id": 128009}))
    return folder
