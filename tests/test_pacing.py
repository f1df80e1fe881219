"""The start rule: play a message once the audio in hand lasts until generation has made the rest."""
from __future__ import annotations

import pytest

from bot.speech.pacing import Learned, PieceSchedule, Progress, SpeechPacing, StartGate, can_start


def test_faster_than_real_time_starts_at_the_first_chunk():
    assert can_start(Progress(produced_s=0.5, expected_s=10.0, rate=1.5, chunk_s=0.5))


def test_nothing_made_or_speed_unknown_never_starts_unless_generation_ended():
    assert not can_start(Progress(0.0, 4.0, rate=3.0, chunk_s=0.5))
    assert not can_start(Progress(0.5, 4.0, rate=0.0, chunk_s=0.5))
    assert can_start(Progress(0.5, 0.5, rate=0.0, chunk_s=0.5, ended=True))


@pytest.mark.parametrize("rate", [0.3, 0.6, 0.9])
def test_slower_than_real_time_waits_for_the_share_of_audio_it_cannot_catch_up(rate):
    total, chunk = 10.0, 0.5
    produced = [chunk * k for k in range(1, 21)]
    start = next(p for p in produced if can_start(Progress(p, total, rate, chunk)))
    # Played from `start` on, the audio never runs out: each later chunk arrives (at the real
    # rate) before the audio ahead of it has been played.
    for k in range(1, round((total - start) / chunk) + 1):
        arrives = k * chunk / rate
        assert start + (k - 1) * chunk >= arrives
    # ...and it does not wait much longer than that needs (the safety margin only).
    assert start <= total * (1 - rate * 0.85) + chunk + 0.05 + chunk
    assert start < total


def test_a_slower_machine_waits_longer():
    def start(rate: float) -> float:
        return next(p / 2 for p in range(1, 21) if can_start(Progress(p / 2, 10.0, rate, 0.5)))

    assert start(0.3) > start(0.6) > start(0.9) > start(1.5) == 0.5


def test_learned_values_follow_bad_news_at_once_and_good_news_slowly():
    rate = Learned(safe_is_high=False)
    rate.add(1.0)
    rate.add(0.5)
    assert rate.value == 0.5
    rate.add(1.0)
    assert 0.5 < rate.value < 1.0


def test_expected_length_comes_from_the_text_capped_and_falls_back_to_the_cap_when_overrun():
    pacing = SpeechPacing()
    assert pacing.expected_seconds("あいうえお", cap_s=4.0, produced_s=0.5) == 4.0  # nothing learned yet
    pacing.learn("あいうえお", clip_s=1.0, after_first_audio_s=0.5, after_first_wall_s=1.0)
    assert pacing.expected_seconds("あいうえおかきくけこ", cap_s=4.0, produced_s=0.5) == pytest.approx(2.0)
    assert pacing.expected_seconds("あ" * 100, cap_s=4.0, produced_s=0.5) == 4.0
    assert pacing.expected_seconds("あいうえお", cap_s=4.0, produced_s=1.5) == 4.0  # the text guess was short
    assert pacing.rate.value == 0.5


def test_the_gate_uses_the_learned_speed_at_the_first_chunk_and_its_own_after():
    pacing = SpeechPacing()
    pacing.learn("x", None, after_first_audio_s=3.0, after_first_wall_s=2.0)  # 1.5× on this machine
    fast = StartGate(pacing, "x")
    fast.begin(now=0.0)
    assert fast.add(0.5, now=5.0, cap_s=4.0)  # a long prompt, but the speed is known: go
    assert (fast.opened_after_chunks, fast.opened_at_s) == (1, 0.5)

    def first_chunk_played(job_speed: float) -> int:
        pacing = SpeechPacing()
        pacing.learn("x", None, after_first_audio_s=0.8, after_first_wall_s=1.0)  # 0.8× so far
        gate = StartGate(pacing, "x")
        gate.begin(now=0.0)
        opened = [gate.add(0.5, now=1.0 + k * 0.5 / job_speed, cap_s=4.0) for k in range(8)]
        assert opened.count(True) == 1
        return opened.index(True)

    # This job's own pace refines the learned one: slower than expected waits longer.
    assert 0 < first_chunk_played(0.8) < first_chunk_played(0.4) < 7
    slow = StartGate(SpeechPacing(), "x")
    slow.begin(now=0.0)
    slow.add(0.5, now=0.1, cap_s=4.0)
    assert not slow.end()  # already open


