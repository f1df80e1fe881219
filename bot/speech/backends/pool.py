"""Several serving endpoints of one kind as one backend: sticky per guild, dead ones out and retried.

A guild's work (its affinity key) stays on one endpoint while that endpoint is up, so its prompt
prefix stays cached there; a new key goes to the endpoint with the most free slots. An endpoint
that fails (refused, reset, silent, 5xx) leaves the pool and a health thread probes it again with
a growing backoff. A generation whose endpoint fails before its first code moves to another one;
once codes were spoken it fails with a BackendError fit for users.
"""
from __future__ import annotations

import dataclasses
import logging
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import Protocol

from ..llm import CodeGeneration, Sampling
from ..prompt import LlasaVocab
from .base import BackendError

REMEMBERED_AFFINITIES = 4096  # as many lanes as the fair queue remembers for turn-taking

log = logging.getLogger(__name__)


class ServerUnavailable(BackendError):
    """The server is down, unreachable or failing (5xx); another endpoint may do the work."""


class EndpointBackend(Protocol):
    """One server: a GenerationBackend that can be probed and says where it is.

    generate() must raise ServerUnavailable (not just BackendError) when the server is at fault.
    """

    url: str
    vocab: LlasaVocab

    @property
    def capacity(self) -> int: ...

    def probe(self) -> None:
        """Return when the server is up and fit; ServerUnavailable if down, BackendError if misconfigured."""
        ...

    def tokenize_text(self, text: str) -> list[int]: ...

    def generate(self, prompt: Sequence[int], sampling: Sampling, *, should_stop: Callable[[], bool] = ...,
                 affinity: Hashable | None = None) -> CodeGeneration: ...

    def close(self) -> None: ...


@dataclasses.dataclass(eq=False)
class _Member:
    backend: EndpointBackend
    up: bool = False
    running: int = 0
    backoff_s: float = 0.0
    next_probe: float = 0.0

    @property
    def free(self) -> int:
        return self.backend.capacity - self.running


