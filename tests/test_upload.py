"""Uploaded clips are judged by their header and decoded only as far as needed."""
from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

from bot.audio.upload import ClipHeader, UploadRejected, check_header, read_upload


def flac(seconds: float, channels: int = 1, rate: int = 16000, tone: bool = False) -> bytes:
    """A FLAC file built in memory; silence compresses to almost nothing however long it is."""
    frames = int(seconds * rate)
    if tone:
        wave = 0.3 * np.sin(2 * np.pi * 220 * np.arange(frames) / rate)
        data = np.repeat(wave[:, None], channels, axis=1).astype(np.float32)
    else:
        data = np.zeros((frames, channels), np.float32)
    buffer = io.BytesIO()
    sf.write(buffer, data, rate, format="FLAC", subtype="PCM_16")
    return buffer.getvalue()


def test_ten_minutes_of_eight_channel_silence_is_refused_from_its_header():
    data = flac(600, channels=8)
    assert len(data) < 1_000_000  # tiny upload, ~300 MB once decoded as float32
    with pytest.raises(UploadRejected, match="8 audio channels"):
        read_upload(data, keep_seconds=30)


def test_a_file_longer_than_ten_minutes_is_refused_even_in_mono():
    with pytest.raises(UploadRejected, match="minutes long"):
        read_upload(flac(660), keep_seconds=30)


def test_only_the_needed_seconds_of_a_long_file_are_decoded():
    samples, rate = read_upload(flac(300, channels=2, tone=True), keep_seconds=12)
    assert rate == 16000 and samples.dtype == np.float32 and samples.ndim == 1
    assert len(samples) == 12 * 16000
    assert 0.2 < float(np.abs(samples).max()) < 0.31  # stereo mixed to mono, not summed


def test_a_short_file_is_read_whole():
    samples, rate = read_upload(flac(6, rate=44100, tone=True), keep_seconds=30)
    assert (len(samples), rate) == (6 * 44100, 44100)


@pytest.mark.parametrize(("header", "message"), [
    (ClipHeader(3, 16000, 16000 * 10, "WAV"), "3 audio channels"),
    (ClipHeader(1, 384000, 384000 * 10, "WAV"), "384000 Hz"),
    (ClipHeader(1, 4000, 4000 * 10, "WAV"), "4000 Hz"),
    (ClipHeader(1, 16000, 16000 // 2, "WAV"), "only 0.5 s"),
    (ClipHeader(1, 16000, 16000 * 3600, "FLAC"), "60 minutes"),
])
def test_implausible_headers_are_refused_with_a_reason(header, message):
    with pytest.raises(UploadRejected, match=message):
        check_header(header)


def test_a_plausible_header_passes():
    check_header(ClipHeader(2, 48000, 48000 * 20, "WAV"))


def test_a_file_that_is_not_audio_is_refused_as_a_value_error():
    with pytest.raises(ValueError, match="not audio"):
        read_upload(b"definitely not a wav file", keep_seconds=30)
