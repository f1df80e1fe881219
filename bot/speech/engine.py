"""One GPU worker behind a fair queue: every generation in the process runs here, one at a time.

Fairness: requests from the bot's commands (/say) go before background read-aloud; within each
class, servers take turns (round-robin), so one busy server cannot starve another. Queues are
bounded per server and per user. Cancelling a job stops it at the next generated token.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import queue
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import Any, Generic, TypeVar

import numpy as np

from .synthesizer import Clip, SpeechRequest, SynthesisError, SynthesisReport, Synthesizer

log = logging.getLogger(__name__)
T = TypeVar("T")


class Priority(IntEnum):
    COMMAND = 0     # someone is waiting for an answer
    READ_ALOUD = 1  # channel reading in the background


class JobState(str, Enum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class EngineBusy(RuntimeError):
    """The queue is full for this server or user; the message is fit for the user."""


class EngineClosed(RuntimeError):
    """The engine is shutting down."""


class JobCancelled(Exception):
    """The job was cancelled (skip, clear, leave) before it finished."""


@dataclass(frozen=True)
class Owner:
    """Who asked: the queue lane (guild; None for direct messages and tools) and the user."""

    guild_id: int | None
    user_id: int


class Job(Generic[T]):
    """A queued unit of work; awaitable for its result, cancellable from any thread."""

    _ids = itertools.count(1)

    def __init__(self, owner: Owner, priority: Priority, loop: asyncio.AbstractEventLoop) -> None:
        self.id = next(self._ids)
        self.owner = owner
        self.priority = priority
        self.state = JobState.QUEUED
        self._loop = loop
        self._cancel = threading.Event()
        self._started = loop.create_future()
        self._result: asyncio.Future[T] = loop.create_future()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def cancel(self) -> None:
        """Drop the job if queued; stop it at the next token if running. Safe from any thread."""
        self._cancel.set()

    async def started(self) -> None:
        """Wait until the worker picks this job up (returns at once if it ended before)."""
        await asyncio.shield(self._started)

    async def result(self) -> T:
        """The job's outcome; raises what the work raised, or JobCancelled."""
        return await asyncio.shield(self._result)

    def _work(self, synthesizer: Synthesizer) -> T:
        raise NotImplementedError

    # Called from the worker (or any) thread; futures are settled on the loop thread.
    def _finish(self, value: T) -> None:
        self._loop.call_soon_threadsafe(self._settle, value, None)

    def _fail(self, error: BaseException) -> None:
        self._loop.call_soon_threadsafe(self._settle, None, error)

    def _settle(self, value: Any, error: BaseException | None) -> None:
        if not self._started.done():
            self._started.set_result(None)
        if self._result.done():
            return
        if error is None:
            self._result.set_result(value)
        else:
            self._result.set_exception(error)
        # Nobody may be awaiting a dropped job: don't let asyncio warn about it.
        self._result.exception()

    def _mark_started(self) -> None:
        self._loop.call_soon_threadsafe(lambda: self._started.done() or self._started.set_result(None))

    def _drop(self) -> None:
        """Cancel a job that will never run."""
        self.cancel()
        self.state = JobState.CANCELLED
        self._fail(JobCancelled())


