"""Worker lanes behind a fair queue: every generation in the process runs here, as many at once
as the generation backend has capacity (the embedded model: one).

Fairness: requests from the bot's commands (/say) go before background read-aloud; within each
class, servers take turns (round-robin), so one busy server cannot starve another, and a server
that already runs a job starts a second only when no other server waits; each direct-message
user is a lane of their own. Queues are bounded per lane and per user. Cancelling a job stops it
at the next generated token; every job settles (done, failed or cancelled), even if its worker
thread dies, which is then replaced.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import Any, Generic, TypeVar

from ..i18n import UserFacing
from .audio_feed import AudioFeed
from .capacity import Admission, CapacityReport, StreamMeter
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


class EngineBusy(UserFacing, RuntimeError):
    """The queue is full for this server or user; the message is fit for the user."""


class EngineClosed(UserFacing, RuntimeError):
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
        self.epoch = 0  # how many run_exclusive barriers were called before it: it runs after them
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
        # Set by the engine: how many streams generate now, and where speed samples go.
        self._streams: Callable[[], int] = lambda: 1
        self._meter: StreamMeter | None = None

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
                    now, streams = time.monotonic(), self._streams()
                    if self._meter is not None:
                        self._meter.add(len(chunk) / rate, now, streams)
                    if self.start.add(len(chunk) / rate, now, cap, streams):
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
            raise SynthesisError("speech.no_speech")
        return Clip(self.audio.samples(), rate, self.report)


class CallJob(Job[T]):
    """Any other model work that must run on the worker (e.g. encoding a reference clip)."""

    def __init__(self, fn: Callable[[Synthesizer], T], owner: Owner, priority: Priority, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(owner, priority, loop)
        self._fn = fn

    def _work(self, synthesizer: Synthesizer) -> T:
        return self._fn(synthesizer)


class ExclusiveJob(Job[T]):
    """A function run with no other job beside it (see SpeechEngine.run_exclusive)."""

    def __init__(self, fn: Callable[[], T], loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(Owner(None, 0), Priority.COMMAND, loop)
        self._fn = fn

    def _work(self, synthesizer: Synthesizer) -> T:
        return self._fn()


Lane = tuple[str, int]


class FairQueue:
    """Per-priority lanes (see Owner.lane); the lane served longest ago goes next.

    With several jobs running at once, a lane with nothing running goes before a lane that
    already runs one (at any priority), so one server cannot fill every generation slot while
    another waits. Not thread-safe: the engine holds its lock around every call.
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

    def pop(self, busy: Mapping[Lane, int] | None = None, cap: int | None = None,
            ready: Callable[[Job[Any]], bool] = lambda j: True) -> Job[Any] | None:
        """The next job (possibly cancelled meanwhile), or None.

        busy: jobs running per lane; cap: the most a lane may run at once (None: no cap);
        ready: whether a lane's first job may start now (the engine's barrier).
        """
        choice = _choose(self._lanes, self._last_served, busy or {}, cap, ready)
        if choice is None:
            return None
        lanes, lane = choice
        job = lanes[lane].popleft()
        if not lanes[lane]:
            del lanes[lane]
        self._last_served.pop(lane, None)
        self._last_served[lane] = next(self._turn)
        while len(self._last_served) > self.REMEMBERED_LANES:
            del self._last_served[next(iter(self._last_served))]
        return job

    def waiting(self, busy: Mapping[Lane, int] | None = None, cap: int | None = None, slots: int = 1) -> list[Job[Any]]:
        """Queued jobs in the order they would start if nothing else arrived, on `slots` lanes."""
        copies = [{g: deque(j for j in lane if not j.cancelled) for g, lane in lanes.items()} for lanes in self._lanes]
        copies = [{g: lane for g, lane in lanes.items() if lane} for lanes in copies]
        served = dict(self._last_served)
        running = dict(busy or {})
        turn = max(served.values(), default=0)
        order: list[Job[Any]] = []
        while any(copies):
            choice = None if sum(running.values()) >= max(slots, 1) else _choose(copies, served, running, cap, lambda j: True)
            if choice is None:  # no free lane or every waiting lane at its cap: here the running jobs end
                running.clear()
                continue
            lanes, lane = choice
            order.append(lanes[lane].popleft())
            if not lanes[lane]:
                del lanes[lane]
            turn += 1
            served[lane] = turn
            running[lane] = running.get(lane, 0) + 1
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

    def any(self, predicate: Callable[[Job[Any]], bool]) -> bool:
        return any(predicate(j) for lanes in self._lanes for lane in lanes.values() for j in lane)