class EndpointPool:
    """A GenerationBackend over several endpoints; capacity is the sum of the live ones' slots."""

    def __init__(
        self,
        backends: Sequence[EndpointBackend],
        *,
        first_retry_s: float = 1.0,
        max_retry_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not backends:
            raise ValueError("a pool needs at least one endpoint")
        self._members = [_Member(b) for b in backends]
        self.vocab = backends[0].vocab
        self._first_retry_s, self._max_retry_s = first_retry_s, max_retry_s
        self._clock = clock
        # Affinity key -> endpoint, least recently used first; bounded, since a lane per DM user would
        # otherwise grow it for as long as the bot runs (a forgotten key just picks an endpoint anew).
        self._sticky: OrderedDict[Hashable, _Member] = OrderedDict()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._health: threading.Thread | None = None

    @property
    def endpoints(self) -> list[str]:
        return [m.backend.url for m in self._members]

    def live(self) -> list[str]:
        """URLs of the endpoints in service now."""
        with self._lock:
            return [m.backend.url for m in self._members if m.up]

    def start(self) -> None:
        """Probe every endpoint once and start the health thread.

        An unreachable endpoint is logged and retried later; BackendError when none is up, or when
        one serves the wrong model (a setup mistake).
        """
        for member in self._members:
            self._probe(member)
        if not any(m.up for m in self._members):
            raise BackendError("no speech server answered: " + ", ".join(self.endpoints)
                               + "; start them (see README, Serving many voices) or fix backend.endpoints")
        self._health = threading.Thread(target=self._watch, name="backend-health", daemon=True)
        self._health.start()

    def tokenize_text(self, text: str) -> list[int]:
        return self._members[0].backend.tokenize_text(text)

    @property
    def capacity(self) -> int:
        with self._lock:
            return sum(m.backend.capacity for m in self._members if m.up)

    def generate(
        self,
        prompt: Sequence[int],
        sampling: Sampling,
        *,
        should_stop: Callable[[], bool] = lambda: False,
        affinity: Hashable | None = None,
    ) -> CodeGeneration:
        # The seed is drawn here so that a take moved to another endpoint keeps it.
        seed = sampling.seed if sampling.seed >= 0 else random.randrange(2**31)
        generation = CodeGeneration(iter(()), seed)
        generation._codes = self._codes(prompt, dataclasses.replace(sampling, seed=seed), should_stop,
                                        affinity, generation)
        return generation

    def close(self) -> None:
        self._closed.set()
        if self._health is not None:
            self._health.join(timeout=10)
        for member in self._members:
            member.backend.close()

    def _codes(
        self,
        prompt: Sequence[int],
        sampling: Sampling,
        should_stop: Callable[[], bool],
        affinity: Hashable | None,
        generation: CodeGeneration,
    ) -> Iterator[int]:
        tried: set[_Member] = set()
        while True:
            member = self._choose(affinity, tried)
            if member is None:
                raise BackendError("no speech server is available right now; try again in a minute")
            count = 0
            try:
                inner = member.backend.generate(prompt, sampling, should_stop=should_stop)
                for code in inner:
                    count += 1
                    yield code
            except ServerUnavailable as exc:
                self._down(member, exc)
                if count:
                    raise BackendError("the speech server stopped in the middle of this message; "
                                       "try it again") from exc
                tried.add(member)
                log.info("moving a take from %s to another endpoint", member.backend.url)
                continue
            finally:
                with self._lock:
                    member.running -= 1
            generation.finish_reason = inner.finish_reason
            generation.prompt_reused, generation.prompt_evaluated = inner.prompt_reused, inner.prompt_evaluated
            generation.first_token_s = inner.first_token_s
            return

    def _choose(self, affinity: Hashable | None, tried: set[_Member]) -> _Member | None:
        """The endpoint for a take, counted as running there; None when none is left to try."""
        for attempt in range(2):
            with self._lock:
                live = [m for m in self._members if m.up and m not in tried]
                if live:
                    member = self._sticky.get(affinity) if affinity is not None else None
                    if member not in live:
                        member = max(live, key=lambda m: m.free)  # the first of equals: stable
                    if affinity is not None:
                        self._sticky[affinity] = member
                        self._sticky.move_to_end(affinity)
                        while len(self._sticky) > REMEMBERED_AFFINITIES:
                            self._sticky.popitem(last=False)
                    member.running += 1
                    return member
                down = [m for m in self._members if not m.up and m not in tried]
            if attempt or not down:
                return None
            # Nothing in service: one probe now (this is a worker thread) rather than failing the
            # take while a restarted server waits for its backoff to run out.
            for m in down:
                self._probe(m)
        return None

    def _probe(self, member: _Member) -> None:
        try:
            member.backend.probe()
        except ServerUnavailable as exc:
            with self._lock:
                if member.up:
                    member.up = False
                member.backoff_s = min(self._max_retry_s, max(self._first_retry_s, member.backoff_s * 2))
                member.next_probe = self._clock() + member.backoff_s
            log.warning("%s (next try in %.0f s)", exc, member.backoff_s)
            return
        with self._lock:
            was_down = not member.up
            member.up, member.backoff_s = True, 0.0
        if was_down:
            log.info("speech server %s is in service (%d slots)", member.backend.url, member.backend.capacity)

    def _down(self, member: _Member, exc: Exception) -> None:
        with self._lock:
            member.up = False
            member.backoff_s = self._first_retry_s
            member.next_probe = self._clock() + member.backoff_s
        log.warning("speech server %s taken out of service: %s", member.backend.url, exc)

    def _watch(self) -> None:
        """Probe endpoints out of service when their backoff has run out, until close()."""
        while not self._closed.wait(min(1.0, self._first_retry_s)):
            now = self._clock()
            with self._lock:
                due = [m for m in self._members if not m.up and m.next_probe <= now]
            for member in due:
                try:
                    self._probe(member)
                except BackendError as exc:  # now serving another model: keep it out, keep trying
                    log.error("speech server %s: %s", member.backend.url, exc)
                    with self._lock:
                        member.backoff_s = self._max_retry_s
                        member.next_probe = self._clock() + member.backoff_s
