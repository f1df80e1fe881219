"""Audio plumbing: the streaming Discord source, resampling, file formats."""
from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

from bot.audio.formats import AudioFormat, encode_clip, encode_within, read_clip
from bot.audio.source import FRAME_BYTES, SILENCE, PlaybackStats, StreamingSpeechSource
from bot.speech.audio_feed import AudioFeed


def tone(seconds: float, rate: int, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_source_streams_whole_frames_with_silence_on_underrun_and_a_padded_tail():
    feed = AudioFeed()
    source = StreamingSpeechSource(feed.reader(), 44100)
    assert source.read() == SILENCE  # nothing generated yet: silence, not the end
    feed.append(tone(0.5, 44100))
    frames = []
    while (frame := source.read()) != SILENCE:
        frames.append(frame)
    feed.append(tone(0.51, 44100))
    feed.end()
    while frame := source.read():
        frames.append(frame)
    assert all(len(f) == FRAME_BYTES for f in frames)
    pcm = np.frombuffer(b"".join(frames), "<i2").reshape(-1, 2)
    assert np.array_equal(pcm[:, 0], pcm[:, 1])  # stereo copies of mono
    assert abs(len(pcm) / 48000 - 1.01) < 0.03
    spectrum = np.abs(np.fft.rfft(pcm[:, 0].astype(float)))
    assert abs(np.argmax(spectrum) * 48000 / len(pcm) - 440) < 5  # resampled, pitch kept
    # One silent frame before any audio, one break in the middle of the speech.
    stats = source.stats()
    assert (stats.underruns, stats.gap_frames, stats.gaps, stats.longest_gap_frames) == (2, 1, 1, 1)
    assert stats.frames == len(frames)


def test_a_stall_in_the_middle_of_speech_is_counted_and_logged_with_its_length(caplog):
    feed = AudioFeed()
    source = StreamingSpeechSource(feed.reader(), 48000, name="job 7")
    feed.append(np.full(960 * 3, 0.1, np.float32))
    heard = [source.read() for _ in range(3 + 4)]  # 3 frames of speech, then 4 with nothing to play
    feed.append(np.full(960, 0.1, np.float32))
    feed.end()
    while frame := source.read():
        heard.append(frame)
    assert heard[3:7] == [SILENCE] * 4
    assert source.stats() == PlaybackStats(frames=4, underruns=4, gap_frames=4, gaps=1, longest_gap_frames=4)
    assert "job 7: generation stalled, 80 ms of silence inserted after 0.06 s of speech" in caplog.text


def test_two_readers_of_one_feed_each_hear_all_of_it():
    feed = AudioFeed()
    first = feed.reader()
    feed.append(np.ones(3, np.float32))
    second = feed.reader()
    feed.append(np.zeros(2, np.float32))
    feed.end()
    for reader in (first, second):
        chunks, ended = reader.take()
        assert ended and [len(c) for c in chunks] == [3, 2]
        assert reader.take() == ([], True)


def test_skip_ends_the_source_at_the_next_frame():
    feed = AudioFeed()
    feed.append(tone(2.0, 16000))
    source = StreamingSpeechSource(feed.reader(), 16000)
    assert len(source.read()) == FRAME_BYTES
    source.stop()
    assert source.read() == b""


@pytest.mark.parametrize("fmt", list(AudioFormat))
def test_clips_encode_to_readable_files(fmt):
    data = encode_clip(tone(1.0, 44100), 44100, fmt)
    samples, rate = sf.read(io.BytesIO(data))
    assert rate == (48000 if fmt is AudioFormat.OGG else 44100)
    assert abs(len(samples) / rate - 1.0) < 0.05


def test_a_clip_too_big_for_the_limit_falls_back_to_a_smaller_format():
    clip = (np.random.default_rng(0).standard_normal(20 * 44100) * 0.2).astype(np.float32)  # noise: FLAC can't shrink it much
    wav = encode_clip(clip, 44100, AudioFormat.WAV)
    data, fmt = encode_within(clip, 44100, AudioFormat.WAV, limit_bytes=len(wav) // 4)
    assert fmt is AudioFormat.OGG and len(data) <= len(wav) // 4
    assert encode_within(clip, 44100, AudioFormat.WAV, limit_bytes=1000) is None


def test_broken_audio_upload_is_refused_with_a_message():
    with pytest.raises(ValueError, match="not audio"):
        read_clip(b"definitely not a wav file")
