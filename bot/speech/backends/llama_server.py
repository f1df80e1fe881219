"""One llama.cpp llama-server endpoint as a generation backend: token ids in, streamed speech codes out.

Requests go to POST /completion with the prompt as token ids and `stream: true`; every event
carries the sampled ids. Speech-only output: a `logit_bias` that bans every id but the speech
tokens and END (about 1.8 MB of JSON per request, built once; it costs nothing measurable, and
the server samples faster with it, 63 vs 29 tokens/s at 8 streams: `bench.backends --mask-cost`,
tiny GGUF, 2 busy cores), and END made the model's
end-of-generation token when the server starts (`--override-kv tokenizer.ggml.eos_token_id=
int:<END>`), so the server frees the slot at END itself. The sampler chain is the embedded one
(penalties → top-k → top-p → min-p → temperature → dist) with two differences: the server's
random stream (std::mt19937, so a seed reproduces takes on llama-server only), and its repeat
penalty also counts the last prompt tokens (the reference codes) during the first 64 codes.
"""
from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path

from ..llm import CodeGeneration, FinishReason, GgufTokenizer, Sampling
from ..prompt import N_SPEECH_CODES, SPECIAL_TOKENS
from ..sampler import PENALTY_LAST_N
from .base import BackendError
from .http import HttpFailure, Timeouts, get_json
from .pool import ServerUnavailable
from .server import StreamingServerBackend

log = logging.getLogger(__name__)

# The vendored llama.cpp names of the embedded chain's samplers, in its order.
SAMPLERS = ["penalties", "top_k", "top_p", "min_p", "temperature"]
LLAMA_CPP_PYTHON_VERSION = "0.3.36"  # the llama.cpp that scripts/setup.sh builds llama-server from


def llama_server_binary() -> Path:
    """The llama-server that scripts/setup.sh builds (or $LLAMA_SERVER_BIN); BackendError if none."""
    configured = os.environ.get("LLAMA_SERVER_BIN", "").strip()
    if configured:
        path = Path(configured).expanduser()
        if not os.access(path, os.X_OK):
            raise BackendError(f"LLAMA_SERVER_BIN={configured} is not an executable file")
        return path
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "anime-llasa-bot" / "llama-server"
    found = sorted(cache.glob("*/llama-server"), key=lambda p: p.stat().st_mtime, reverse=True)
    if not found:
        raise BackendError(f"no llama-server under {cache}; run LLAMA_SERVER=1 scripts/setup.sh "
                           "(or set LLAMA_SERVER_BIN to a llama-server binary)")
    return found[0]


class LlamaServerBackend(StreamingServerBackend):
    """A GenerationBackend on one llama-server; as many generations at once as it has slots."""

    KIND = "llama-server"
    PATH = "/completion"

    def __init__(self, url: str, tokenizer: GgufTokenizer, *, slots: int = 0, timeouts: Timeouts = Timeouts()) -> None:
        super().__init__(url, tokenizer, timeouts)
        self._configured_slots = slots
        self._server_slots = 0
        self._ban = speech_only_bias(tokenizer)

    @property
    def capacity(self) -> int:
        """The configured slot count, else the server's (0 until a probe reached it)."""
        return self._configured_slots or self._server_slots

    def probe(self) -> None:
        """Ask the server whether it is up, which model it serves and how many slots it has.

        ServerUnavailable when it is down or still loading; BackendError when it serves a model
        other than the configured GGUF (a setup mistake no retry fixes).
        """
        t = self._timeouts.probe_s
        try:
            get_json(self.endpoint, "/health", timeout=t)
            props = get_json(self.endpoint, "/props", timeout=t)
            models = get_json(self.endpoint, "/v1/models", timeout=t)
        except HttpFailure as exc:
            raise ServerUnavailable(f"llama-server {self.url} is not available ({exc})") from None
        meta = next((m.get("meta") or {} for m in models.get("data", []) if isinstance(m, dict)), {})
        n_vocab = meta.get("n_vocab")
        if n_vocab != self._tokenizer.n_vocab:
            raise BackendError(f"llama-server {self.url} serves {props.get('model_path', 'a model')} with "
                               f"{n_vocab} tokens, but the bot's GGUF has {self._tokenizer.n_vocab}: "
                               "start it with the same Llasa GGUF as llm.model_path")
        end = SPECIAL_TOKENS["speech_end"]
        self._end_closes_stream = props.get("eos_token") == end
        if not self._end_closes_stream:
            log.warning("llama-server %s does not stop at %s (its end token is %r): each take costs a few "
                        "extra tokens; start it with --override-kv tokenizer.ggml.eos_token_id=int:%d",
                        self.url, end, props.get("eos_token"), self.vocab.speech_end)
        self._server_slots = int(props.get("total_slots") or 0)
        # /v1/models reports one slot's context (the server splits -c among its slots).
        self._context = int(meta["n_ctx"]) if meta.get("n_ctx") else None

    def _request(self, prompt: list[int], sampling: Sampling, seed: int, cap: int) -> bytes:
        settings = {
            "prompt": prompt, "n_predict": cap, "stream": True, "seed": seed, "cache_prompt": True,
            "temperature": sampling.temperature, "top_k": sampling.top_k, "top_p": sampling.top_p,
            "min_p": sampling.min_p, "repeat_penalty": sampling.repeat_penalty,
            "repeat_last_n": PENALTY_LAST_N, "samplers": SAMPLERS,
            # Whatever the server was started with, none of its other samplers may act.
            "typical_p": 1.0, "top_n_sigma": -1.0, "xtc_probability": 0.0, "dry_multiplier": 0.0,
            "mirostat": 0, "frequency_penalty": 0.0, "presence_penalty": 0.0, "n_probs": 0,
            "ignore_eos": False,
        }
        return json.dumps(settings, separators=(",", ":")).encode()[:-1] + b',"logit_bias":' + self._ban + b"}"

    def _event(self, event: dict, generation: CodeGeneration) -> tuple[Iterable[int], FinishReason | None]:
        # The closing event has `stop` and the timings; one of another stop type (no END seen)
        # ends the stream, which then fails as one that ended early.
        if event.get("stop"):
            timings = event.get("timings") or {}
            generation.prompt_reused = int(timings.get("cache_n", 0))
            generation.prompt_evaluated = int(timings.get("prompt_n", 0))
        end = FinishReason.LENGTH if event.get("stop") and event.get("stop_type") == "limit" else None
        return event.get("tokens") or (), end


def speech_only_bias(tokenizer: GgufTokenizer) -> bytes:
    """`logit_bias` JSON banning every id except the speech tokens and END."""
    vocab = tokenizer.vocab
    allowed = range(vocab.speech_0, vocab.speech_0 + N_SPEECH_CODES)
    banned = (i for i in range(tokenizer.n_vocab) if i != vocab.speech_end and i not in allowed)
    return ("[" + ",".join(f"[{i},false]" for i in banned) + "]").encode()
