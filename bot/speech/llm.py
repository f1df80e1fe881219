"""Anime-Llasa through llama-cpp-python: load a GGUF, generate speech codes as they come."""
from __future__ import annotations

import ctypes
import logging
import os
import random
import time
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import numpy as np

from .prompt import N_SPEECH_CODES, SPECIAL_TOKENS, LlasaVocab
from .sampler import WindowSampler

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
    REPETITION = "repetition"  # the model got stuck on a few codes or in a loop (detectors.LoopWatch)
    STOPPED = "stopped"        # another detector stopped the take (too long, silent, undecodable)
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
    """An iterator of speech codes from one prompt; `finish_reason` and `seed` tell how it went.

    Once the first code is out, `prompt_reused` says how many prompt tokens were kept in the
    KV cache from the previous generation, `prompt_evaluated` how many the model had to read,
    and `first_token_s` how long reading them and sampling the first token took.
    """

    def __init__(self, codes: Iterator[int], seed: int) -> None:
        self._codes = codes
        self.seed = seed
        self.finish_reason: FinishReason | None = None
        self.prompt_reused = 0
        self.prompt_evaluated = 0
        self.first_token_s: float | None = None

    def __iter__(self) -> "CodeGeneration":
        return self

    def __next__(self) -> int:
        return next(self._codes)


