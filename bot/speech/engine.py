"""One GPU worker behind a fair queue: every generation in the process runs here, one at a time.

Fairness: requests from the bot's commands (/say) go before background read-aloud; within each
class, servers take turns (round-robin), so one busy server cannot starve another; each direct-
message user is a lane of their own. Queues are bounded per lane and per user. Cancelling a job
stops it at the next generated token; every job settles (done, failed or cancelled), even if the
worker thread dies, which is then replaced.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import Any, Generic, TypeVar


from .audio_feed import AudioFeed
from .pacing import SpeechPacing, StartGate
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


class EngineFailed(RuntimeError):
    """The worker thread died while running this job (it has been restarted)."""


class JobCancelled(Exception):
    """The job was cancelled (skip, clear, leave) before it finished."""


@dataclass(frozen=True)
class Owner:
    """Who asked: the guild (None for direct messages and tools) and the user."""

    guild_id: int | None
    user_id: int

    @property
    def lane(self) -> tuple[str, int]:
        """The queue lane: the guild, or outside guilds the user, so DMs don't block each other."""
        return ("guild", self.guild_id) if self.guild_id is not None else ("user", self.user_id)


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
        # Set by the engine when it queues the job: takes the job out of the queue on cancel().
        self._withdraw: Callable[[Job[Any]], None] | None = None

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def cancel(self) -> None:
        """Drop (and settle) the job if queued; stop it at the next token if running. Any thread."""
        self._cancel.set()
        withdraw = self._withdraw
        if withdraw is not None:
            withdraw(self)

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
        self._on_loop(self._settle, value, None)

    def _fail(self, error: BaseException) -> None:
        self._on_loop(self._settle, None, error)

    def _on_loop(self, fn: Callable[..., Any], *args: Any) -> None:
        try:
            self._loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop that asked has closed: nobody is left to answer
            log.debug("job %d: its event loop is closed", self.id)

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
        self._on_settled()

    def _on_settled(self) -> None:
        """Hook for subclasses: release whatever waits on this job besides its result."""

    def _mark_started(self) -> None:
        self._on_loop(lambda: self._started.done() or self._started.set_result(None))

    def _drop(self) -> None:
        """Settle, as cancelled, a job that will never run."""
        self._cancel.set()
        self.state = JobState.CANCELLED
        self._fail(JobCancelled())


class SpeechJob(Job[Clip]):
    """One text to speak. Audio is readable while it is generated, from any thread."""

    def __init__(self, request: SpeechRequest, owner: Owner, priority: Priority, loop: asyncio.AbstractEventLoop,
                 pacing: SpeechPacing | None = None) -> None:
        super().__init__(owner, priority, loop)
        self.request = request
        self.report = SynthesisReport()
        self.sample_rate: int = 0
        self.audio = AudioFeed()  # for streaming readers (the voice player thread)
        self.start = StartGate(pacing or SpeechPacing(), request.text)
        self._playable = loop.create_future()

    async def playable(self) -> None:
        """Wait until playing now will not run out of audio (see pacing), or the job ended."""
        await asyncio.shield(self._playable)

    def _signal_playable(self) -> None:
        self._on_loop(lambda: self._playable.done() or self._playable.set_result(None))

    def _on_settled(self) -> None:
        self.audio.end()
        if not self._playable.done():
            self._playable.set_result(None)

    def _work(self, synthesizer: Synthesizer) -> Clip:
        self.sample_rate = rate = synthesizer.sample_rate
        finished = False
        self.start.pieces = synthesizer.pieces
        self.start.begin(time.monotonic())
        try:
            for chunk in synthesizer.stream(self.request, should_stop=self._cancel.is_set, report=self.report,
                                          affinity=self.owner.lane):
                if len(chunk):
                    self.audio.append(chunk)
                    cap = self.report.longest_s or self.request.max_seconds
                    if self.start.add(len(chunk) / rate, time.monotonic(), cap):
                        self._signal_playable()
            finished = not self.cancelled
        finally:
            self.audio.end()
            self.start.end()
            self._signal_playable()
            self.start.learn(finished=finished)
        if self.cancelled:
            raise JobCancelled
        if self.report.codes == 0:
            raise SynthesisError("the model produced no speech for this text; try again or rephrase it")
        return Clip(self.audio.samples(), rate, self.report)


