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
import random
import threading
import time
from collections.abc import Callable, Hashable, Iterator, Sequence
from pathlib import Path

from ..llm import TRAINING_LENGTH, CodeGeneration, FinishReason, GgufTokenizer, Sampling
from ..prompt import N_SPEECH_CODES, SPECIAL_TOKENS
from ..sampler import PENALTY_LAST_N
from .base import BackendError
from .http import Endpoint, EventStream, HttpFailure, Timeouts, get_json, stream_events
from .pool import ServerUnavailable

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


class LlamaServerBackend:
    """A GenerationBackend on one llama-server; as many generations at once as it has slots."""

    def __init__(self, url: str, tokenizer: GgufTokenizer, *, slots: int = 0, timeouts: Timeouts = Timeouts()) -> None:
        self.endpoint = Endpoint.parse(url)
        self.url = self.endpoint.url
        self.vocab = tokenizer.vocab
        self._tokenizer = tokenizer
        self._configured_slots = slots
        self._server_slots = 0
        self._slot_ctx: int | None = None  # the context of one slot, once the server said it
        self._end_stops_server = True
        self._timeouts = timeouts
        self._streams: set[EventStream] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._ban = speech_only_bias(tokenizer)

    def tokenize_text(self, text: str) -> list[int]:
        return self._tokenizer.tokenize_text(text)

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
        self._end_stops_server = props.get("eos_token") == end
        if not self._end_stops_server:
            log.warning("llama-server %s does not stop at %s (its end token is %r): each take costs a few "
                        "extra tokens; start it with --override-kv tokenizer.ggml.eos_token_id=int:%d",
                        self.url, end, props.get("eos_token"), self.vocab.speech_end)
        self._server_slots = int(props.get("total_slots") or 0)
        # /v1/models reports one slot's context (the server splits -c among its slots).
        self._slot_ctx = int(meta["n_ctx"]) if meta.get("n_ctx") else None

    def max_new_tokens(self, prompt_length: int, requested: int) -> int:
        """The token cap: the request, Llasa's training length and one slot's context."""
        limit = min(requested, TRAINING_LENGTH - prompt_length)
        if self._slot_ctx is not None:
            limit = min(limit, self._slot_ctx - prompt_length)
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
        events = iter(stream)
        count = 0
        try:
            for event in events:
                for token in event.get("tokens") or ():
                    if generation.first_token_s is None:
                        generation.first_token_s = time.perf_counter() - started
                    code = self.vocab.token_to_code(token)
                    if code is None:  # END (the bias allows nothing else)
                        generation.finish_reason = FinishReason.END
                        if self._end_stops_server:
                            self._read_timings(events, generation)  # the closing event follows at once
                        return
                    yield code
                    count += 1
                    if count >= cap:  # the server's n_predict too: its closing event follows
                        generation.finish_reason = FinishReason.LENGTH
                        self._read_timings(events, generation)
                        return
                    if should_stop():  # checked after the consumer had the code, as LlasaModel does
                        generation.finish_reason = FinishReason.CANCELLED
                        return
                if event.get("stop"):
                    self._timings(event, generation)
                    if event.get("stop_type") == "limit":
                        generation.finish_reason = FinishReason.LENGTH
                        return
                    break
        except HttpFailure as exc:
            raise self._failure(exc, count) from None
        finally:
            stream.close()
            with self._lock:
                self._streams.discard(stream)
        if stream.stopped:
            generation.finish_reason = FinishReason.CANCELLED
        else:
            raise self._failure(HttpFailure("the stream ended without a stop event"), count)

    def _open(self, body: bytes, should_stop: Callable[[], bool]) -> EventStream:
        with self._lock:
            if self._closed:
                raise BackendError("the speech backend is closed")
        try:
            stream = stream_events(self.endpoint, "/completion", body, should_stop=should_stop,
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
        log.warning("llama-server %s failed after %d codes: %s", self.url, count, exc)
        if not exc.server_down:
            return BackendError(f"the speech server refused the request (HTTP {exc.status}); please report this")
        where = "in the middle of speaking" if count else "before speaking"
        return ServerUnavailable(f"the speech server stopped answering {where}; try again in a moment")

    def _read_timings(self, events: Iterator[dict], generation: CodeGeneration) -> None:
        try:
            for event in events:
                if event.get("stop"):
                    self._timings(event, generation)
                    return
        except HttpFailure:
            pass  # the codes are all out; only the figures are lost

    @staticmethod
    def _timings(event: dict, generation: CodeGeneration) -> None:
        timings = event.get("timings") or {}
        generation.prompt_reused = int(timings.get("cache_n", 0))
        generation.prompt_evaluated = int(timings.get("prompt_n", 0))


def speech_only_bias(tokenizer: GgufTokenizer) -> bytes:
    """`logit_bias` JSON banning every id except the speech tokens and END."""
    vocab = tokenizer.vocab
    allowed = range(vocab.speech_0, vocab.speech_0 + N_SPEECH_CODES)
    banned = (i for i in range(tokenizer.n_vocab) if i != vocab.speech_end and i not in allowed)
    return ("[" + ",".join(f"[{i},false]" for i in banned) + "]").encode()