def test_with_nothing_learned_the_first_chunk_counts_its_prompt_time():
    gate = StartGate(SpeechPacing(), "x")
    gate.begin(now=0.0)
    assert not gate.add(0.5, now=1.0, cap_s=4.0)  # 0.5× counting the prompt: too slow to start
    assert gate.end() and gate.opened_after_chunks == 1


def _first_gap_s(start_after: int, pieces: list[float], rate: float, held_s: float) -> float:
    """Silence before the first late piece when playback starts after piece `start_after`:
    piece k arrives once the audio up to its end plus the decoder's lookahead is generated."""
    total = sum(pieces)
    ends = [sum(pieces[: k + 1]) for k in range(len(pieces))]
    arrivals = [min(end + held_s, total) / rate for end in ends]
    start = arrivals[start_after]
    worst = 0.0
    for k in range(start_after + 1, len(pieces)):
        played_out_at = start + ends[k - 1]
        worst = max(worst, arrivals[k] - played_out_at)
    return worst


@pytest.mark.parametrize("rate", [0.8, 1.0, 1.1, 1.2, 1.5])
def test_growing_codec_windows_are_planned_for_near_real_time(rate):
    # The codec's windows grow with the audio already out: the largest piece so far says too little.
    schedule = PieceSchedule(lambda released: max(0.3, 0.25 * released), held_s=0.2)
    pieces, released = [0.3], 0.3
    while released < 20.0:
        pieces.append(min(schedule.next_piece_s(released), 20.0 - released))
        released += pieces[-1]
    produced = [sum(pieces[: k + 1]) for k in range(len(pieces))]
    start_after = next(k for k, p in enumerate(produced)
                       if can_start(Progress(p, 20.0, rate, max(pieces[: k + 1]), pieces=schedule)))
    assert _first_gap_s(start_after, pieces, rate, 0.2) <= 0
    if rate >= 1.5:
        assert start_after == 0
    # Just above real time, planning with the largest piece so far starts too soon and runs dry.
    naive = next(k for k, p in enumerate(produced) if can_start(Progress(p, 20.0, rate, max(pieces[: k + 1]))))
    if 1.0 < rate <= 1.2:
        assert _first_gap_s(naive, pieces, rate, 0.2) > 0


def test_speed_is_learned_per_level_of_concurrency_and_busier_levels_stand_in():
    pacing = SpeechPacing()
    pacing.learn_rate(3.0, 1.0, streams=1)  # alone: 3x
    pacing.learn_rate(0.9, 1.0, streams=4)  # four at once: 0.9x each
    assert pacing.rate_at(1) == 3.0 and pacing.rate_at(4) == 0.9
    assert pacing.rate_at(2) == 0.9  # unmeasured: the nearest busier level (slower, safe)
    assert pacing.rate_at(8) is None  # nothing busier measured: the job measures itself


def test_a_gate_plans_with_the_speed_of_its_own_level():
    pacing = SpeechPacing()
    pacing.learn_rate(3.0, 1.0, streams=1)
    pacing.learn_rate(0.8, 1.0, streams=4)
    alone, crowded = StartGate(pacing, "x"), StartGate(pacing, "x")
    alone.begin(now=0.0)
    crowded.begin(now=0.0)
    assert alone.add(0.5, now=1.0, cap_s=4.0, streams=1)
    assert not crowded.add(0.5, now=1.0, cap_s=4.0, streams=4)  # a single stream's speed would have started it


def test_a_gate_teaches_each_stretch_to_its_level():
    pacing = SpeechPacing()
    gate = StartGate(pacing, "x")
    gate.begin(now=0.0)
    for k, streams in enumerate([1, 1, 1, 2, 2, 2]):
        gate.add(0.5, now=1.0 + 0.25 * k * streams, cap_s=10.0, streams=streams)
    gate.learn(finished=True)
    # Level 1: chunks at 1.0, 1.25, 1.5 -> 1.0 s of audio in 0.5 s. Level 2 from the chunk at 2.5:
    # chunks at 3.0, 3.5 -> 1.0 s in 1.0 s.
    assert pacing.rate_at(1) == 2.0 and pacing.rate_at(2) == 1.0