def _choose(by_priority: list[dict[Lane, deque[Job[Any]]]], served: Mapping[Lane, int], busy: Mapping[Lane, int],
            cap: int | None, ready: Callable[[Job[Any]], bool]) -> tuple[dict[Lane, deque[Job[Any]]], Lane] | None:
    """Which lane goes next: idle lanes before busy ones, then priority, then whose turn it is."""
    for allowed in (lambda n: n == 0, lambda n: cap is None or n < cap):
        for lanes in by_priority:
            candidates = [g for g, jobs in lanes.items() if allowed(busy.get(g, 0)) and ready(jobs[0])]
            if candidates:
                return lanes, min(candidates, key=lambda g: served.get(g, -1))
    return None


class SpeechEngine:
    """Runs all model work on worker threads ("lanes"), as many at once as the backend has capacity
    and the measured speed admits (see capacity.Admission).

    The embedded model has capacity 1: one job at a time. `run_exclusive` runs a function with no
    job beside it (a model switch). Capacity is re-read as it changes (remote endpoints going down
    or coming back); while it is 0 jobs wait in the queue.
    """

    # How often idle lanes re-read the backend's capacity, which changes without telling us.
    CAPACITY_POLL_S = 0.5

    def __init__(self, synthesizer: Synthesizer, *, per_guild: int = 20, per_user: int = 5,
                 per_guild_running: int | None = None, admission: Admission | None = None) -> None:
        self.synthesizer = synthesizer
        self.per_guild = per_guild
        self.per_user = per_user
        # The most jobs one server may run at once (None: as many as are free while nobody else waits).
        self.per_guild_running = per_guild_running
        self.pacing = SpeechPacing()  # this machine's speed and speech length, learned as jobs run
        # Streams at once that stay above real time, learned as jobs run.
        self.admission = admission if admission is not None else Admission()
        self._queue = FairQueue()
        self._lock = threading.Condition()  # re-entrant: a job cancelled under it withdraws itself
        self._running: list[Job[Any]] = []
        self._workers: list[threading.Thread] = []
        # run_exclusive barriers in call order; a job queued after k barriers waits for all k.
        self._barriers: deque[ExclusiveJob[Any]] = deque()
        self._barriers_made = 0
        self._barriers_done = 0
        self._closed = False
        with self._lock:
            self._ensure_workers()

    @property
    def sample_rate(self) -> int:
        return self.synthesizer.sample_rate

    def submit(self, request: SpeechRequest, owner: Owner, priority: Priority = Priority.COMMAND) -> SpeechJob:
        """Queue a text to speak; EngineBusy past the per-lane (server) or per-user bound."""
        job = SpeechJob(request, owner, priority, asyncio.get_running_loop(), self.pacing)
        job._streams = self._streams_running
        job._meter = StreamMeter(self._observe)
        self._enqueue(job)
        return job

    async def call(self, fn: Callable[[Synthesizer], T], owner: Owner) -> T:
        """Run fn(synthesizer) on a worker, queued like a command, and return its result."""
        job: CallJob[T] = CallJob(fn, owner, Priority.COMMAND, asyncio.get_running_loop())
        self._enqueue(job)
        return await job.result()

    async def run_exclusive(self, fn: Callable[[], T]) -> T:
        """Run fn on a worker once every job queued or running now has ended, with nothing beside it.

        Jobs submitted after this call wait until fn is done. Returns fn's result or raises its error;
        cancelling the caller before fn starts withdraws it. fn may swap the model, so the speeds
        measured before it are forgotten.
        """
        job: ExclusiveJob[T] = ExclusiveJob(fn, asyncio.get_running_loop())
        with self._lock:
            if self._closed:
                raise EngineClosed("speech.closed")
            self._prune_workers()
            job.epoch = self._barriers_made
            self._barriers_made += 1
            job._withdraw = self._withdraw_barrier
            self._barriers.append(job)
            self._lock.notify_all()
        try:
            return await job.result()
        except asyncio.CancelledError:
            job.cancel()
            raise

    def capacity_report(self) -> CapacityReport:
        """Lanes, admitted streams and measured per-stream speeds, for logs and /status."""
        with self._lock:
            capacity = self._capacity()
            return CapacityReport(capacity, self.admission.admitted(capacity), len(self._running),
                                  self.admission.speeds())

    def position(self, job: Job[Any]) -> int:
        """0 while running, 1.. while waiting (1 = next), -1 when no longer queued."""
        with self._lock:
            if job in self._running:
                return 0
            waiting = self._waiting()
            return waiting.index(job) + 1 if job in waiting else -1

    def cancel_guild(self, guild_id: int | None, predicate: Callable[[Job[Any]], bool] = lambda j: True) -> int:
        """Cancel the guild's queued and running jobs (that match predicate); returns how many."""
        with self._lock:
            mine = lambda j: j.owner.guild_id == guild_id and predicate(j)  # noqa: E731
            queued = self._queue.remove(mine)
            running = [j for j in self._running if mine(j)]
        for job in running:
            job.cancel()  # its worker notices at the next token and settles it
        for job in queued:
            job._drop()
        return len(queued) + len(running)

    def close(self) -> None:
        """Stop taking work, cancel what is queued or running, and end the workers."""
        with self._lock:
            self._closed = True
            pending: list[Job[Any]] = self._queue.remove(lambda j: True)
            pending += [b for b in self._barriers if b not in self._running]
            self._barriers = deque(b for b in self._barriers if b in self._running)
            for job in self._running:
                job.cancel()
            self._lock.notify_all()
            workers = list(self._workers)
        for job in pending:
            job._drop()
        deadline = time.monotonic() + 30
        for thread in workers:
            thread.join(timeout=max(deadline - time.monotonic(), 0))

    def _waiting(self) -> list[Job[Any]]:
        """Queued jobs in their expected order; jobs behind a barrier come after those before it."""
        order = self._queue.waiting(self._busy(), self.per_guild_running, self._lanes())
        return sorted(order, key=lambda j: j.epoch)

    def _busy(self) -> dict[Lane, int]:
        busy: dict[Lane, int] = {}
        for job in self._running:
            busy[job.owner.lane] = busy.get(job.owner.lane, 0) + 1
        return busy

    def _enqueue(self, job: Job[Any]) -> None:
        with self._lock:
            if self._closed:
                raise EngineClosed("speech.closed")
            self._prune_workers()
            waiting = self._queue.waiting()
            if sum(j.owner.lane == job.owner.lane for j in waiting) >= self.per_guild:
                raise EngineBusy("speech.server_queue_full", limit=self.per_guild)
            if sum(j.owner == job.owner for j in waiting) >= self.per_user:
                raise EngineBusy("speech.user_queue_full", limit=self.per_user)
            job.epoch = self._barriers_made
            job._withdraw = self._withdraw
            self._queue.push(job)
            self._lock.notify_all()

    def _withdraw(self, job: Job[Any]) -> None:
        """A queued job was cancelled: take it out and settle it now (running ones settle at the next token)."""
        with self._lock:
            removed = self._queue.remove(lambda j: j is job)
        for gone in removed:
            gone._drop()

    def _withdraw_barrier(self, job: Job[Any]) -> None:
        """A barrier's caller gave up: it will be passed over (see _next_job) unless already running."""
        with self._lock:
            self._lock.notify_all()

    def _capacity(self) -> int:
        """How many generations the backend can run at once now."""
        return max(int(self.synthesizer.llm.capacity), 0)

    def _lanes(self) -> int:
        """How many jobs may run at once now: the backend's capacity, as far as measured speed admits."""
        return self.admission.admitted(self._capacity())

    def _streams_running(self) -> int:
        """Speech streams generating now (read without the lock: a sample's level may be off by one)."""
        return sum(isinstance(j, SpeechJob) for j in list(self._running))

    def _observe(self, streams: int, speed: float) -> None:
        """A speed sample from a running stream (any worker thread)."""
        with self._lock:
            capacity = self._capacity()
            before = self.admission.admitted(capacity)
            self.admission.observe(streams, speed)
            if self.admission.admitted(capacity) != before:
                log.info("admission: %d streams at once (was %d, backend capacity %d); %d streams ran at %.2fx real time",
                         self.admission.admitted(capacity), before, capacity, streams, speed)
                self._lock.notify_all()

    def _prune_workers(self) -> None:
        """Replace workers that died where they could not restart themselves (under the lock)."""
        alive = [t for t in self._workers if t.is_alive()]
        if len(alive) < len(self._workers):
            log.error("%d speech worker threads are gone; starting new ones", len(self._workers) - len(alive))
        self._workers = alive
        self._ensure_workers()

    def _ensure_workers(self) -> None:
        """As many worker threads as lanes (at least one, which also runs barriers). Under the lock."""
        while len(self._workers) < max(self._capacity(), 1) and not self._closed:
            thread = threading.Thread(target=self._run, name=f"speech-worker-{len(self._workers)}", daemon=True)
            self._workers.append(thread)
            thread.start()

    def _run(self) -> None:
        try:
            while (job := self._next_job()) is not None:
                self._execute(job)
        except BaseException:  # noqa: BLE001  a worker must never die silently: log and replace it
            log.critical("a speech worker thread died; starting a new one with the queue kept", exc_info=True)
            with self._lock:
                me = threading.current_thread()
                self._workers = [t for t in self._workers if t is not me]
                self._ensure_workers()
        else:
            with self._lock:
                me = threading.current_thread()
                self._workers = [t for t in self._workers if t is not me]

    def _next_job(self) -> Job[Any] | None:
        """The next job to run (None once closed and drained), marked running."""
        with self._lock:
            while True:
                job = self._pick()
                if job is None:
                    if self._closed:  # close() emptied the queue; running jobs end in their own workers
                        return None
                    self._lock.wait(self.CAPACITY_POLL_S)
                    self._ensure_workers()
                elif job.cancelled:  # cancelled between cancel() and its withdrawal
                    job._drop()
                else:
                    self._running.append(job)
                    job.state = JobState.RUNNING
                    return job

    def _pick(self) -> Job[Any] | None:
        """What may start now, under the lock: a barrier whose turn it is, or a job from the queue."""
        while self._barriers and self._barriers[0].cancelled and self._barriers[0] not in self._running:
            self._barriers.popleft()._drop()
            self._barriers_done += 1
        done = self._barriers_done
        ready = lambda j: j.epoch <= done  # noqa: E731  behind no barrier still to run
        if self._barriers:
            barrier = self._barriers[0]
            if barrier in self._running or self._running or self._queue.any(ready):
                barrier = None
            if barrier is not None:
                return barrier
        if len(self._running) >= self._lanes():
            return None
        return self._queue.pop(self._busy(), self.per_guild_running, ready)

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
            if not isinstance(exc, SynthesisError) and not isinstance(job, ExclusiveJob):
                log.exception("job %d for guild %s user %s failed", job.id, job.owner.guild_id, job.owner.user_id)
            job._fail(exc)
        except BaseException:
            # Outside Exception (SystemExit, a C extension's fatal error): answer the job, let _run restart.
            job.state = JobState.FAILED
            job._fail(EngineFailed("the speech engine failed while making this; please try again"))
            raise
        finally:
            with self._lock:
                self._running.remove(job)
                if self._barriers and self._barriers[0] is job:
                    self._barriers.popleft()
                    self._barriers_done += 1
                    self.admission.forget()
                    self.pacing.forget_rates()
                self._lock.notify_all()
