"""The GPU executor: fair queue, bounds, cancellation."""
from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from bot.speech.engine import EngineBusy, EngineFailed, JobCancelled, Owner, Priority, SpeechEngine
from bot.speech.synthesizer import SpeechRequest
from tests.fakes import ScriptedSynthesizer


@pytest.fixture
def synth():
    return ScriptedSynthesizer()


@pytest.fixture
async def engine(synth):
    engine = SpeechEngine(synth, per_guild=20, per_user=20)
    yield engine
    engine.close()


async def test_a_request_from_another_guild_is_served_before_a_busy_guilds_backlog(engine, synth):
    synth.gate = threading.Event()
    a_jobs = [engine.submit(SpeechRequest(f"A{i}"), Owner(1, 10 + i % 3)) for i in range(11)]
    await a_jobs[0].started()  # A0 is running, A1..A10 wait
    b_job = engine.submit(SpeechRequest("B0"), Owner(2, 99))
    position = engine.position(b_job)
    synth.gate.set()
    await asyncio.gather(*(j.result() for j in a_jobs), b_job.result())
    print(f"\nfairness: B0 queued behind 10 of A's, position {position}, served order {synth.served}")
    assert position == 1
    assert synth.served[:3] == ["A0", "B0", "A1"]


async def test_commands_go_before_background_reading(engine, synth):
    synth.gate = threading.Event()
    first = engine.submit(SpeechRequest("read0"), Owner(1, 1), Priority.READ_ALOUD)
    await first.started()
    reads = [engine.submit(SpeechRequest(f"read{i}"), Owner(1, 1), Priority.READ_ALOUD) for i in range(1, 3)]
    say = engine.submit(SpeechRequest("say"), Owner(1, 2), Priority.COMMAND)
    synth.gate.set()
    await asyncio.gather(first.result(), say.result(), *(r.result() for r in reads))
    assert synth.served == ["read0", "say", "read1", "read2"]


async def test_queue_bounds_answer_with_a_message(synth):
    engine = SpeechEngine(synth, per_guild=3, per_user=2)
    synth.gate = threading.Event()
    try:
        running = engine.submit(SpeechRequest("r"), Owner(1, 1))
        await running.started()
        engine.submit(SpeechRequest("u1"), Owner(1, 1))
        engine.submit(SpeechRequest("u2"), Owner(1, 1))
        with pytest.raises(EngineBusy, match="you already have 2"):
            engine.submit(SpeechRequest("u3"), Owner(1, 1))
        engine.submit(SpeechRequest("v1"), Owner(1, 2))
        with pytest.raises(EngineBusy, match="this server already has 3"):
            engine.submit(SpeechRequest("w1"), Owner(1, 3))
        engine.submit(SpeechRequest("other guild"), Owner(2, 3))  # other servers are unaffected
    finally:
        synth.gate.set()
        engine.close()


async def test_cancel_guild_drops_queued_and_stops_in_flight_work(engine, synth):
    synth.gate = threading.Event()
    running = engine.submit(SpeechRequest("long"), Owner(1, 1))
    await running.started()
    queued = engine.submit(SpeechRequest("next"), Owner(1, 1))
    other = engine.submit(SpeechRequest("elsewhere"), Owner(2, 1))
    assert engine.cancel_guild(1) == 2
    synth.gate.set()
    for job in (running, queued):
        with pytest.raises(JobCancelled):
            await job.result()
    await other.result()
    assert synth.stopped_at["long"] == 0  # stopped at its next step
    assert "next" not in synth.served
    assert running.audio.ended and queued.audio.ended  # streaming readers see the end


async def test_a_failing_job_does_not_stop_the_worker(engine):
    def boom(_synth):
        raise ValueError("broken clip")

    with pytest.raises(ValueError, match="broken clip"):
        await engine.call(boom, Owner(1, 1))
    assert await engine.call(lambda s: s.sample_rate, Owner(1, 1)) == 16000


# A hang guard, not a speed limit: these jobs must settle at all, which the old engine never did.
SETTLES = 30


async def test_a_queued_job_cancelled_by_its_player_settles_at_once(engine, synth):
    synth.gate = threading.Event()
    running = engine.submit(SpeechRequest("running"), Owner(1, 1))
    await running.started()
    queued = [engine.submit(SpeechRequest(f"queued{i}"), Owner(1, 1)) for i in range(2)]
    for job in queued:
        job.cancel()  # what GuildPlayer.clear does when a player is replaced
    for job in queued:
        with pytest.raises(JobCancelled):
            await asyncio.wait_for(job.result(), SETTLES)
    assert engine.position(queued[1]) == -1
    synth.gate.set()
    await running.result()
    assert synth.served == ["running"]


