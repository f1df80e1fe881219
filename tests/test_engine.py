"""The GPU executor: fair queue, bounds, cancellation."""
from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from bot.speech.capacity import Admission
from bot.speech.engine import EngineBusy, EngineFailed, FairQueue, JobCancelled, Owner, Priority, SpeechEngine, SpeechJob
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


# ---- several lanes (a backend with capacity > 1) ----

@pytest.fixture
async def lanes():
    """An engine over a scripted backend of capacity 2 (set synth.llm.capacity to change it),
    with every lane admitted (the scripted streams are too short to be measured)."""
    synth = ScriptedSynthesizer(capacity=2)
    synth.gate = threading.Event()
    engine = SpeechEngine(synth, per_guild=20, per_user=20, admission=Admission(start=100))
    yield engine, synth
    synth.gate.set()
    engine.close()


def running(engine, jobs):
    return [j for j in jobs if engine.position(j) == 0]


async def test_with_several_lanes_a_third_guild_goes_before_the_flooders_backlog(lanes):
    engine, synth = lanes
    a = [engine.submit(SpeechRequest("A0"), Owner(1, 1))]
    b = [engine.submit(SpeechRequest("B0"), Owner(2, 2))]
    await asyncio.gather(a[0].started(), b[0].started())
    a += [engine.submit(SpeechRequest(f"A{i}"), Owner(1, 1)) for i in range(1, 5)]
    b += [engine.submit(SpeechRequest(f"B{i}"), Owner(2, 2)) for i in range(1, 5)]
    c = engine.submit(SpeechRequest("C0"), Owner(3, 3))
    assert engine.position(c) == 1
    a[0].cancel()  # frees a lane
    await asyncio.wait_for(c.started(), SETTLES)
    assert running(engine, a + b + [c]) == [b[0], c]
    synth.gate.set()
    await asyncio.gather(*(j.result() for j in a[1:] + b + [c]))
    assert sorted(synth.served) == sorted(f"{g}{i}" for g in "AB" for i in range(5)) + ["C0"]


async def test_one_guild_alone_uses_every_lane_unless_capped(lanes):
    engine, synth = lanes
    synth.llm.capacity = 3
    alone = [engine.submit(SpeechRequest(f"A{i}"), Owner(1, 1)) for i in range(4)]
    await asyncio.gather(*(j.started() for j in alone[:3]))
    assert running(engine, alone) == alone[:3] and engine.position(alone[3]) == 1
    capped = SpeechEngine(ScriptedSynthesizer(capacity=3), per_guild_running=2, admission=Admission(start=100))
    capped.synthesizer.gate = threading.Event()
    try:
        jobs = [capped.submit(SpeechRequest(f"B{i}"), Owner(2, 2)) for i in range(3)]
        await asyncio.gather(*(j.started() for j in jobs[:2]))
        other = capped.submit(SpeechRequest("C"), Owner(3, 3))
        await asyncio.wait_for(other.started(), SETTLES)  # the third lane is free for another server
        assert running(capped, jobs + [other]) == [*jobs[:2], other]
        assert capped.position(jobs[2]) == 1
    finally:
        capped.synthesizer.gate.set()
        capped.close()


async def test_with_several_lanes_commands_go_before_background_reading(lanes):
    engine, synth = lanes
    reads = [engine.submit(SpeechRequest(f"read{i}"), Owner(1, 1), Priority.READ_ALOUD) for i in range(4)]
    await asyncio.gather(reads[0].started(), reads[1].started())
    say = engine.submit(SpeechRequest("say"), Owner(1, 2), Priority.COMMAND)
    assert engine.position(say) == 1
    reads[0].cancel()
    await asyncio.wait_for(say.started(), SETTLES)
    assert engine.position(reads[2]) == 1


async def test_with_several_lanes_running_jobs_do_not_count_against_the_user_bound(lanes):
    engine, synth = lanes
    engine.per_user = 2
    jobs = [engine.submit(SpeechRequest(f"u{i}"), Owner(1, 1)) for i in range(2)]
    await asyncio.gather(*(j.started() for j in jobs))
    engine.submit(SpeechRequest("u2"), Owner(1, 1))
    engine.submit(SpeechRequest("u3"), Owner(1, 1))
    with pytest.raises(EngineBusy, match="you already have 2"):
        engine.submit(SpeechRequest("u4"), Owner(1, 1))


