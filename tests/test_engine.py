"""The GPU executor: fair queue, bounds, cancellation."""
from __future__ import annotations

import asyncio
import threading

import pytest

from bot.speech.engine import EngineBusy, JobCancelled, Owner, Priority, SpeechEngine
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
    assert running.chunks.get(timeout=1) is None  # streaming readers see the end


async def test_a_failing_job_does_not_stop_the_worker(engine):
    def boom(_synth):
        raise ValueError("broken clip")

    with pytest.raises(ValueError, match="broken clip"):
        await engine.call(boom, Owner(1, 1))
    assert await engine.call(lambda s: s.sample_rate, Owner(1, 1)) == 16000
