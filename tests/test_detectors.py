"""Failed-take detectors on synthetic code streams and audio: each passes a good take and catches a bad one."""
from __future__ import annotations

import numpy as np
import pytest

from bot.speech.detectors import (
    DurationBounds, Failure, LoopWatch, TakeCheck, Thresholds, count_morae, decode_failure, duration_failure,
    expected_duration, inner_silence, loop_failure, no_end, runaway, speed_factor,
)
from bot.speech.llm import FinishReason

RATE = 16000
rng = np.random.default_rng(7)


def speech(seconds: float, level: float = 0.1) -> np.ndarray:
    """Noise at speech level with syllable-like 4 Hz loudness swings (never silent)."""
    t = np.arange(int(seconds * RATE)) / RATE
    envelope = 0.6 + 0.4 * np.sin(2 * np.pi * 4 * t)
    return (level * envelope * rng.standard_normal(len(t))).astype(np.float32)


def silence(seconds: float, level: float = 1e-4) -> np.ndarray:
    return (level * rng.standard_normal(int(seconds * RATE))).astype(np.float32)


def natural_codes(n: int) -> list[int]:
    return [int(c) for c in rng.integers(0, 65536, n)]


# ------------------------------------------------------------------ no END

def test_a_take_that_said_end_passes_and_one_that_hit_the_cap_fails():
    assert no_end(FinishReason.END) is None
    assert no_end(FinishReason.LENGTH) == Failure("no_end", "the model never finished the sentence before the length cap")


def test_the_requests_own_length_limit_is_not_a_failed_take():
    assert no_end(FinishReason.LENGTH, capped_by_request=True) is None


# ------------------------------------------------------------------ duration

def test_morae_come_from_the_kana_reading():
    assert count_morae("こんにちは") == 5
    assert count_morae("ちょっと") == 3      # ちょ is one mora, っ is one
    assert count_morae("今日は") == 3        # キョーワ
    assert count_morae("ラーメン") == 4      # ー and ン count


def test_text_the_reader_leaves_alone_still_counts():
    assert count_morae("hello") > 0


def test_bounds_follow_normal_japanese_speaking_rates():
    bounds = expected_duration("きょうはとてもいいてんきですね")  # 14 morae, no pauses
    assert bounds.morae == 14
    # Normal speech (6–9 morae/s) takes 1.6–2.3 s: well inside both bounds.
    assert bounds.low_s < 14 / 9 and bounds.high_s > 14 / 6
    assert bounds.low_s == pytest.approx(14 / 14 - 0.3)
    assert bounds.high_s == pytest.approx(14 / 3 + 1.5)


def test_pauses_and_inline_tags_widen_the_upper_bound_but_tags_are_not_read():
    plain = expected_duration("すきだよ")
    tagged = expected_duration("（囁き）すきだよ、ほんとに")
    assert tagged.morae == 4 + 4
    assert tagged.high_s == pytest.approx((8 / 3 + 1.0 + 1.5) + 1.5)
    assert plain.high_s < tagged.high_s


def test_very_short_texts_get_the_floor_and_the_edge_allowance():
    bounds = expected_duration("はい")
    assert bounds.low_s == 0.2 and bounds.high_s == pytest.approx(2 / 3 + 1.5)


def test_a_voice_asked_to_speak_faster_gets_shorter_bounds():
    normal, fast = expected_duration("きょうはとてもいいてんきですね"), expected_duration("きょうはとてもいいてんきですね", 1.5)
    assert fast.high_s < normal.high_s and fast.low_s < normal.low_s


@pytest.mark.parametrize("hint,factor", [("(1.2x)", 1.2), ("0.8倍", 0.8), ("ゆっくり", 0.7), ("速い", 1.3), ("一定", 1.0), ("", 1.0)])
def test_speed_hints_of_captions_become_rate_factors(hint, factor):
    assert speed_factor(hint) == pytest.approx(factor)


def test_a_take_of_plausible_length_passes():
    assert duration_failure(2.0, DurationBounds(15, 0.8, 6.5)) is None


def test_an_instant_end_is_too_short():
    failure = duration_failure(0.1, DurationBounds(15, 0.8, 6.5))
    assert failure is not None and failure.detector == "too_short"