class CallJob(Job[T]):
    """Any other model work that must run on the worker (e.g. encoding a reference clip)."""

    def __init__(self, fn: Callable[[Synthesizer], T], owner: Owner, priority: Priority, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(owner, priority, loop)
        self._fn = fn

    def _work(self, synthesizer: Synthesizer) -> T:
        return self._fn(synthesizer)


Lane = tuple[str, int]


class FairQueue:
    """Per-priority lanes (see Owner.lane); the lane served longest ago goes next.

    Not thread-safe: the engine holds its lock around every call.
    """

    # Lanes remembered for turn-taking; beyond this the longest-idle are forgotten (they would
    # go first anyway), so one lane per DM user cannot grow the memory without bound.
    REMEMBERED_LANES = 4096

    def __init__(self) -> None:
        self._lanes: list[dict[Lane, deque[Job[Any]]]] = [{} for _ in Priority]
        self._turn = itertools.count()
        # When each lane was last served, oldest first; a lane never served (or new) goes first.
        self._last_served: dict[Lane, int] = {}

    def push(self, job: Job[Any]) -> None:
        self._lanes[job.priority].setdefault(job.owner.lane, deque()).append(job)

    def pop(self) -> Job[Any] | None:
        """The next job (possibly cancelled meanwhile): highest priority first, then the lane whose turn it is."""
        for lanes in self._lanes:
            if lanes:
                lane = min(lanes, key=lambda g: self._last_served.get(g, -1))
                job = lanes[lane].popleft()
                if not lanes[lane]:
                    del lanes[lane]
                self._last_served.pop(lane, None)
                self._last_served[lane] = next(self._turn)
                while len(self._last_served) > self.REMEMBERED_LANES:
                    del self._last_served[next(iter(self._last_served))]
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
                lane = min(copies, key=lambda g: served.get(g, -1))
                order.append(copies[lane].popleft())
                if not copies[lane]:
                    del copies[lane]
                turn += 1
                served[lane] = max(self._last_served.values(), default=0) + turn
        return order

    def remove(self, predicate: Callable[[Job[Any]], bool]) -> list[Job[Any]]:
        removed: list[Job[Any]] = []
        for lanes in self._lanes:
            for lane in list(lanes):
                removed += [j for j in lanes[lane] if predicate(j)]
                keep = deque(j for j in lanes[lane] if not predicate(j))
                if keep:
                    lanes[lane] = keep
                else:
                    del lanes[lane]
        return removed


class SpeechEngine:
    """Runs all model work on one worker thread that owns the synthesizer."""

    def __init__(self, synthesizer: Synthesizer, *, per_guild: int = 20, per_user: int = 5) -> None:
        self.synthesizer = synthesizer
        self.per_guild = per_guild
        self.per_user = per_user
        self.pacing = SpeechPacing()  # this machine's speed and speech length, learned as jobs run
        self._queue = FairQueue()
        self._lock = threading.Condition()  # re-entrant: a job cancelled under it withdraws itself
        self._running: Job[Any] | None = None
        self._closed = False
        self._start_worker()

    @property
    def sample_rate(self) -> int:
        return self.synthesizer.sample_rate

    def submit(self, request: SpeechRequest, owner: Owner, priority: Priority = Priority.COMMAND) -> SpeechJob:
        """Queue a text to speak; EngineBusy past the per-lane (server) or per-user bound."""
        job = SpeechJob(request, owner, priority, asyncio.get_running_loop(), self.pacing)
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
            thread = self._thread
        for job in pending:
            job._drop()
        thread.join(timeout=30)

    def _enqueue(self, job: Job[Any]) -> None:
        with self._lock:
            if self._closed:
                raise EngineClosed("the speech engine is shutting down")
            if not self._thread.is_alive():  # died where it could not restart itself
                log.error("the speech worker thread is gone; starting a new one")
                self._start_worker()
            waiting = self._queue.waiting()
            if sum(j.owner.lane == job.owner.lane for j in waiting) >= self.per_guild:
                raise EngineBusy(f"this server already has {self.per_guild} messages waiting to be spoken; try again in a moment")
            if sum(j.owner == job.owner for j in waiting) >= self.per_user:
                raise EngineBusy(f"you already have {self.per_user} messages waiting; try again when they are done")
            job._withdraw = self._withdraw
            self._queue.push(job)
            self._lock.notify()

    def _withdraw(self, job: Job[Any]) -> None:
        """A queued job was cancelled: take it out and settle it now (running ones settle at the next token)."""
        with self._lock:
            removed = self._queue.remove(lambda j: j is job)
        for gone in removed:
            gone._drop()

    def _start_worker(self) -> None:
        self._thread = threading.Thread(target=self._run, name="speech-worker", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while (job := self._next_job()) is not None:
                self._execute(job)
        except BaseException:  # noqa: BLE001  the worker must never die silently: log and replace it
            log.critical("the speech worker thread died; starting a new one with the queue kept", exc_info=True)
            with self._lock:
                if not self._closed:
                    self._start_worker()

    def _next_job(self) -> Job[Any] | None:
        """The next job to run (None once closed), marked running."""
        with self._lock:
            while True:
                job = self._queue.pop()
                if job is None:
                    if self._closed:
                        return None
                    self._lock.wait()
                elif job.cancelled:  # cancelled between cancel() and its withdrawal
                    job._drop()
                else:
                    self._running = job
                    job.state = JobState.RUNNING
                    return job

    def _execute(self, job: Job[Any]) -> None:
        try:
            job._mark_started()
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
        except BaseException:
            # Outside Exception (SystemExit, a C extension's fatal error): answer the job, let _run restart.
            job.state = JobState.FAILED
            job._fail(EngineFailed("the speech engine failed while making this; please try again"))
            raise
        finally:
            with self._lock:
                self._running = None
