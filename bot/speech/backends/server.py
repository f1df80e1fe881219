"""What the llama-server and vLLM backends share: one streamed request per generation, read into codes.

A subclass supplies the request (`_request`), how an event is read (`_event`: its ids, its
end, its figures), its probe, and `_context`, the token limit of one sequence once known.
"""
from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence

from ..llm import TRAINING_LENGTH, CodeGeneration, FinishReason, GgufTokenizer, Sampling
from ..prompt import LlasaVocab
from .base import BackendError
from .hf_tokenizer import HfTokenizer
from .http import Endpoint, EventStream, HttpFailure, Timeouts, stream_events
from .pool import ServerUnavailable

class StreamingServerBackend:
    """A GenerationBackend on one streaming HTTP server; subclasses speak its API."""

    KIND = "speech server"  # how the log names the server
    PATH = ""  # where generations are posted

    def __init__(self, url: str, tokenizer: GgufTokenizer | HfTokenizer, timeouts: Timeouts) -> None:
        self.endpoint = Endpoint.parse(url)
        self.url = self.endpoint.url
        self.vocab: LlasaVocab = tokenizer.vocab
        self._tokenizer = tokenizer
        self._timeouts = timeouts
        self._context: int | None = None  # one sequence's context, once the server said it
        self._end_closes_stream = True  # the server ends the stream at END (its closing figures follow)
        self._streams: set[EventStream] = set()
        self._lock = threading.Lock()
        self._closed = False

    def tokenize_text(self, text: str) -> list[int]:
        return self._tokenizer.tokenize_text(text)

    def max_new_tokens(self, prompt_length: int, requested: int) -> int:
        """The token cap: the request, Llasa's training length and the server's context."""
        limit = min(requested, TRAINING_LENGTH - prompt_length)
        if self._context is not None:
            limit = min(limit, self._context - prompt_length)
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
        raise NotImplementedError

    def _event(self, event: dict, generation: CodeGeneration) -> tuple[Iterable[int], FinishReason | None]:
        """The ids an event carries and, on the one that ends the generation, why; records its figures."""
        raise NotImplementedError

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
                tokens, end = self._event(event, generation)
                for token in tokens:
                    if generation.first_token_s is None:
                        generation.first_token_s = time.perf_counter() - started
                    code = self.vocab.token_to_code(token)
                    if code is None:  # END (the request allows nothing else)
                        generation.finish_reason = FinishReason.END
                        if self._end_closes_stream:
                            self._drain(events, generation)
                        return
                    yield code
                    count += 1
                    if count >= cap:  # the server's cap too: its closing event follows
                        generation.finish_reason = FinishReason.LENGTH
                        self._drain(events, generation)
                        return
                    if should_stop():  # checked after the consumer had the code, as LlasaModel does
                        generation.finish_reason = FinishReason.CANCELLED
                        return
                if end is not None:
                    generation.finish_reason = end
                    self._drain(events, generation)
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
            raise self._failure(HttpFailure("the stream ended before the generation did"), count)

    def _drain(self, events: Iterator[dict], generation: CodeGeneration) -> None:
        """Read the closing events (they follow at once) for the prompt-cache figures."""
        try:
            for event in events:
                self._event(event, generation)
        except HttpFailure:
            pass  # the codes are all out; only the figures are lost

    def _open(self, body: bytes, should_stop: Callable[[], bool]) -> EventStream:
        with self._lock:
            if self._closed:
                raise BackendError("the speech backend is closed")
        try:
            stream = stream_events(self.endpoint, self.PATH, body, should_stop=should_stop,
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
        log = logging.getLogger(type(self).__module__)  # the subclass's logger, as before the split
        log.warning("%s %s failed after %d codes: %s", self.KIND, self.url, count, exc)
        if not exc.server_down:
            return BackendError(f"the speech server refused the request (HTTP {exc.status}); please report this")
        where = "in the middle of speaking" if count else "before speaking"
        return ServerUnavailable(f"the speech server stopped answering {where}; try again in a moment")