class LlasaModel:
    """One loaded Llasa GGUF; one generation at a time (llama.cpp contexts are not shareable).

    The embedded generation backend (see backends/base.py): capacity 1.
    """

    capacity = 1

    def __init__(self, llama: "object", vocab: LlasaVocab) -> None:
        self._llama = llama
        self.vocab = vocab
        self.n_ctx: int = llama.n_ctx()  # type: ignore[attr-defined]
        # Only speech tokens and END may be sampled: the sampler reads just the window of the
        # logits row from END to the last speech token, the ids in between blocked.
        allowed = {vocab.speech_end, *range(vocab.speech_0, vocab.speech_0 + N_SPEECH_CODES)}
        self._window = (min(allowed), max(allowed) + 1)
        self._blocked = tuple(t for t in range(*self._window) if t not in allowed)
        self._logits_at: int | None = None
        self._logits_row = np.zeros(0, dtype=np.float32)

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
        vocab = llasa_vocab(llama)
        log.info("loaded %s (n_ctx %d, vocab %d, gpu layers %d)", model_path.name, llama.n_ctx(),
                 llama.n_vocab(), options.n_gpu_layers)
        return cls(llama, vocab)

    def close(self) -> None:
        """Free the model and its context (a /model switch loads another)."""
        close = getattr(self._llama, "close", None)
        if close is not None:
            close()

    def tokenize_text(self, text: str) -> list[int]:
        """Plain text to ids; special-token strings typed by users stay text."""
        return tokenize_text(self._llama, text)

    def max_new_tokens(self, prompt_length: int, requested: int) -> int:
        """The token cap for a prompt: the request, Llasa's training length and the context."""
        return max(0, min(requested, TRAINING_LENGTH - prompt_length, self.n_ctx - prompt_length))

    def generate(
        self,
        prompt: Sequence[int],
        sampling: Sampling,
        *,
        should_stop: Callable[[], bool] = lambda: False,
        affinity: Hashable | None = None,  # one model: nothing to route
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
        if should_stop():
            generation.finish_reason = FinishReason.CANCELLED
            return
        started = time.perf_counter()
        llama = self._llama
        reused = self._keep_cached_prefix(prompt)
        generation.prompt_reused, generation.prompt_evaluated = reused, len(prompt) - reused
        llama.eval(prompt[reused:])  # type: ignore[attr-defined]
        sampler = WindowSampler(*self._window, sampling, seed, blocked=self._blocked)
        count = 0
        while True:
            token = sampler.sample(self._last_logits())
            if generation.first_token_s is None:
                generation.first_token_s = time.perf_counter() - started
            code = self.vocab.token_to_code(token)
            if code is None:  # END (the sampler allows nothing else)
                generation.finish_reason = FinishReason.END
                return
            yield code
            count += 1
            if count >= cap:
                generation.finish_reason = FinishReason.LENGTH
                return
            if should_stop():  # checked after the consumer had the code, before the next step
                generation.finish_reason = FinishReason.CANCELLED
                return
            llama.eval([token])  # type: ignore[attr-defined]

    def _keep_cached_prefix(self, prompt: list[int]) -> int:
        """Keep the KV cache of the longest prefix prompt shares with what was evaluated last.

        Returns its length. The last prompt token is always evaluated again: its logits start
        the generation. (Llama.generate's rule, which this replaces.)
        """
        llama = self._llama
        cached = llama.input_ids[:llama.n_tokens]  # type: ignore[attr-defined]
        n = max(0, min(len(cached), len(prompt) - 1))
        differs = np.flatnonzero(cached[:n] != np.asarray(prompt[:n], dtype=cached.dtype))
        keep = int(differs[0]) if len(differs) else n
        import llama_cpp

        memory = llama_cpp.llama_get_memory(llama.ctx)  # type: ignore[attr-defined]
        if keep > 0 and llama_cpp.llama_memory_seq_rm(memory, 0, keep, -1):
            llama.n_tokens = keep  # type: ignore[attr-defined]
            return keep
        llama.reset()  # type: ignore[attr-defined]
        return 0

    def _last_logits(self) -> np.ndarray:
        """The logits row of the last evaluated token, as a view of llama.cpp's buffer (no copy)."""
        import llama_cpp

        pointer = llama_cpp.llama_get_logits_ith(self._llama.ctx, -1)  # type: ignore[attr-defined]
        address = ctypes.cast(pointer, ctypes.c_void_p).value
        if not address:
            raise RuntimeError("llama.cpp returned no logits for the last token")
        if address != self._logits_at:  # llama.cpp reallocates its output buffer only rarely
            self._logits_row = np.ctypeslib.as_array(pointer, shape=(self._window[1],))
            self._logits_at = address
        return self._logits_row


class GgufTokenizer:
    """A GGUF's vocabulary without its weights: the Llasa ids and text tokenization, for remote backends."""

    def __init__(self, llama: "object") -> None:
        self._llama = llama
        self.vocab = llasa_vocab(llama)
        self.n_vocab: int = llama.n_vocab()  # type: ignore[attr-defined]

    @classmethod
    def load(cls, model_path: Path) -> "GgufTokenizer":
        """Read only the vocabulary of a GGUF (fast, little memory); ModelError as LlasaModel.load."""
        _check_gguf_file(model_path)
        import llama_cpp

        try:
            llama = llama_cpp.Llama(model_path=str(model_path), vocab_only=True, n_ctx=16, verbose=False)
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"llama.cpp could not read the vocabulary of {model_path} ({exc}); "
                             "the file may be truncated") from exc
        return cls(llama)

    def tokenize_text(self, text: str) -> list[int]:
        """Plain text to ids; special-token strings typed by users stay text."""
        return tokenize_text(self._llama, text)

    def detokenize(self, ids: Sequence[int]) -> str:
        """Ids back to text, special tokens written out (for logs and tests)."""
        return self._llama.detokenize(list(ids), special=True).decode("utf-8", "replace")  # type: ignore[attr-defined]


def tokenize_text(llama: "object", text: str) -> list[int]:
    """Plain text to ids with a llama_cpp.Llama: no BOS, special-token strings kept as text."""
    return llama.tokenize(text.encode("utf-8"), add_bos=False, special=False)  # type: ignore[attr-defined]


def llasa_vocab(llama: "object") -> LlasaVocab:
    """The Llasa special ids of a llama_cpp.Llama's vocabulary (ModelError if it is not Llasa)."""
    return lookup_vocab(lambda s: llama.tokenize(s.encode(), add_bos=False, special=True),  # type: ignore[attr-defined]
                        llama.n_vocab())  # type: ignore[attr-defined]


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
