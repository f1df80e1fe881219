"""Admission by measured capacity: pure rules fed with synthetic speed samples (× real time)."""
from __future__ import annotations

from bot.speech.capacity import Admission, CapacityReport, StreamMeter


def test_one_measured_stream_predicts_how_many_fit_from_its_speed():
    admission = Admission()
    assert admission.limit == 1
    admission.observe(1, 4.0)  # one stream alone at 4x: a batching server keeps 4x in aggregate
    assert admission.limit == 3  # 4.0 / 1.3 streams stay above the target margin
    assert admission.admitted(capacity=2) == 2 and admission.admitted(capacity=0) == 0


def test_backs_off_as_soon_as_streams_fall_behind_and_does_not_predict_past_it():
    admission = Admission()
    admission.observe(1, 4.0)
    admission.observe(3, 0.9)  # three at once fell below real time
    assert admission.limit == 2
    admission.observe(2, 1.5)  # aggregate 3.0 would predict 2; 3 is known too slow
    admission.observe(1, 8.0)  # even a great single-stream figure does not override it
    assert admission.limit == 2
    admission.observe(2, 1.05)  # and below the floor at 2 as well
    assert admission.limit == 1


def test_grows_back_by_probing_one_more_after_comfortable_samples():
    admission = Admission(probe_after=3)
    admission.observe(1, 4.0)
    admission.observe(3, 0.9)
    assert admission.limit == 2
    for _ in range(5):
        admission.observe(2, 2.0)
    assert admission.limit == 2  # not yet: 3 fell behind once, so a probe needs 2 x 3 comfortable samples
    admission.observe(2, 2.0)
    assert admission.limit == 3  # the old bad news at 3 was forgotten: measure it again
    admission.observe(3, 1.4)
    assert admission.limit == 3  # fine at 3 (above the floor), not comfortable enough to probe
    assert dict(admission.speeds())[3] == 1.4


def test_a_level_that_keeps_falling_behind_is_probed_ever_more_rarely():
    admission = Admission(start=2, probe_after=3)
    waits = []
    for _ in range(3):
        comfortable = 0
        while admission.limit == 2:
            admission.observe(2, 1.7)  # comfortable; the aggregate (3.4) alone predicts only 2
            comfortable += 1
        waits.append(comfortable)
        admission.observe(3, 0.9)  # the probe fails: back to 2
        assert admission.limit == 2
    assert waits == [3, 6, 12]


def test_forgetting_starts_over_from_the_first_limit():
    admission = Admission()
    admission.observe(1, 4.0)
    admission.forget()
    assert admission.limit == 1 and admission.speeds() == ()


def test_a_moderate_speed_neither_grows_nor_shrinks():
    admission = Admission(start=2)
    for _ in range(10):
        admission.observe(2, 1.2)  # above the floor (1.1), below the probe speed
    assert admission.limit == 2


def test_a_slow_sample_interrupts_a_run_of_comfortable_ones():
    admission = Admission(start=2, probe_after=3)
    for speed in (1.7, 1.7, 1.3, 1.7, 1.7):  # aggregate 3.4 predicts only 2 (3.4 / 1.3)
        admission.observe(2, speed)
    assert admission.limit == 2
    admission.observe(2, 1.7)
    assert admission.limit == 3


def test_the_meter_takes_windows_at_one_level_and_skips_the_first_chunk_and_level_changes():
    samples: list[tuple[int, float]] = []
    meter = StreamMeter(lambda n, s: samples.append((n, s)), window_s=1.0)
    meter.add(0.3, now=5.0, streams=1)   # first chunk: its time includes the prompt
    meter.add(0.6, now=5.5, streams=1)
    meter.add(0.6, now=6.0, streams=1)   # 1.2 s of audio in 1.0 s
    meter.add(0.5, now=6.5, streams=2)   # another stream started: the window restarts here
    meter.add(0.5, now=7.5, streams=2)
    meter.add(0.5, now=8.5, streams=2)   # 1.0 s of audio in 2.0 s
    assert samples == [(1, 1.2), (2, 0.5)]


def test_the_report_gives_codes_per_second_per_stream():
    report = CapacityReport(lanes=4, admitted=3, running=2, speeds=((1, 4.0), (3, 1.5)))
    assert report.codes_per_second(3) == 75.0
    assert report.codes_per_second(2) is None
