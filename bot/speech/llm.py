"""Anime-Llasa through llama-cpp-python: load a GGUF, generate speech codes as they come."""
from __future__ import annotations

import logging
import os
import random
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import numpy as np

from .prompt import N_SPEECH_CODES, SPECIAL_TOKENS, LlasaVocab

log = logging.getLogger(__name__)

# Llasa was trained on sequences of at most this many tokens, prompt included.
TRAINING_LENGTH = 2048


class ModelError(RuntimeError):
    """The model file is missing, unreadable or not a Llasa GGUF; the message says what to do."""


@dataclass(frozen=True)
class Sampling:
    """Sampling settings of one generation (the seed web UI's defaults)."""

    temperature: float = 0.8
    top_p: float = 0.95
    top_k: int = 0
    min_p: float = 0.05  # llama.cpp's default, which the seed web UI also used
    repeat_penalty: float = 1.1
    max_tokens: int = 1500
    seed: int = -1  # -1: a fresh random seed per generation


class FinishReason(str, Enum):
    END = "end"                # the model said <|SPEECH_GENERATION_END|>
    LENGTH = "length"          # the token cap was reached
    REPETITION = "repetition"  # the model got stuck on a few codes
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class LoadOptions:
    n_gpu_layers: int = -1
    n_ctx: int = 4096
    n_batch: int = 512
    n_ubatch: int = 256
    n_threads: int = 0
    flash_attn: bool = True
    lora_path: Path | None = None


class CodeGeneration:
    """An iterator of speech codes from one prompt; `finish_reason` and `seed` tell how it went."""

    def __init__(self, codes: Iterator[int], seed: int) -> None:
        self._codes = codes
        self.seed = seed
        self.finish_reason: FinishReason | None = None

    def __iter__(self) -> "CodeGeneration":
        return self

    def __next__(self) -> int:
        return next(self._codes)