class SpeechJob(Job[Clip]):
    """One text to speak. Audio is readable while it is generated, from any thread."""

    def __init__(self, request: SpeechRequest, owner: Owner, priority: Priority, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(owner, priority, loop)
        self.request = request
        self.report = SynthesisReport()
        self.sample_rate: int = 0
        # Chunks for a streaming reader (the voice player thread); None marks the end.
        self.chunks: queue.SimpleQueue[np.ndarray | None] = queue.SimpleQueue()
        self._audio_ready = loop.create_future()

    async def audio_ready(self) -> None:
        """Wait until the first audio chunk exists (or the job ended without any)."""
        await asyncio.shield(self._audio_ready)

    def _signal_audio(self) -> None:
        self._loop.call_soon_threadsafe(lambda: self._audio_ready.done() or self._audio_ready.set_result(None))

    def _drop(self) -> None:
        super()._drop()
        self.chunks.put(None)
        self._signal_audio()

    def _work(self, synthesizer: Synthesizer) -> Clip:
        self.sample_rate = synthesizer.sample_rate
        collected: list[np.ndarray] = []
        try:
            for chunk in synthesizer.stream(self.request, should_stop=self._cancel.is_set, report=self.report):
                if len(chunk):
                    collected.append(chunk)
                    self.chunks.put(chunk)
                    if len(collected) == 1:
                        self._signal_audio()
        finally:
            self.chunks.put(None)
            self._signal_audio()
        if self.cancelled:
            raise JobCancelled
        if self.report.codes == 0:
            raise SynthesisError("the model produced no speech for this text; try again or rephrase it")
        samples = np.concatenate(collected) if collected else np.zeros(0, np.float32)
        return Clip(samples, synthesizer.sample_rate, self.report)


class CallJob(Job[T]):
    """Any other model work that must run on the worker (e.g. encoding a reference clip)."""

    def __init__(self, fn: Callable[[Synthesizer], T], owner: Owner, priority: Priority, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(owner, priority, loop)
        self._fn = fn

    def _work(self, synthesizer: Synthesizer) -> T:
        return self._fn(synthesizer)


class FairQueue:
    """Per-priority lanes per guild; the guild served longest ago goes next.

    Not thread-safe: the engine holds its lock around every call.
    """

    def __init__(self) -> None:
        self._lanes: list[dict[int | None, deque[Job[Any]]]] = [{} for _ in Priority]
        self._turn = itertools.count()
        # When each guild was last served; a guild never served (or new) goes first.
        self._last_served: dict[int | None, int] = {}

    def push(self, job: Job[Any]) -> None:
        self._lanes[job.priority].setdefault(job.owner.guild_id, deque()).append(job)

    def pop(self) -> Job[Any] | None:
        """The next job: highest priority first, then the guild whose turn it is."""
        for lanes in self._lanes:
            while lanes:
                guild = min(lanes, key=lambda g: self._last_served.get(g, -1))
                job = lanes[guild].popleft()
                if not lanes[guild]:
                    del lanes[guild]
                if job.cancelled:
                    continue
                self._last_served[guild] = next(self._turn)
                return job
        return None

    def waiting(self) -> list[Job[Any]]:
        """Queued jobs in the order they would run if nothing else arrived."""
        order: list[Job[Any]] = []
        served = dict(self._last_served)
        turn = 0
        for lanes in self._lanes:
            copies = {g: deque(j for j in lane if not j.cancelled) for g, lane in lanes.items()}
            copies = {g: lane for g, lane in copies.items() if lane}
            while copies:
                guild = min(copies, key=lambda g: served.get(g, -1))
                order.append(copies[guild].popleft())
                if not copies[guild]:
                    del copies[guild]
                turn += 1
                served[guild] = max(self._last_served.values(), default=0) + turn
        return order

    def remove(self, predicate: Callable[[Job[Any]], bool]) -> list[Job[Any]]:
        removed: list[Job[Any]] = []
        for lanes in self._lanes:
            for guild in list(lanes):
                removed += [j for j in lanes[guild] if predicate(j)]
                keep = deque(j for j in lanes[guild] if not predicate(j))
                if keep:
                    lanes[guild] = keep
                else:
                    del lanes[guild]
        return removed


class SpeechEngine:
    """Runs all model work on one worker thread that owns the synthesizer."""

    def __init__(self, synthesizer: Synthesizer, *, per_guild: int = 20, per_user: int = 5) -> None:
        self.synthesizer = synthesizer
        self.per_guild = per_guild
        self.per_user = per_user
        self._queue = FairQueue()
        self._lock = threading.Condition()
        self._running: Job[Any] | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="speech-worker", daemon=True)
        self._thread.start()

    @property
    def sample_rate(self) -> int:
        return self.synthesizer.sample_rate

    def submit(self, request: SpeechRequest, owner: Owner, priority: Priority = Priority.COMMAND) -> SpeechJob:
        """Queue a text to speak; EngineBusy past the per-guild or per-user bound."""
        job = SpeechJob(request, owner, priority, asyncio.get_running_loop())
        self._enqueue(job)
        return job

    async def call(self, fn: Callable[[Synthesizer], T], owner: Owner) -> T:
        """Run fn(synthesizer) on the worker, queued like a command, and return its result."""
        job: CallJob[T] = CallJob(fn, owner, Priority.COMMAND, asyncio.get_running_loop())
        self._enqueue(job)
        return await job.result()

    def position(self, job: Job[Any]) -> int:
        """0 while running, 1.. while waiting (1 = next), -1 when no longer queued."""
        with self._lock:
            if self._running is job:
                return 0
            waiting = self._queue.waiting()
            return waiting.index(job) + 1 if job in waiting else -1

    def cancel_guild(self, guild_id: int | None, predicate: Callable[[Job[Any]], bool] = lambda j: True) -> int:
        """Cancel the guild's queued and running jobs (that match predicate); returns how many."""
        with self._lock:
            mine = lambda j: j.owner.guild_id == guild_id and predicate(j)  # noqa: E731
            jobs = self._queue.remove(mine)
            if self._running is not None and mine(self._running):
                jobs.append(self._running)
            running = self._running
        for job in jobs:
            if job is running:
                job.cancel()  # the worker notices at the next token and settles it
            else:
                job._drop()
        return len(jobs)

    def close(self) -> None:
        """Stop taking work, cancel what is queued or running, and end the worker."""
        with self._lock:
            self._closed = True
            pending = self._queue.remove(lambda j: True)
            if self._running is not None:
                self._running.cancel()
            self._lock.notify_all()
        for job in pending:
            job._drop()
        self._thread.join(timeout=30)

    def _enqueue(self, job: Job[Any]) -> None:
        with self._lock:
            if self._closed:
                raise EngineClosed("the speech engine is shutting down")
            waiting = self._queue.waiting()
            if sum(j.owner.guild_id == job.owner.guild_id for j in waiting) >= self.per_guild:
                raise EngineBusy(f"this server already has {self.per_guild} messages waiting to be spoken; try again in a moment")
            if sum(j.owner == job.owner for j in waiting) >= self.per_user:
                raise EngineBusy(f"you already have {self.per_user} messages waiting; try again when they are done")
            self._queue.push(job)
            self._lock.notify()

    def _run(self) -> None:
        while True:
            with self._lock:
                job = self._queue.pop()
                while job is None and not self._closed:
                    self._lock.wait()
                    job = self._queue.pop()
                if job is None:
                    return
                self._running = job
                job.state = JobState.RUNNING
            job._mark_started()
            try:
                value = job._work(self.synthesizer)
                job.state = JobState.DONE
                job._finish(value)
            except JobCancelled as exc:
                job.state = JobState.CANCELLED
                job._fail(exc)
            except Exception as exc:  # handed to whoever awaits the job, which logs or answers it
                job.state = JobState.FAILED
                if not isinstance(exc, SynthesisError):
                    log.exception("job %d for guild %s user %s failed", job.id, job.owner.guild_id, job.owner.user_id)
                job._fail(exc)
            finally:
                with self._lock:
                    self._running = None
