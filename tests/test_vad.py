"""Trimming reference clips to their speech with Silero VAD (the real ONNX model from the silero-vad package)."""
from __future__ import annotations

import numpy as np
import pytest

from bot.audio.vad import FRAME, VAD_RATE, NoSpeech, parts_from_probabilities, speech_parts, trim_to_speech
from tests.speechlike import noise, silence, utterance

FRAME_S = FRAME / VAD_RATE


@pytest.mark.parametrize("rate", [16_000, 44_100])
def test_silence_and_noise_at_the_edges_are_cut(rate: int) -> None:
    speech = utterance("aiueoaoiueaoiaue", rate)  # 3.3 s
    lead = 1.5
    clip = np.concatenate([silence(1.0, rate), noise(0.5, rate), speech, noise(1.0, rate)])
    trimmed = trim_to_speech(clip, rate)
    speech_s = len(speech) / rate
    # Measured: kept 1.44–5.16 s of 5.84 s (speech 1.5–4.84 s; Silero stays sure ~0.2 s past the end; 0.1 s padding).
    assert lead - 0.2 <= trimmed.start_s <= lead
    assert speech_s <= trimmed.seconds <= speech_s + 0.6
    assert trimmed.original_seconds == pytest.approx(len(clip) / rate)
    assert trimmed.sample_rate == rate
    assert trimmed.samples[0] == 0.0 and trimmed.samples[-1] == 0.0  # faded in and out


def test_inner_pauses_are_kept() -> None:
    speech = utterance("aiueoaoiueaoiaue")
    clip = np.concatenate([silence(0.5), speech, silence(0.8), speech, silence(0.5)])
    parts = speech_parts(clip, VAD_RATE)
    assert len(parts) == 2
    trimmed = trim_to_speech(clip, VAD_RATE)
    assert trimmed.seconds >= 2 * len(speech) / VAD_RATE + 0.6


def test_a_clip_of_noise_is_refused() -> None:
    clip = np.concatenate([silence(1.0), noise(3.0, level=0.05)])
    with pytest.raises(NoSpeech, match="could not hear anyone speaking"):
        trim_to_speech(clip, VAD_RATE)


def _probabilities(*spans: tuple[float, float, float]) -> np.ndarray:
    """Frame probabilities: 0 except `value` from start to end seconds."""
    out = np.zeros(int(10 / FRAME_S), dtype=np.float32)
    for start, end, value in spans:
        out[int(start / FRAME_S):int(end / FRAME_S)] = value
    return out


def test_a_short_blip_alone_at_an_edge_is_dropped() -> None:
    parts = parts_from_probabilities(_probabilities((0.5, 0.7, 0.9), (2.0, 5.0, 0.9), (8.0, 8.2, 0.9)), FRAME_S)
    assert len(parts) == 1
    assert parts[0][0] == pytest.approx(2.0, abs=FRAME_S) and parts[0][1] == pytest.approx(5.0, abs=FRAME_S)


def test_a_long_part_at_an_edge_is_speech() -> None:
    parts = parts_from_probabilities(_probabilities((0.5, 1.5, 0.9), (2.0, 5.0, 0.9)), FRAME_S)
    assert len(parts) == 2


def test_close_parts_are_joined_and_a_dip_above_the_silence_level_does_not_end_speech() -> None:
    parts = parts_from_probabilities(_probabilities((1.0, 2.0, 0.9), (2.0, 2.5, 0.4), (2.5, 3.0, 0.9),
                                                    (3.1, 4.0, 0.9)), FRAME_S)
    assert len(parts) == 1
    assert parts[0][0] == pytest.approx(1.0, abs=FRAME_S) and parts[0][1] == pytest.approx(4.0, abs=FRAME_S)


def test_a_lone_short_part_is_not_enough_speech() -> None:
    with pytest.raises(NoSpeech):
        trim_to_speech(np.concatenate([silence(1.0), utterance("a"), silence(1.0)]), VAD_RATE)