class LlasaModel:
    """One loaded Llasa GGUF; one generation at a time (llama.cpp contexts are not shareable)."""

    def __init__(self, llama: "object", vocab: LlasaVocab) -> None:
        self._llama = llama
        self.vocab = vocab
        self.n_ctx: int = llama.n_ctx()  # type: ignore[attr-defined]
        n_vocab: int = llama.n_vocab()  # type: ignore[attr-defined]
        # Added to the logits at every step: only speech tokens and END may be sampled.
        # (A grammar with 65,536 alternatives takes seconds per token; this takes ~0.2 ms.)
        mask = np.full(n_vocab, -np.inf, dtype=np.float32)
        mask[vocab.speech_0:vocab.speech_0 + N_SPEECH_CODES] = 0.0
        mask[vocab.speech_end] = 0.0
        self._mask = mask

    @classmethod
    def load(cls, model_path: Path, options: LoadOptions = LoadOptions()) -> "LlasaModel":
        """Load a GGUF file; ModelError with a fix when it is missing or not a Llasa model."""
        _check_gguf_file(model_path)
        if options.lora_path is not None and not options.lora_path.is_file():
            raise ModelError(f"LoRA adapter {options.lora_path} not found; fix llm.lora_path or leave it empty")
        import llama_cpp

        try:
            llama = llama_cpp.Llama(
                model_path=str(model_path),
                n_gpu_layers=options.n_gpu_layers,
                n_ctx=options.n_ctx,
                n_batch=options.n_batch,
                n_ubatch=options.n_ubatch,
                n_threads=options.n_threads or max(1, (os.cpu_count() or 2)),
                flash_attn=options.flash_attn,
                lora_path=str(options.lora_path) if options.lora_path else None,
                logits_all=False,  # n_ctx × 193,800 floats otherwise
                verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            raise ModelError(
                f"llama.cpp could not load {model_path} ({exc}); the file may be truncated, "
                "or too large for the GPU: lower llm.n_gpu_layers or llm.n_ctx"
            ) from exc
        vocab = lookup_vocab(lambda s: llama.tokenize(s.encode(), add_bos=False, special=True), llama.n_vocab())
        log.info("loaded %s (n_ctx %d, vocab %d, gpu layers %d)", model_path.name, llama.n_ctx(),
                 llama.n_vocab(), options.n_gpu_layers)
        return cls(llama, vocab)

    def tokenize_text(self, text: str) -> list[int]:
        """Plain text to ids; special-token strings typed by users stay text."""
        return self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=False)  # type: ignore[attr-defined]

    def max_new_tokens(self, prompt_length: int, requested: int) -> int:
        """The token cap for a prompt: the request, Llasa's training length and the context."""
        return max(0, min(requested, TRAINING_LENGTH - prompt_length, self.n_ctx - prompt_length))

    def generate(
        self,
        prompt: Sequence[int],
        sampling: Sampling,
        *,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> CodeGeneration:
        """Generate speech codes after prompt, yielded as soon as each token is sampled."""
        seed = sampling.seed if sampling.seed >= 0 else random.randrange(2**31)
        cap = self.max_new_tokens(len(prompt), sampling.max_tokens)
        generation = CodeGeneration(iter(()), seed)
        generation._codes = self._codes(list(prompt), sampling, seed, cap, should_stop, generation)
        return generation

    def _codes(
        self,
        prompt: list[int],
        sampling: Sampling,
        seed: int,
        cap: int,
        should_stop: Callable[[], bool],
        generation: CodeGeneration,
    ) -> Iterator[int]:
        if cap <= 0:
            generation.finish_reason = FinishReason.LENGTH
            return
        self._llama.set_seed(seed)  # type: ignore[attr-defined]
        mask = self._mask
        recent: deque[int] = deque(maxlen=100)
        tokens = self._llama.generate(  # type: ignore[attr-defined]
            prompt,
            temp=sampling.temperature,
            top_p=sampling.top_p,
            top_k=sampling.top_k,
            min_p=sampling.min_p,
            repeat_penalty=sampling.repeat_penalty,
            logits_processor=[lambda _ids, scores: scores + mask],
        )
        count = 0
        try:
            for token in tokens:
                if should_stop():
                    generation.finish_reason = FinishReason.CANCELLED
                    return
                code = self.vocab.token_to_code(token)
                if code is None:  # END (the mask allows nothing else)
                    generation.finish_reason = FinishReason.END
                    return
                yield code
                count += 1
                recent.append(code)
                # The seed's rule: 100 codes with fewer than 20 distinct values is a stuck model.
                if len(recent) == recent.maxlen and len(set(recent)) < 20:
                    generation.finish_reason = FinishReason.REPETITION
                    return
                if count >= cap:
                    generation.finish_reason = FinishReason.LENGTH
                    return
        finally:
            tokens.close()


def lookup_vocab(tokenize_special: Callable[[str], list[int]], n_vocab: int) -> LlasaVocab:
    """Find the Llasa special tokens in a model's vocabulary, or explain why it is not Llasa."""
    ids: dict[str, int] = {}
    missing = []
    for field, text in SPECIAL_TOKENS.items():
        found = tokenize_special(text)
        if len(found) == 1:
            ids[field] = found[0]
        else:
            missing.append(text)
    if not missing:
        last = tokenize_special(f"<|s_{N_SPEECH_CODES - 1}|>")
        if last != [ids["speech_0"] + N_SPEECH_CODES - 1] or last[0] >= n_vocab:
            missing.append(f"<|s_{N_SPEECH_CODES - 1}|> right after the other speech tokens")
    if missing:
        raise ModelError(
            "this GGUF is not a Llasa text-to-speech model: its vocabulary lacks "
            + ", ".join(missing[:4])
            + ". Use Anime-Llasa-3B(-Captions) GGUF files (python -m bot download)."
        )
    return LlasaVocab(**ids)


def _check_gguf_file(path: Path) -> None:
    if not path.is_file():
        raise ModelError(
            f"model file {path} not found; put a Llasa GGUF there (python -m bot download) "
            "or point llm.model_path at one"
        )
    with path.open("rb") as f:
        magic = f.read(4)
    if magic != b"GGUF":
        raise ModelError(f"{path} is not a GGUF file (it starts with {magic!r}); download the .gguf file again")