async def test_cancel_guild_stops_all_its_running_jobs_and_leaves_the_others(lanes):
    engine, synth = lanes
    synth.llm.capacity = 3
    mine = [engine.submit(SpeechRequest(f"mine{i}"), Owner(1, 1)) for i in range(2)]
    await asyncio.gather(*(j.started() for j in mine))
    theirs = engine.submit(SpeechRequest("theirs"), Owner(2, 2))
    queued = engine.submit(SpeechRequest("mine queued"), Owner(1, 1))
    await theirs.started()
    assert engine.cancel_guild(1) == 3
    for job in (*mine, queued):
        with pytest.raises(JobCancelled):
            await asyncio.wait_for(job.result(), SETTLES)
    assert synth.stopped_at == {"mine0": 0, "mine1": 0}
    assert engine.position(theirs) == 0  # still running, untouched
    synth.gate.set()
    await theirs.result()
    assert "mine queued" not in synth.served


async def test_lanes_follow_the_backend_capacity_down_and_up_without_losing_a_job(lanes):
    engine, synth = lanes
    synth.llm.capacity = 3
    first = [engine.submit(SpeechRequest(f"first{i}"), Owner(i, i)) for i in range(3)]
    await asyncio.gather(*(j.started() for j in first))
    later = [engine.submit(SpeechRequest(f"later{i}"), Owner(i, i)) for i in range(3)]
    synth.llm.capacity = 1  # two endpoints went down while their jobs ran
    synth.gate.set()
    await asyncio.gather(*(j.result() for j in first + later))
    assert [synth.started_beside[f"later{i}"] for i in range(3)] == [1, 1, 1]  # one at a time now
    synth.gate.clear()
    synth.llm.capacity = 0  # every endpoint down: jobs wait
    waiting = [engine.submit(SpeechRequest(f"w{i}"), Owner(i, i)) for i in range(2)]
    assert [engine.position(j) for j in waiting] == [1, 2]
    synth.llm.capacity = 2  # back: both start
    await asyncio.wait_for(asyncio.gather(*(j.started() for j in waiting)), SETTLES)
    assert running(engine, waiting) == waiting


async def test_a_worker_dying_beside_other_lanes_is_replaced_and_nothing_is_lost(lanes):
    engine, synth = lanes
    beside = engine.submit(SpeechRequest("beside"), Owner(1, 1))
    await beside.started()

    def die(_synth):
        raise WorkerKiller

    with pytest.raises(EngineFailed):
        await asyncio.wait_for(engine.call(die, Owner(2, 2)), SETTLES)
    assert engine.position(beside) == 0  # the other lane ran on
    pair = [engine.submit(SpeechRequest(f"after{i}"), Owner(3 + i, 3)) for i in range(2)]
    beside.cancel()
    await asyncio.wait_for(asyncio.gather(*(j.started() for j in pair)), SETTLES)  # two lanes again
    synth.gate.set()
    await asyncio.gather(*(j.result() for j in pair))


async def test_run_exclusive_waits_for_earlier_jobs_and_holds_later_ones(lanes):
    engine, synth = lanes
    before = [engine.submit(SpeechRequest(f"before{i}"), Owner(i, i)) for i in range(3)]
    await asyncio.gather(before[0].started(), before[1].started())
    seen: dict[str, object] = {}

    def swap():
        seen["served"] = list(synth.served)
        seen["active"] = synth.active
        seen["thread"] = threading.current_thread().name
        return "swapped"

    barrier = asyncio.ensure_future(engine.run_exclusive(swap))
    await asyncio.sleep(0)  # the call is registered
    after = [engine.submit(SpeechRequest(f"after{i}"), Owner(i, i)) for i in range(2)]
    assert [engine.position(j) for j in after] == [2, 3]  # behind before2
    synth.gate.set()
    assert await asyncio.wait_for(barrier, SETTLES) == "swapped"
    await asyncio.gather(*(j.result() for j in before + after))
    assert sorted(seen["served"]) == ["before0", "before1", "before2"] and seen["active"] == 0
    assert str(seen["thread"]).startswith("speech-worker")
    assert sorted(synth.served[3:]) == ["after0", "after1"]


async def test_run_exclusive_hands_back_the_error_and_the_engine_keeps_working(lanes):
    engine, synth = lanes
    synth.gate.set()

    def broken():
        raise RuntimeError("the new model would not load")

    engine._observe(1, 3.0)
    with pytest.raises(RuntimeError, match="would not load"):
        await asyncio.wait_for(engine.run_exclusive(broken), SETTLES)
    assert engine.capacity_report().speeds == ()  # the model may have changed: measure it again
    assert await asyncio.wait_for(engine.run_exclusive(lambda: 42), SETTLES) == 42
    job = engine.submit(SpeechRequest("after"), Owner(1, 1))
    await asyncio.wait_for(job.result(), SETTLES)