def test_a_take_past_the_upper_bound_is_a_runaway_while_streaming_and_when_done():
    bounds = DurationBounds(15, 0.8, 6.5)
    assert runaway(6.0, bounds) is None
    assert runaway(6.6, bounds) == Failure("too_long", "over 6.5 s for 15 morae")
    assert duration_failure(30.0, bounds).detector == "too_long"


# ------------------------------------------------------------------ silence

def test_speech_with_normal_pauses_passes():
    audio = np.concatenate([silence(0.3), speech(1.0), silence(0.6), speech(1.2), silence(0.4)])
    assert inner_silence(audio, RATE) is None


def test_long_silence_inside_speech_fails():
    audio = np.concatenate([speech(1.0), silence(2.5), speech(1.0)])
    failure = inner_silence(audio, RATE)
    assert failure is not None and failure.detector == "silence"
    assert "2.5 s of silence" in failure.detail and "at 1.0 s" in failure.detail


def test_silence_at_the_edges_is_not_inside_speech():
    audio = np.concatenate([silence(3.0), speech(1.0), silence(3.0)])
    assert inner_silence(audio, RATE) is None


def test_the_gap_is_judged_against_the_takes_own_speech_level():
    quiet = np.concatenate([speech(1.0, level=0.003), silence(2.5, level=1e-6), speech(1.0, level=0.003)])
    assert inner_silence(quiet, RATE).detector == "silence"
    # A breathy pause 20 dB under speech is still sound, not a hang.
    breathy = np.concatenate([speech(1.0), speech(2.5, level=0.01), speech(1.0)])
    assert inner_silence(breathy, RATE) is None


def test_a_silent_take_fails():
    failure = inner_silence(silence(2.0, level=1e-5), RATE)
    assert failure is not None and "silent" in failure.detail


def test_the_gap_length_is_a_threshold():
    audio = np.concatenate([speech(1.0), silence(1.5), speech(1.0)])
    assert inner_silence(audio, RATE) is None
    assert inner_silence(audio, RATE, Thresholds(max_inner_silence_s=1.0)) is not None


# ------------------------------------------------------------------ loops

def test_varied_codes_are_not_a_loop():
    assert loop_failure(natural_codes(3000)) is None


def test_codes_stuck_on_a_few_values_fail_as_the_seed_rule_did():
    stuck = natural_codes(40) + [int(c) for c in rng.integers(0, 12, 100)]
    failure = loop_failure(stuck)
    assert failure is not None and failure.detector == "loop" and "stuck on" in failure.detail


def test_a_long_stretch_said_three_times_is_a_loop_although_its_codes_are_varied():
    phrase = natural_codes(40)  # 0.8 s of codes, 40 distinct values: the seed's rule misses it
    failure = loop_failure(natural_codes(50) + phrase * 3 + phrase[:10])
    assert failure == Failure("loop", "the same 0.80 s of codes repeats")


def test_a_loop_with_a_few_codes_changed_is_still_a_loop():
    phrase = natural_codes(60)
    codes = natural_codes(30) + phrase * 4
    for i in range(40, len(codes), 25):  # 4 % of the codes differ
        codes[i] = int(rng.integers(0, 65536))
    assert loop_failure(codes) is not None


def test_a_stretch_said_twice_is_not_yet_a_loop():
    phrase = natural_codes(80)
    assert loop_failure(natural_codes(20) + phrase * 2 + natural_codes(200)) is None


def test_the_watch_fires_on_the_code_that_completes_the_loop():
    phrase = natural_codes(50)
    watch = LoopWatch()
    results = [watch.push(c) for c in natural_codes(10) + phrase * 4]
    first = next(i for i, r in enumerate(results) if r is not None)
    # Period 50 is judged over 100 codes, 90 % of which must match: most of the third pass.
    assert first == 10 + 50 + 90 - 1
    assert results[first] == Failure("loop", "the same 1.00 s of codes repeats")


# ------------------------------------------------------------------ decoding and the protocol

def test_a_codec_exception_becomes_a_failed_take():
    failure = decode_failure(RuntimeError("CUDA error: device-side assert"))
    assert failure.detector == "decode" and "RuntimeError: CUDA error" in failure.detail


def test_take_checks_are_plain_objects_with_a_check_method():
    class AlwaysFine:
        def check(self, text: str, audio: np.ndarray, sample_rate: int) -> Failure | None:
            return None

    assert isinstance(AlwaysFine(), TakeCheck)