class WorkerKiller(BaseException):
    """Not an Exception: what used to end the worker thread silently."""


async def test_a_worker_killed_outside_exception_answers_its_job_and_is_replaced(engine, synth):
    synth.gate = threading.Event()
    first = engine.submit(SpeechRequest("first"), Owner(1, 1))
    await first.started()

    def die(_synth):
        raise WorkerKiller

    doomed = asyncio.ensure_future(engine.call(die, Owner(1, 2)))
    after = engine.submit(SpeechRequest("queued behind it"), Owner(2, 3))
    synth.gate.set()
    with pytest.raises(EngineFailed):
        await asyncio.wait_for(doomed, SETTLES)
    await asyncio.wait_for(first.result(), SETTLES)
    await asyncio.wait_for(after.result(), SETTLES)  # the queue was kept
    later = engine.submit(SpeechRequest("submitted later"), Owner(1, 1))
    await asyncio.wait_for(later.result(), SETTLES)
    assert synth.served == ["first", "queued behind it", "submitted later"]


async def test_a_job_whose_event_loop_closed_does_not_stop_the_worker(engine, synth):
    synth.gate = threading.Event()
    first = engine.submit(SpeechRequest("first"), Owner(1, 1))
    await first.started()

    async def submit_and_leave():
        engine.submit(SpeechRequest("orphan"), Owner(2, 2))

    # Another event loop (a tool, a test) submits and closes before the worker reaches its job.
    await asyncio.to_thread(asyncio.run, submit_and_leave())
    synth.gate.set()
    later = engine.submit(SpeechRequest("later"), Owner(3, 3))
    await asyncio.wait_for(later.result(), SETTLES)
    assert synth.served == ["first", "orphan", "later"]


async def test_each_direct_message_user_has_a_lane_of_their_own(engine, synth):
    synth.gate = threading.Event()
    first = engine.submit(SpeechRequest("dm0"), Owner(None, 1))
    await first.started()
    backlog = [engine.submit(SpeechRequest(f"dm{i}"), Owner(None, 1)) for i in range(1, 21)]  # 20: a full lane
    other = engine.submit(SpeechRequest("another user's dm"), Owner(None, 2))  # used to be refused
    position = engine.position(other)
    synth.gate.set()
    await asyncio.gather(first.result(), other.result(), *(j.result() for j in backlog))
    assert position == 1
    assert synth.served[:3] == ["dm0", "another user's dm", "dm1"]


async def test_a_finished_job_holds_its_audio_once(engine, synth):
    job = engine.submit(SpeechRequest("x"), Owner(1, 1))
    clip = await job.result()
    chunks, ended = job.audio.reader().take()
    assert ended and sum(len(c) for c in chunks) == len(clip.samples) == 5 * 320
    assert all(np.shares_memory(c, clip.samples) for c in chunks)  # views of the clip, not copies


async def test_remembered_lanes_stay_bounded_with_many_direct_message_users(synth):
    engine = SpeechEngine(synth, per_guild=20, per_user=20)
    engine._queue.REMEMBERED_LANES = 50
    try:
        jobs = [engine.submit(SpeechRequest(f"u{i}"), Owner(None, i)) for i in range(200)]
        await asyncio.gather(*(j.result() for j in jobs))
        assert len(engine._queue._last_served) <= 50
        assert len(synth.served) == 200
    finally:
        engine.close()


class SpeaksThenDies(ScriptedSynthesizer):
    def stream(self, request, *, should_stop=lambda: False, report=None, affinity=None):
        yield from super().stream(request, should_stop=should_stop, report=report)
        raise WorkerKiller


async def test_a_speech_job_lost_with_its_worker_still_releases_its_player():
    engine = SpeechEngine(SpeaksThenDies(steps=2))
    try:
        job = engine.submit(SpeechRequest("half"), Owner(1, 1))
        with pytest.raises(EngineFailed):
            await asyncio.wait_for(job.result(), SETTLES)
        await asyncio.wait_for(job.playable(), SETTLES)  # a player waiting to start is not stuck
        chunks, ended = job.audio.reader().take()
        assert ended and len(chunks) == 2
    finally:
        engine.close()