async def test_a_withdrawn_barrier_does_not_run_nor_hold_later_jobs(lanes):
    engine, synth = lanes
    first = engine.submit(SpeechRequest("first"), Owner(1, 1))
    await first.started()
    ran = []
    barrier = asyncio.ensure_future(engine.run_exclusive(lambda: ran.append(1)))
    await asyncio.sleep(0)
    later = engine.submit(SpeechRequest("later"), Owner(2, 2))
    barrier.cancel()
    await asyncio.wait_for(later.started(), SETTLES)  # the free lane no longer waits for `first`
    synth.gate.set()
    await asyncio.gather(first.result(), later.result())
    assert ran == []


def test_the_forecast_order_on_one_lane_is_priority_then_turns():
    loop = asyncio.new_event_loop()
    try:
        queue = FairQueue()
        jobs = [SpeechJob(SpeechRequest(t), Owner(g, 1), p, loop) for t, g, p in
                [("cmd1a", 1, Priority.COMMAND), ("cmd1b", 1, Priority.COMMAND), ("read2", 2, Priority.READ_ALOUD),
                 ("cmd3", 3, Priority.COMMAND)]]
        for job in jobs:
            queue.push(job)
        assert [j.request.text for j in queue.waiting()] == ["cmd1a", "cmd3", "cmd1b", "read2"]
        # With three lanes a server with nothing running goes first, whatever its priority.
        assert [j.request.text for j in queue.waiting(slots=3)][:3] == ["cmd1a", "cmd3", "read2"]
    finally:
        loop.close()


async def test_admission_holds_lanes_back_until_measured_and_backs_off_when_streams_fall_behind():
    synth = ScriptedSynthesizer(capacity=3)
    synth.gate = threading.Event()
    engine = SpeechEngine(synth, admission=Admission())  # one stream until measured
    try:
        jobs = [engine.submit(SpeechRequest(f"g{i}"), Owner(i, i)) for i in range(4)]
        await jobs[0].started()
        assert [engine.position(j) for j in jobs] == [0, 1, 2, 3]
        engine._observe(1, 4.0)  # one stream alone ran at 4x real time: three fit
        await asyncio.wait_for(asyncio.gather(jobs[1].started(), jobs[2].started()), SETTLES)
        report = engine.capacity_report()
        assert (report.lanes, report.admitted, report.running) == (3, 3, 3)
        engine._observe(3, 0.8)  # three at once fell behind real time: two from now on
        jobs[0].cancel()
        with pytest.raises(JobCancelled):
            await asyncio.wait_for(jobs[0].result(), SETTLES)
        assert engine.position(jobs[3]) == 1  # two still run: no third
        jobs[1].cancel()
        await asyncio.wait_for(jobs[3].started(), SETTLES)
        assert engine.capacity_report().speeds == ((1, 4.0), (3, 0.8))
    finally:
        synth.gate.set()
        engine.close()


async def test_running_streams_feed_speed_samples_at_their_level(synth):
    synth.steps = 120  # 2.4 s of audio in 20 ms steps: measured windows of 1 s
    engine = SpeechEngine(synth)
    try:
        await engine.submit(SpeechRequest("long"), Owner(1, 1)).result()
        assert [n for n, _speed in engine.capacity_report().speeds] == [1]
        assert list(engine.pacing.rates) == [1]
    finally:
        engine.close()


async def test_close_settles_every_job_on_every_lane_and_ends_the_workers(lanes):
    engine, synth = lanes
    synth.llm.capacity = 3
    jobs = [engine.submit(SpeechRequest(f"j{i}"), Owner(i, i)) for i in range(5)]
    await asyncio.gather(*(j.started() for j in jobs[:3]))
    barrier = asyncio.ensure_future(engine.run_exclusive(lambda: "never"))
    await asyncio.sleep(0)
    workers = list(engine._workers)
    await asyncio.to_thread(engine.close)
    for job in jobs:
        with pytest.raises(JobCancelled):
            await asyncio.wait_for(job.result(), SETTLES)
    with pytest.raises(JobCancelled):
        await asyncio.wait_for(barrier, SETTLES)
    assert len(workers) == 3 and not any(t.is_alive() for t in workers)
    assert sorted(synth.stopped_at) == ["j0", "j1", "j2"]
